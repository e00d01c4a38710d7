//go:build !linux

package benchkit

import "time"

// tickSleeper sleeps one pacer tick at a time with Go's timers, which may
// make ticks coarser than asked: bursts grow, the rate stays.
type tickSleeper struct{ d time.Duration }

func newTickSleeper(d time.Duration) *tickSleeper { return &tickSleeper{d: d} }

func (s *tickSleeper) sleep() { time.Sleep(s.d) }
