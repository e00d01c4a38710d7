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

// TestStoppedTimersAreCompacted: timers stopped long before their deadline
// leave the heap once they are half of it, and the rest still fire in
// order.
func TestStoppedTimersAreCompacted(t *testing.T) {
	l := &eventLoop{start: time.Now()}
	var fired []time.Duration
	var all []*Timer
	for i := 1000; i > 0; i-- {
		d := time.Duration(i) * time.Second
		all = append(all, l.arm(d, 0, func() { fired = append(fired, d) }))
	}
	for i, tm := range all {
		if i%10 < 6 {
			tm.Stop()
		}
	}
	l.compactTimers()
	if len(l.timers) != 400 {
		t.Fatalf("%d timers in the heap after stopping 600 of 1000, want 400", len(l.timers))
	}
	if got := l.timersStopped.Load(); got != 0 {
		t.Errorf("stopped count %d after compaction, want 0", got)
	}
	l.now = time.Hour
	l.runTimers()
	if len(fired) != 400 {
		t.Fatalf("%d fired, want 400", len(fired))
	}
	for i := 1; i < len(fired); i++ {
		if fired[i] < fired[i-1] {
			t.Fatalf("fired out of order after compaction: %v before %v", fired[i-1], fired[i])
		}
	}
}

// TestEveryKeepsPhase: a periodic timer whose loop fell behind skips the
// missed runs and stays on its grid.
func TestEveryKeepsPhase(t *testing.T) {
	l := &eventLoop{start: time.Now()}
	n := 0
	tm := l.arm(10*time.Millisecond, 10*time.Millisecond, func() { n++ })
	base := tm.when
	l.now = base + 35*time.Millisecond // three and a half periods late
	l.runTimers()
	if n != 1 {
		t.Errorf("ran %d times for one late turn, want 1 (no burst)", n)
	}
	if want := base + 40*time.Millisecond; tm.when != want {
		t.Errorf("next run at %v, want %v (the grid)", tm.when-base, want-base)
	}
}

// TestEveryRefusesNonPositive: a zero period would spin the loop.
func TestEveryRefusesNonPositive(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("Every(0) on a Conn did not panic")
		}
	}()
	c := &conn{loop: &eventLoop{start: time.Now()}}
	c.Every(0, func() {})
}
