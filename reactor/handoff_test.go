package reactor_test

import (
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgeloop/edgeloop/internal/conformance"
	"github.com/edgeloop/edgeloop/internal/logtest"
	"github.com/edgeloop/edgeloop/poller"
	"github.com/edgeloop/edgeloop/protocols/echo"
	"github.com/edgeloop/edgeloop/reactor"
	"golang.org/x/sys/unix"
)

// TestAcceptResumesWhenAnotherLoopsConnectionCloses: with a hand-off
// (round robin), one loop holds the listener and the others most of the
// connections. A listener resting after EMFILE must try again when a
// connection of any loop closes, since descriptors are the process's; the
// rest is an hour here, so only that wake can serve the waiting client.
func TestAcceptResumesWhenAnotherLoopsConnectionCloses(t *testing.T) {
	forPollers(t, func(t *testing.T, backend string) {
		reactor.SetAcceptRetry(t, time.Hour)
		l := newLoop(t, backend, reactor.WithLoops(2), reactor.WithBalance(reactor.BalanceRoundRobin),
			reactor.WithLogger(slog.New(&logtest.Recorder{})))
		var on1 atomic.Pointer[reactor.Conn]
		addr := conformance.Listen(t, l, func(c reactor.Conn) reactor.Handler {
			if reactor.LoopIndex(c) == 1 {
				on1.Store(&c)
			}
			return echo.New(c)
		})
		deadline := time.Now().Add(waitTimeout)
		_, b := conformance.DialTCP(t, addr), conformance.DialTCP(t, addr) // round-robin: loop 0, loop 1
		if err := conformance.Exchange(b, []byte("x"), nil, deadline); err != nil {
			t.Fatal(err)
		}
		if on1.Load() == nil {
			t.Fatal("second connection not on loop 1")
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
		waiting := conformance.DialTCP(t, addr)
		conformance.WaitFor(t, waitTimeout, "the accept to fail", func() bool { return failures.Load() > 0 })
		syncLoop(t, l)
		failing.Store(false)
		b.SetLinger(0)
		b.Close() // loop 1 closes its side: a descriptor is free
		if err := conformance.Exchange(waiting, []byte("waited"), nil, time.Now().Add(2*time.Second)); err != nil {
			t.Fatalf("backlog not served after loop 1 freed a descriptor: %v", err)
		}
	})
}

// failingPoller fails Wait once fail is set, as a broken epoll would.
type failingPoller struct {
	poller.Poller
	fail *atomic.Bool
}

func (p *failingPoller) Wait(evs []poller.Event, d time.Duration) (int, error) {
	if p.fail.Load() {
		return 0, errors.New("test: poller broke")
	}
	return p.Poller.Wait(evs, d)
}

// TestHandOffToExitedLoop: a loop whose poller failed has exited and its
// count is 0. Least-conns used to pick it for every new connection, and the
// hand-off closed each one: the server dropped every client while it looked
// healthy. The accepting loop must skip it, and serve a connection itself
// when its target exits under it.
func TestHandOffToExitedLoop(t *testing.T) {
	var fail atomic.Bool
	n := 0
	open := func() (poller.Poller, error) {
		p, err := poller.New()
		if err != nil {
			return nil, err
		}
		n++
		if n == 2 { // loop 1
			return &failingPoller{Poller: p, fail: &fail}, nil
		}
		return p, nil
	}
	l := newLoop(t, "", reactor.WithLoops(2), reactor.WithBalance(reactor.BalanceLeastConns),
		reactor.WithPoller(open), reactor.WithLogger(slog.New(&logtest.Recorder{})))
	addr := conformance.Listen(t, l, echo.New)
	fail.Store(true)
	reactor.PostTo(l, 1, func() {})
	recv(t, reactor.LoopDone(l, 1), "loop 1 to exit")
	deadline := time.Now().Add(waitTimeout)
	first := conformance.DialTCP(t, addr) // loop 0: ties go to the accepting loop
	if err := conformance.Exchange(first, []byte("first"), nil, deadline); err != nil {
		t.Fatalf("first: %v", err)
	}
	for i := range 5 {
		c := conformance.DialTCP(t, addr)
		if err := conformance.Exchange(c, []byte("next"), nil, deadline); err != nil {
			t.Fatalf("connection %d after loop 1 exited: %v (loads %v)", i, err, loopConns(t, l))
		}
	}
}
