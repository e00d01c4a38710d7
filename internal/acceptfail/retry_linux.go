//go:build linux

package acceptfail

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// retryOS reports whether errno is a Retry error that only this OS defines:
// ENONET, a pending network error `man 2 accept` lists with the others.
func retryOS(errno syscall.Errno) bool { return errno == unix.ENONET }
