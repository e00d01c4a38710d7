package reactor

import (
	"errors"
	"sync/atomic"
	"time"
)

// Timer is work scheduled on a loop goroutine by AfterFunc or Every. Its
// function runs on that goroutine, between the turn's events and the
// handlers, so it may touch the loop's handlers and call their Conn methods
// without a lock; a change to what a handler wants takes a Wake.
type Timer struct {
	l      *eventLoop
	f      func()
	when   time.Duration // deadline on the loop's clock (since the loop started)
	period time.Duration // Every's interval; 0 for AfterFunc
	index  int           // position in the loop's heap; -1 when not in it
	state  atomic.Uint32 // timerArmed, timerFired or timerStopped
	rt     *time.Timer   // on an Engine: the runtime timer that posts f
}

const (
	timerArmed uint32 = iota
	timerFired
	timerStopped
)

// Stop keeps the timer from firing again. It reports whether it stopped
// one that had yet to fire (for Every: that had not been stopped before).
// It is safe from any goroutine; a function already running is not
// interrupted.
func (t *Timer) Stop() bool {
	if !t.state.CompareAndSwap(timerArmed, timerStopped) {
		return false
	}
	if t.rt != nil {
		t.rt.Stop()
	}
	if t.l != nil {
		// The loop drops it from its heap when it comes due, or sooner
		// if stopped timers come to fill half the heap (compactTimers).
		t.l.timersStopped.Add(1)
	}
	return true
}

// AfterFunc runs f once, d from now, on one of the native loop's
// goroutines, chosen round robin as Post chooses; from a handler, use its
// Conn's Scheduler to stay on its loop. It is safe from any goroutine. On
// an Engine, f runs as that engine's Post runs functions (gnet and net: on
// a goroutine of its own, not serialized with handlers).
func (r *Loop) AfterFunc(d time.Duration, f func()) (*Timer, error) { return r.timer(d, 0, f) }

// Every runs f every d until stopped, as AfterFunc runs it once. d must be
// positive.
func (r *Loop) Every(d time.Duration, f func()) (*Timer, error) {
	if d <= 0 {
		return nil, errors.New("reactor: Every with a non-positive interval")
	}
	return r.timer(d, d, f)
}

func (r *Loop) timer(d, period time.Duration, f func()) (*Timer, error) {
	if g, ok := r.eng.(*group); ok {
		if g.draining.Load() {
			return nil, ErrClosed
		}
		l := g.loops[int(g.next.Add(1)-1)%len(g.loops)]
		return l.armFrom(d, period, f)
	}
	t := &Timer{f: f, period: period, index: -1}
	set := make(chan struct{}) // t.rt is written before the first run reads it
	t.rt = time.AfterFunc(max(d, 0), func() {
		<-set
		if t.state.Load() != timerArmed {
			return
		}
		if t.period == 0 && !t.state.CompareAndSwap(timerArmed, timerFired) {
			return
		}
		r.eng.Post(t.f)
		if t.period > 0 {
			t.rt.Reset(t.period)
		}
	})
	close(set)
	return t, nil
}

// Scheduler arms timers on the loop goroutine of a connection or endpoint:
// the native loop's Conn and PacketConn implement it, so a handler's timers
// run on its own goroutine and are armed without a lock or a wake-up. Other
// backends' Conns do not: use Loop.AfterFunc there.
type Scheduler interface {
	// AfterFunc runs f once, d from now.
	AfterFunc(d time.Duration, f func()) *Timer
	// Every runs f every d, the first time d from now, until stopped. A
	// loop that falls behind skips the missed runs rather than running
	// them back to back, and keeps the phase. d must be positive: Every
	// panics otherwise, as time.NewTicker does.
	Every(d time.Duration, f func()) *Timer
}

// AfterFunc implements Scheduler.
func (c *conn) AfterFunc(d time.Duration, f func()) *Timer { return c.loop.arm(d, 0, f) }

// Every implements Scheduler.
func (c *conn) Every(d time.Duration, f func()) *Timer {
	if d <= 0 {
		panic("reactor: Every with a non-positive interval")
	}
	return c.loop.arm(d, d, f)
}

// timers is a loop's pending timers, a binary min-heap on when. It is
// touched by the loop goroutine only.
type timers []*Timer

func (h timers) less(i, j int) bool { return h[i].when < h[j].when }

func (h timers) swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}

func (h timers) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !h.less(i, p) {
			return
		}
		h.swap(i, p)
		i = p
	}
}

func (h timers) down(i int) {
	for {
		m, l, r := i, 2*i+1, 2*i+2
		if l < len(h) && h.less(l, m) {
			m = l
		}
		if r < len(h) && h.less(r, m) {
			m = r
		}
		if m == i {
			return
		}
		h.swap(i, m)
		i = m
	}
}

// clock is the loop's time: monotonic, since the loop started.
func (l *eventLoop) clock() time.Duration { return time.Since(l.start) }

// arm makes a timer on this loop; it must run on the loop goroutine.
func (l *eventLoop) arm(d, period time.Duration, f func()) *Timer {
	t := &Timer{l: l, f: f, period: period, when: l.clock() + max(d, 0), index: -1}
	l.push(t)
	return t
}

// armFrom arms a timer from any goroutine: the deadline counts from the
// call, and the loop pushes it when it runs the task.
func (l *eventLoop) armFrom(d, period time.Duration, f func()) (*Timer, error) {
	t := &Timer{l: l, f: f, period: period, when: l.clock() + max(d, 0), index: -1}
	if err := l.post(func() { l.push(t) }); err != nil {
		return nil, err
	}
	return t, nil
}

func (l *eventLoop) push(t *Timer) {
	t.index = len(l.timers)
	l.timers = append(l.timers, t)
	l.timers.up(t.index)
}

// pop removes the earliest timer.
func (l *eventLoop) pop() *Timer {
	h := l.timers
	t := h[0]
	last := len(h) - 1
	h.swap(0, last)
	h[last] = nil
	l.timers = h[:last]
	l.timers.down(0)
	t.index = -1
	return t
}

// compactTimers drops stopped timers from the heap once they are half of
// it, so that timers armed and stopped long before their deadline (a
// request timeout, stopped when the reply comes) do not hold memory until
// then. It costs O(heap), paid at most once per as many Stops.
func (l *eventLoop) compactTimers() {
	if stopped := l.timersStopped.Load(); len(l.timers) < 64 || 2*stopped < int64(len(l.timers)) {
		return
	}
	keep := l.timers[:0]
	for _, t := range l.timers {
		if t.state.Load() == timerArmed {
			t.index = len(keep)
			keep = append(keep, t)
		} else {
			t.index = -1
			l.timersStopped.Add(-1)
		}
	}
	clear(l.timers[len(keep):])
	l.timers = keep
	for i := len(keep)/2 - 1; i >= 0; i-- {
		l.timers.down(i)
	}
}

// nextTimer is how long Wait may block for the timers: -1 for no limit.
// It reads the clock afresh: the turn's time is as old as the turn's work.
func (l *eventLoop) nextTimer() time.Duration {
	if len(l.timers) == 0 {
		return -1
	}
	return max(l.timers[0].when-l.clock(), 0)
}

// runTimers fires the timers due at the turn's time, l.now. A periodic
// timer goes back in the heap (no allocation); a stopped one is dropped
// here, when it comes due.
func (l *eventLoop) runTimers() {
	for len(l.timers) > 0 && l.timers[0].when <= l.now {
		t := l.timers[0]
		if t.state.Load() != timerArmed {
			l.pop()
			l.timersStopped.Add(-1)
			continue
		}
		if t.period == 0 {
			l.pop()
			if !t.state.CompareAndSwap(timerArmed, timerFired) {
				l.timersStopped.Add(-1)
				continue // stopped meanwhile
			}
		} else {
			t.when += t.period
			if t.when <= l.now {
				// Fell behind: skip the missed runs, do not burst, and
				// keep the phase.
				t.when += ((l.now-t.when)/t.period + 1) * t.period
			}
			l.timers.down(0)
		}
		l.depth++
		t.f()
		l.depth--
		l.reportClosed()
	}
}
