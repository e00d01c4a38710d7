//go:build linux || freebsd || netbsd || openbsd || dragonfly

package fdpass

import "golang.org/x/sys/unix"

// recvFlags makes the kernel set close-on-exec on each received
// descriptor as it installs it, so that none can leak into a child that
// another goroutine starts meanwhile.
const recvFlags = unix.MSG_CMSG_CLOEXEC

// cloexecAfter is false: recvmsg has set it already.
const cloexecAfter = false
