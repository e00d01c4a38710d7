//go:build race

package conformance

import "time"

// Scale under the race detector, which makes the client and the server
// several times slower on the same two cores.
const (
	manyConns    = 250                    // TestEchoManyConns
	reuseCycles  = 100                    // TestCloseAndReuse
	pingRounds   = 200                    // TestFairness
	pingP99Bound = 100 * time.Millisecond // TestFairness: epoll p99 is 15-25 ms here
)
