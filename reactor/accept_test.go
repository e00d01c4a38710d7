package reactor_test

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgeloop/edgeloop/internal/conformance"
	"github.com/edgeloop/edgeloop/protocols/echo"
	"github.com/edgeloop/edgeloop/reactor"
	"golang.org/x/sys/unix"
)

// These tests reach accept's error branches (POLLER-CHECKLIST item 7)
// through reactor.SetAccept, which swaps the loop's accept function: a
// real EMFILE needs the whole process out of descriptors, which the other
// tests running alongside would feel too.

// logCounter is a slog.Handler that counts records and drops them.
type logCounter struct{ n atomic.Int64 }

func (h *logCounter) Enabled(context.Context, slog.Level) bool  { return true }
func (h *logCounter) Handle(context.Context, slog.Record) error { h.n.Add(1); return nil }
func (h *logCounter) WithAttrs([]slog.Attr) slog.Handler        { return h }
func (h *logCounter) WithGroup(string) slog.Handler             { return h }

// setAccept makes l's loops accept with f, and restores the platform's
// accept when the test ends.
func setAccept(t *testing.T, l *reactor.Loop, f func(lfd int) (int, error)) {
	t.Helper()
	if err := reactor.SetAccept(l, f); err != nil {
		t.Fatalf("SetAccept: %v", err)
	}
	t.Cleanup(func() { reactor.SetAccept(l, nil) })
}

// TestAcceptRetriesConnAborted: accept returning ECONNABORTED means only
// that a connection in the backlog died before it was taken; the loop must
// go on accepting in the same call, without logging a failure or resting
// the listener. An edge-triggered listener hears of the connection behind
// it only once, so a loop that stopped there would never serve it. The hook
// fails the first accept after the client connects, as if an aborted
// connection stood ahead of it in the backlog, and records the loop turn of
// that call and of the next.
func TestAcceptRetriesConnAborted(t *testing.T) {
	forPollers(t, func(t *testing.T, backend string) {
		logs := &logCounter{}
		l := newLoop(t, backend, reactor.WithLogger(slog.New(logs)))
		addr := conformance.Listen(t, l, echo.New)
		var armed atomic.Bool
		var abortTurn, retryTurn atomic.Int64 // loop turns; -1 until the call happens
		abortTurn.Store(-1)
		retryTurn.Store(-1)
		setAccept(t, l, func(lfd int) (int, error) {
			turn := int64(reactor.CurrentTurn(l, 0))
			if armed.CompareAndSwap(true, false) {
				abortTurn.Store(turn)
				return -1, unix.ECONNABORTED
			}
			if abortTurn.Load() >= 0 {
				retryTurn.CompareAndSwap(-1, turn)
			}
			return reactor.Accept(lfd)
		})
		syncLoop(t, l) // the listener's first accept, with an empty backlog, is over
		armed.Store(true)
		c := conformance.DialTCP(t, addr)
		err := conformance.Exchange(c, []byte("behind an aborted connection"), nil, time.Now().Add(waitTimeout))
		if abortTurn.Load() < 0 {
			t.Fatalf("the accept hook never returned ECONNABORTED: the test did not reach the branch it checks")
		}
		if err != nil {
			t.Fatalf("the connection behind an ECONNABORTED was not served (%v): accept was not retried after ECONNABORTED", err)
		}
		if a, r := abortTurn.Load(), retryTurn.Load(); a != r {
			t.Errorf("ECONNABORTED in loop turn %d, the next accept in turn %d: accept was not retried in the same call", a, r)
		}
		if n := logs.n.Load(); n != 0 {
			t.Errorf("%d log records: ECONNABORTED was treated as a failure of accept", n)
		}
	})
}

// TestAcceptFailureSparesLiveConnsAndDoesNotSpin: while accept fails with
// EMFILE (the process is out of descriptors), the connection stays in the
// backlog and the loop must neither close the connections it has (gnet
// shuts its whole engine down here) nor spin retrying the accept (tokio
// #3529; a level-triggered poller reports the backlog on every Wait). It
// rests the listener and tries again after reactor.AcceptRetry, or when one
// of its connections closes, and logs the failure once. Once accept works
// again, the connection that waited is served with no new connection to
// make an edge, and new ones are too.
func TestAcceptFailureSparesLiveConnsAndDoesNotSpin(t *testing.T) {
	const window = 300 * time.Millisecond
	forPollers(t, func(t *testing.T, backend string) {
		logs := &logCounter{}
		l := newLoop(t, backend, reactor.WithLogger(slog.New(logs)))
		addr := conformance.Listen(t, l, echo.New)
		live := conformance.DialTCP(t, addr)
		deadline := time.Now().Add(waitTimeout)
		if err := conformance.Exchange(live, []byte("before"), nil, deadline); err != nil {
			t.Fatalf("live connection: %v", err)
		}

		var failing atomic.Bool
		var failures atomic.Int64
		failing.Store(true)
		setAccept(t, l, func(lfd int) (int, error) {
			if failing.Load() {
				failures.Add(1)
				return -1, unix.EMFILE
			}
			return reactor.Accept(lfd)
		})
		syncLoop(t, l)
		waiting := conformance.DialTCP(t, addr) // complete in the kernel, stuck in the backlog
		conformance.WaitFor(t, waitTimeout, "the loop to try the accept", func() bool { return failures.Load() > 0 })

		start := failures.Load()
		assertNoSpin(t, l, window)
		if n, most := failures.Load()-start, int64(window/reactor.AcceptRetry)+2; n > most {
			t.Errorf("accept failed %d times in %v for one connection in the backlog, want at most %d (one per %v): the loop retries a failing accept without resting",
				n, window, most, reactor.AcceptRetry)
		}
		if n := logs.n.Load(); n != 1 {
			t.Errorf("%d log records while accept failed %d times, want 1: a failing accept is logged once until it works again", n, failures.Load())
		}
		if err := conformance.Exchange(live, []byte("while accept fails"), nil, deadline); err != nil {
			t.Errorf("the live connection, while accept fails: %v", err)
		}

		failing.Store(false)
		if err := conformance.Exchange(waiting, []byte("waited"), nil, deadline); err != nil {
			t.Errorf("the connection that waited in the backlog, once accept works again: %v", err)
		}
		if err := conformance.Exchange(conformance.DialTCP(t, addr), []byte("next"), nil, deadline); err != nil {
			t.Errorf("a new connection, once accept works again: %v", err)
		}
		if err := conformance.Exchange(live, []byte("after"), nil, deadline); err != nil {
			t.Errorf("the live connection, after accept failed: %v", err)
		}
	})
}
