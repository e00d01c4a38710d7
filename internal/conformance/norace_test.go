//go:build !race

package conformance

import "time"

// Scale without the race detector.
const (
	manyConns    = 1000                  // TestEchoManyConns
	reuseCycles  = 200                   // TestCloseAndReuse
	pingRounds   = 300                   // TestFairness
	pingP99Bound = 50 * time.Millisecond // TestFairness: epoll p99 is 2-10 ms here
)
