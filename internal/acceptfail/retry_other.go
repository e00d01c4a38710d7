//go:build !linux

package acceptfail

import "syscall"

// retryOS reports whether errno is a Retry error that only this OS defines:
// none here (ENONET is Linux's).
func retryOS(syscall.Errno) bool { return false }
