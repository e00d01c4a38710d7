package reactor

import (
	"errors"
	"net/netip"

	"github.com/edgeloop/edgeloop/poller"
	"golang.org/x/sys/unix"
)

// handoff is a connection accepted by one loop for another, with the
// Factory of its listener: two words in the target's inbox, and no closure.
// Nothing in it is TCP's, so that any stream listener (Unix sockets too)
// can spread its connections this way.
type handoff struct {
	fd   int32
	f    Factory
	peer netip.Addr // the admitted peer (WithAdmission), else zero
}

// target picks the loop that serves the next connection a listener
// accepts: its own, unless the listener spreads them (WithBalance).
func (a *acceptor) target() *eventLoop {
	switch {
	case a.spread == nil:
		return a.l
	case a.balance == BalanceLeastConns:
		// The first loop with the fewest, starting with the accepting one,
		// which needs no hand-off. The counts are read without a lock, so
		// concurrent closes make the choice approximate, never wrong. A
		// loop that has exited (its poller failed) counts none and would
		// win every time: it is skipped.
		best, least := a.l, a.l.load.Load()
		for _, t := range a.spread {
			if n := t.load.Load(); n < least && !t.gone.Load() {
				best, least = t, n
			}
		}
		return best
	default:
		for range a.spread {
			t := a.spread[a.next%len(a.spread)]
			a.next++
			if !t.gone.Load() {
				return t
			}
		}
		return a.l
	}
}

// handOff puts fd in t's inbox, on the accepting loop from, and reports
// whether it did. The first connection in an empty inbox marks t to be
// woken when from's accept batch ends (wakeInboxes): a later one finds the
// inbox non-empty and knows that a wake is coming. If t has exited (its
// poller failed, or Shutdown ended it), it reports false and the caller
// serves fd itself: a loop that died must not take clients with it.
func (t *eventLoop) handOff(from *eventLoop, fd int, f Factory, peer netip.Addr) bool {
	t.load.Add(1)
	t.mu.Lock()
	if t.exited {
		t.mu.Unlock()
		t.load.Add(-1)
		return false
	}
	first := len(t.inbox) == 0
	t.inbox = append(t.inbox, handoff{fd: int32(fd), f: f, peer: peer})
	t.mu.Unlock()
	if first {
		from.toWake = append(from.toWake, t)
	}
	return true
}

// wakeInboxes wakes the loops this one handed connections to in the batch
// that just ended, once each. The flag is set before the wake, and after
// the connections went in, so the target cannot miss them: takeInbox clears
// it before it takes the inbox.
func (l *eventLoop) wakeInboxes() {
	for i, t := range l.toWake {
		l.toWake[i] = nil
		t.hasInbox.Store(true)
		if err := t.p.Wake(); err != nil && !errors.Is(err, poller.ErrClosed) {
			l.log.Error("reactor: could not wake a loop for handed-off connections", "loop", t.id, "err", err)
		}
	}
	l.toWake = l.toWake[:0]
}

// takeInbox registers, in one go, the connections other loops handed to
// this one. Once Shutdown has begun it closes them instead, as a listener
// closed with a backlog does: they were never served.
func (l *eventLoop) takeInbox() {
	l.hasInbox.Store(false)
	l.mu.Lock()
	l.inbox, l.arrived = l.arrived[:0], l.inbox
	l.mu.Unlock()
	for i, h := range l.arrived {
		l.arrived[i] = handoff{}
		l.load.Add(-1) // addConn counts it again
		if l.draining {
			unix.Close(int(h.fd))
			if h.peer.IsValid() {
				l.adm.Release(h.peer)
			}
			continue
		}
		l.addAdmitted(int(h.fd), h.f, h.peer)
	}
	l.arrived = l.arrived[:0]
}
