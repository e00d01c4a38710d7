//go:build !race

package conformance

import "time"

// shutdownManyBound is how long Shutdown of a thousand idle connections
// may take (TestShutdownManyIdleConns). Closing them takes 10-80 ms here;
// the bound leaves room for a shared machine and is still below a polling
// interval such as gnet's 500 ms.
const shutdownManyBound = 400 * time.Millisecond
