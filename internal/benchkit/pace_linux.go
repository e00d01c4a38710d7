//go:build linux

package benchkit

import (
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// tickSleeper sleeps one pacer tick at a time in nanosleep, on a thread of
// its own. Go's timers cannot pace at paceTick: while the runtime waits in
// its netpoller they fire about once a millisecond at best.
type tickSleeper struct{ ts unix.Timespec }

// newTickSleeper locks the calling goroutine to its thread for good, so the
// thread dies with the goroutine and takes its timer slack with it.
func newTickSleeper(d time.Duration) *tickSleeper {
	runtime.LockOSThread()
	// The slack is per thread; the default 50 µs would stretch a 100 µs tick by half.
	unix.Prctl(unix.PR_SET_TIMERSLACK, 1000, 0, 0, 0)
	return &tickSleeper{ts: unix.NsecToTimespec(int64(d))}
}

// sleep sleeps one tick. A signal (the runtime's preemption) may cut it
// short; the pacer works from the clock, so that only makes a tick early.
func (s *tickSleeper) sleep() { unix.Nanosleep(&s.ts, nil) }
