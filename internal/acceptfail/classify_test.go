package acceptfail_test

import (
	"errors"
	"fmt"
	"net"
	"os"
	"testing"

	"github.com/edgeloop/edgeloop/internal/acceptfail"
	"golang.org/x/sys/unix"
)

// TestClassify: each accept error of `man 2 accept` gets its kind, bare (as
// the native loop sees it) and wrapped as package net returns it.
func TestClassify(t *testing.T) {
	tests := []struct {
		err  error
		want acceptfail.Kind
	}{
		{unix.ECONNABORTED, acceptfail.Retry},
		{unix.EINTR, acceptfail.Retry},
		{unix.EPERM, acceptfail.Retry},
		{unix.ENETDOWN, acceptfail.Retry},
		{unix.EPROTO, acceptfail.Retry},
		{unix.ENOPROTOOPT, acceptfail.Retry},
		{unix.EHOSTDOWN, acceptfail.Retry},
		{unix.EHOSTUNREACH, acceptfail.Retry},
		{unix.EOPNOTSUPP, acceptfail.Retry},
		{unix.ENETUNREACH, acceptfail.Retry},
		{unix.ETIMEDOUT, acceptfail.Retry},
		{unix.ESOCKTNOSUPPORT, acceptfail.Retry},
		{unix.EPROTONOSUPPORT, acceptfail.Retry},
		{unix.EMFILE, acceptfail.Resources},
		{unix.ENFILE, acceptfail.Resources},
		{unix.ENOBUFS, acceptfail.Resources},
		{unix.ENOMEM, acceptfail.Resources},
		{unix.EBADF, acceptfail.Broken},
		{unix.EINVAL, acceptfail.Broken},
		{unix.ENOTSOCK, acceptfail.Broken},
		{unix.EFAULT, acceptfail.Broken},
		{errors.New("not an errno"), acceptfail.Broken},
	}
	tests = append(tests, osTests...)
	for _, tc := range tests {
		wrapped := &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", tc.err)}
		for _, err := range []error{tc.err, wrapped, fmt.Errorf("listener: %w", wrapped)} {
			t.Run(err.Error(), func(t *testing.T) {
				if got := acceptfail.Classify(err); got != tc.want {
					t.Errorf("Classify(%v) = %v, want %v", err, got, tc.want)
				}
			})
		}
	}
}
