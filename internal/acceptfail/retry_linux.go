//go:build linux

package acceptfail

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// retryOS reports whether errno is a Retry error that not every OS defines:
// ENONET, a pending network error `man 2 accept` lists with the others, and
// ENOSR, which the man page says various Linux kernels return (FreeBSD and
// OpenBSD have no ENOSR; the BSDs' accept does not return it).
func retryOS(errno syscall.Errno) bool { return errno == unix.ENONET || errno == unix.ENOSR }
