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
	for _, c := range l.conns {
		if c == nil || c.kind != kindStream || c.flags&(fClosed|fConnecting|fLinger) != 0 {
			continue
		}
		if l.tick-c.active > limit {
			l.closeConn(c, ErrIdleTimeout)
		}
	}
}
