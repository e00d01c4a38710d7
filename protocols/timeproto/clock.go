package timeproto

import "time"

// Clock returns the current time; handlers take one so that tests inject a
// fixed time. time.Now is a Clock.
type Clock func() time.Time
