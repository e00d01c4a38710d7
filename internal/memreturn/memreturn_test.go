package memreturn

import (
	"runtime"
	"runtime/metrics"
	"testing"
	"time"
)

// TestWorthReturning: a return is worth a collection only from MinReturn
// and a sixteenth of what the process holds; free pages the heap will grow
// into before its next collection do not count.
func TestWorthReturning(t *testing.T) {
	const mib = 1 << 20
	for _, tc := range []struct {
		name    string
		s       sample
		garbage uint64
		want    bool
	}{
		{"idle, nothing to return", sample{free: 0, objects: 2 * mib, goal: 4 * mib, total: 10 * mib}, 0, false},
		{"free pages below the goal", sample{free: 2 * mib, objects: 2 * mib, goal: 4 * mib, total: 10 * mib}, 0, false},
		{"free pages past the goal", sample{free: 30 * mib, objects: 2 * mib, goal: 4 * mib, total: 40 * mib}, 0, true},
		{"garbage reported by handlers", sample{free: 0, objects: 20 * mib, goal: 40 * mib, total: 30 * mib}, 16 * mib, true},
		{"under MinReturn", sample{free: 0, objects: 1 * mib, goal: 4 * mib, total: 8 * mib}, mib - 1, false},
		{"under a sixteenth of what is held", sample{free: 0, objects: 100 * mib, goal: 200 * mib, total: 200 * mib}, 10 * mib, false},
		{"released pages are not held", sample{free: 0, objects: 10 * mib, goal: 20 * mib, total: 200 * mib, released: 180 * mib}, 2 * mib, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.s.worthReturning(tc.s.returnable(tc.garbage)); got != tc.want {
				t.Errorf("worthReturning(returnable(%d)) with %+v = %v, want %v", tc.garbage, tc.s, got, tc.want)
			}
		})
	}
}

// sink keeps the test's buffers reachable until it drops them.
var sink [][]byte

// TestDroppedBuffersReturned: buffers dropped and reported with Released
// are collected and their pages returned by the timer, with no allocation
// to pace a collection; and with nothing reported, the timer does nothing.
func TestDroppedBuffersReturned(t *testing.T) {
	released.Store(0)
	runtime.GC()
	r := start(10 * time.Millisecond)
	defer r.close()
	waitFor(t, "ten ticks of a quiet process", func() bool { return r.ticks.Load() >= 10 })
	if n := r.returns.Load(); n != 0 {
		t.Fatalf("%d returns in %d ticks with nothing dropped", n, r.ticks.Load())
	}

	for range 32 {
		b := make([]byte, 1<<20)
		for i := range b {
			b[i] = 1 // make the pages resident
		}
		sink = append(sink, b)
	}
	before := heapReleased()
	for _, b := range sink {
		Released(cap(b))
	}
	sink = nil
	waitFor(t, "the 32 MiB dropped to be returned", func() bool {
		return r.returns.Load() > 0 && heapReleased() >= before+16<<20
	})
	t.Logf("%d return(s) in %d ticks; released heap %d -> %d bytes", r.returns.Load(), r.ticks.Load(), before, heapReleased())
}

// waitFor polls cond for up to 10 s, and fails the test if it stays false.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("waited 10 s for %s", what)
		}
		time.Sleep(time.Millisecond) // polling, with a deadline
	}
}

func heapReleased() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/released:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}
