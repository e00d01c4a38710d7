package memreturn

import (
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
	"time"
)

// DefaultInterval is how often the timer looks: memory comes back within
// about this long after the peers holding it leave.
const DefaultInterval = time.Second

// MinReturn is the least memory worth a return: below it, the collection
// that FreeOSMemory runs costs more than the pages are worth.
const MinReturn = 1 << 20

// released counts the bytes handlers reported as dropped since the last
// return: garbage that no collection has found yet.
var released atomic.Int64

// Released tells the timer Start runs that a buffer of n bytes just became garbage,
// so that it collects and returns it soon rather than when allocation next
// paces a collection. Call it when dropping a buffer of tens of KiB or more
// (an atomic add); without Start it only counts.
func Released(n int) {
	if n > 0 {
		released.Add(int64(n))
	}
}

// sample is what one tick reads from runtime/metrics, in bytes.
type sample struct {
	free     uint64 // heap pages free but still resident
	objects  uint64 // heap objects, dead ones not yet collected included
	goal     uint64 // the heap size at which the next collection starts
	total    uint64 // all memory the runtime mapped
	released uint64 // heap pages already returned to the OS
}

// names are the metrics a sample reads, in the order of its fields.
var names = [...]string{
	"/memory/classes/heap/free:bytes",
	"/memory/classes/heap/objects:bytes",
	"/gc/heap/goal:bytes",
	"/memory/classes/total:bytes",
	"/memory/classes/heap/released:bytes",
}

// returnable is how much a return would give back: the garbage handlers
// reported, and the free pages the heap will not grow into before its next
// collection (those below the goal it would only fault in again).
func (s sample) returnable(garbage uint64) uint64 {
	room := uint64(0)
	if s.goal > s.objects {
		room = s.goal - s.objects
	}
	spare := uint64(0)
	if s.free > room {
		spare = s.free - room
	}
	return garbage + spare
}

// worthReturning reports whether returning r bytes is worth a collection:
// at least MinReturn, and at least a sixteenth of what the process holds
// from the OS. The sixteenth keeps resident memory within about 6% of what
// is in use (issue 10 asks for 10% of the baseline once peers leave), and
// bounds the cost: a collection, at most once a tick, only after that much
// has been dropped.
func (s sample) worthReturning(r uint64) bool {
	held := s.total - min(s.released, s.total)
	return r >= MinReturn && r >= held/16
}

// returner is the timer that returns memory.
type returner struct {
	stop    chan struct{}
	done    chan struct{}
	ticks   atomic.Int64 // looks taken
	returns atomic.Int64 // calls to debug.FreeOSMemory made
}

// Start starts the timer that returns memory, looking every interval
// (DefaultInterval if interval <= 0), and returns the function that stops
// it and waits until it has stopped. A process needs one.
func Start(interval time.Duration) (stop func()) {
	return start(interval).close
}

func start(interval time.Duration) *returner {
	if interval <= 0 {
		interval = DefaultInterval
	}
	r := &returner{stop: make(chan struct{}), done: make(chan struct{})}
	go r.run(interval)
	return r
}

func (r *returner) close() {
	close(r.stop)
	<-r.done
}

func (r *returner) run(interval time.Duration) {
	defer close(r.done)
	samples := make([]metrics.Sample, len(names))
	for i, n := range names {
		samples[i].Name = n
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-tick.C:
		}
		r.ticks.Add(1)
		metrics.Read(samples)
		s := sample{
			free:     samples[0].Value.Uint64(),
			objects:  samples[1].Value.Uint64(),
			goal:     samples[2].Value.Uint64(),
			total:    samples[3].Value.Uint64(),
			released: samples[4].Value.Uint64(),
		}
		garbage := uint64(max(released.Load(), 0))
		if !s.worthReturning(s.returnable(garbage)) {
			continue
		}
		// What was reported up to now is collected by this return; what
		// is reported while it runs waits for the next.
		released.Add(-int64(garbage))
		debug.FreeOSMemory()
		r.returns.Add(1)
	}
}
