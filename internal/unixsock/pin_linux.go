//go:build linux

package unixsock

import "golang.org/x/sys/unix"

// pin opens path with O_PATH, which works on a socket file (a plain open
// gives ENXIO) and keeps its inode alive; -1 if it cannot.
func pin(path string) int {
	fd, err := unix.Open(path, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1
	}
	return fd
}
