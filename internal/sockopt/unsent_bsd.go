//go:build freebsd || netbsd || openbsd || dragonfly

package sockopt

import "golang.org/x/sys/unix"

// fionwrite is FIONWRITE, _IOR('f', 119, int), on FreeBSD and DragonFly;
// x/sys does not define it.
const fionwrite = 0x40046677

// Unsent returns how many bytes the kernel still holds in fd's send queue
// (FIONWRITE), or 0 if it cannot tell: OpenBSD and NetBSD have no such
// call for sockets, so there Shutdown cannot wait for the kernel's queue.
func Unsent(fd int) int {
	n, err := unix.IoctlGetInt(fd, fionwrite)
	if err != nil {
		return 0
	}
	return n
}
