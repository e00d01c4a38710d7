//go:build darwin

package stdnet

import "golang.org/x/sys/unix"

// unsent returns how many bytes the kernel still holds in fd's send queue
// (SO_NWRITE), or 0 if it cannot tell.
func unsent(fd int) int {
	n, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_NWRITE)
	if err != nil {
		return 0
	}
	return n
}
