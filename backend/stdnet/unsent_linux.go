//go:build linux

package stdnet

import "golang.org/x/sys/unix"

// unsent returns how many bytes the kernel still holds in fd's send queue,
// sent or not but not yet acknowledged (SIOCOUTQ), or 0 if it cannot tell.
func unsent(fd int) int {
	n, err := unix.IoctlGetInt(fd, unix.SIOCOUTQ)
	if err != nil {
		return 0
	}
	return n
}
