//go:build race

package conformance

import "time"

// shutdownManyBound under the race detector, which makes the net
// backend's thousand goroutines several times slower to end (up to 260 ms
// here).
const shutdownManyBound = time.Second
