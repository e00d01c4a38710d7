//go:build darwin

package fdpass

// recvFlags is 0: macOS has no MSG_CMSG_CLOEXEC, so Recv sets
// close-on-exec on each descriptor after recvmsg returns.
const recvFlags = 0

// cloexecAfter: a child forked by another goroutine between recvmsg and
// that fcntl inherits the descriptor (the window Go's own syscall.ForkLock
// would close, were every receiver to take it).
const cloexecAfter = true
