//go:build darwin || freebsd || dragonfly

package reactor

import "golang.org/x/sys/unix"

// setNoSigpipe makes writes to a reset peer fail with EPIPE, not SIGPIPE.
func setNoSigpipe(fd int) { unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_NOSIGPIPE, 1) }
