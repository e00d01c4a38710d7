//go:build !linux

package acceptfail

import "syscall"

// retryOS reports whether errno is a Retry error that not every OS defines:
// none here (ENONET and ENOSR are Linux's accept errors).
func retryOS(syscall.Errno) bool { return false }
