package reactor

import (
	"testing"
	"time"
)

// TestTimerFiringAllocatesNothing: firing a periodic timer, and re-arming
// it, allocates nothing; only arming a new timer does.
func TestTimerFiringAllocatesNothing(t *testing.T) {
	l := &eventLoop{start: time.Now()}
	n := 0
	for i := 0; i < 100; i++ {
		l.arm(time.Duration(i)*time.Microsecond, time.Millisecond, func() { n++ })
	}
	allocs := testing.AllocsPerRun(100, func() {
		l.now += time.Millisecond
		l.runTimers()
	})
	if allocs != 0 {
		t.Errorf("%.1f allocations per turn firing 100 timers, want 0", allocs)
	}
	if n < 100*100 {
		t.Errorf("%d timer runs in 101 turns of 100 due timers, want >= 10000", n)
	}
}

// TestTimerHeapOrder: the heap pops in deadline order whatever the arming
// order, and a stopped timer is dropped when it comes due.
func TestTimerHeapOrder(t *testing.T) {
	l := &eventLoop{start: time.Now()}
	var got []time.Duration
	for _, d := range []time.Duration{50, 10, 40, 20, 30, 60, 5} {
		l.arm(d*time.Millisecond, 0, func() { got = append(got, d) })
	}
	stopped := l.arm(35*time.Millisecond, 0, func() { got = append(got, 35) })
	stopped.Stop()
	l.now = time.Second
	l.runTimers()
	want := []time.Duration{5, 10, 20, 30, 40, 50, 60}
	if len(got) != len(want) {
		t.Fatalf("fired %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("fired %v, want %v", got, want)
		}
	}
	if len(l.timers) != 0 {
		t.Errorf("%d timers left in the heap", len(l.timers))
	}
}
