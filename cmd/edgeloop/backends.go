package main

import (
	"fmt"
	"io"

	"github.com/edgeloop/edgeloop/backend"
)

// backends prints the backends available on this OS, one per line.
func backends(stdout io.Writer) int {
	for _, b := range backend.Names() {
		fmt.Fprintln(stdout, b)
	}
	return 0
}
