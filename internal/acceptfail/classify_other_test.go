//go:build !linux

package acceptfail_test

import "github.com/edgeloop/edgeloop/internal/acceptfail"

// osTests are the Classify cases only this OS has: none.
var osTests []struct {
	err  error
	want acceptfail.Kind
}
