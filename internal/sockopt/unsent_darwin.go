//go:build darwin

package sockopt

import "golang.org/x/sys/unix"

// Unsent returns how many bytes the kernel still holds in fd's send queue
// (SO_NWRITE), or 0 if it cannot tell.
func Unsent(fd int) int {
	n, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_NWRITE)
	if err != nil {
		return 0
	}
	return n
}
