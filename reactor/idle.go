package reactor

import (
	"errors"
	"time"
)

// ErrIdleTimeout is passed to HandleClose for a connection that moved no
// byte for longer than WithIdleTimeout.
var ErrIdleTimeout = errors.New("reactor: idle timeout")

// idleSweep closes connections that have been idle too long. There is no
// timer per connection: each connection carries the loop's tick of its last
// read or write (conn.active), and one periodic timer walks the table every
// timeout/8, so idle connections cost nothing per turn and a connection
// closes between 1 and 1.125 timeouts after its last byte.
type idleSweep struct {
	timeout time.Duration
	timer   *Timer
}

// startIdleSweep arms the sweep, on the loop goroutine.
func (l *eventLoop) startIdleSweep(timeout time.Duration) {
	if timeout <= 0 {
		return
	}
	l.idle.timeout = timeout
	l.idle.timer = l.arm(max(timeout/8, time.Millisecond), max(timeout/8, time.Millisecond), l.sweepIdle)
}

// sweepIdle closes the stream connections whose last byte moved more than
// the timeout ago. Ticks are milliseconds in a uint32, so the difference is
// right across the wrap for timeouts under 24 days.
func (l *eventLoop) sweepIdle() {
	limit := uint32(l.idle.timeout / time.Millisecond)
	for c := range l.owned {
		if c.kind != kindStream || c.flags&(fClosed|fConnecting|fLinger|fQueued) != 0 {
			// A queued connection has an event or unfinished work that
			// this turn serves after its timers: if the loop was held up
			// longer than the timeout (a long handler call, a collection),
			// its stamp is old only because the loop has not read yet.
			continue
		}
		if l.tick-c.active > limit {
			l.closeConn(c, ErrIdleTimeout)
		}
	}
}

// restamp corrects the stamps of a turn that ran long. A byte moved during
// a turn is stamped with the tick the turn began at, read once; when a
// handler call holds the loop (a large allocation and its collection, a
// slow machine), that tick is older than the byte by as much, and a turn
// longer than the timeout would make the next sweep close a connection
// that moved bytes moments ago. So with an idle timeout the loop reads the
// clock once more after serving its ready list, and if the turn took at
// least a sweep interval, stamps the connections it served that moved
// bytes with the new tick. Without an idle timeout it costs nothing.
func (l *eventLoop) restamp(served []*conn) {
	if l.idle.timeout <= 0 {
		return
	}
	now := uint32(l.clock() / time.Millisecond)
	if now-l.tick < uint32(max(l.idle.timeout/8, time.Millisecond)/time.Millisecond) {
		return
	}
	for _, c := range served {
		if c.active == l.tick {
			c.active = now
		}
	}
}
