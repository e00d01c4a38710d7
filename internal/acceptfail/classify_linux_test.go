//go:build linux

package acceptfail_test

import (
	"github.com/edgeloop/edgeloop/internal/acceptfail"
	"golang.org/x/sys/unix"
)

// osTests are the Classify cases only Linux has.
var osTests = []struct {
	err  error
	want acceptfail.Kind
}{
	{unix.ENONET, acceptfail.Retry},
	{unix.ENOSR, acceptfail.Retry},
}
