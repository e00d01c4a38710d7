package main

import (
	"fmt"
	"io"

	"github.com/edgeloop/edgeloop/reactor"
)

// backends prints the backends available on this OS, one per line.
func backends(stdout io.Writer) int {
	for _, b := range reactor.Backends() {
		fmt.Fprintln(stdout, b)
	}
	return 0
}
