package reactor_test

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgeloop/edgeloop/internal/conformance"
	"github.com/edgeloop/edgeloop/poller"
	"github.com/edgeloop/edgeloop/protocols/echo"
	"github.com/edgeloop/edgeloop/reactor"
)

var balances = []reactor.Balance{reactor.BalanceReusePort, reactor.BalanceRoundRobin, reactor.BalanceLeastConns}

// TestBalanceSpreadsConnections: with each Balance and 2 or 4 loops, 200
// connections all echo byte-exact and are spread: by the kernel's hash
// with BalanceReusePort (every loop gets some), evenly with the other two
// (each loop within one of an equal share). With BalanceLeastConns, once
// every connection of one loop has closed, the next ones all go there.
func TestBalanceSpreadsConnections(t *testing.T) {
	const conns = 200
	forPollers(t, func(t *testing.T, backend string) {
		for _, b := range balances {
			for _, n := range []int{2, 4} {
				t.Run(fmt.Sprintf("balance=%v/loops=%d", b, n), func(t *testing.T) {
					l := newLoop(t, backend, reactor.WithLoops(n), reactor.WithBalance(b))
					var where sync.Map // client port -> index of the loop serving it
					addr := conformance.Listen(t, l, func(c reactor.Conn) reactor.Handler {
						where.Store(c.RemoteAddr().(*net.TCPAddr).Port, reactor.LoopIndex(c))
						return echo.New(c)
					})
					loopOf := func(c *net.TCPConn) int {
						v, ok := where.Load(c.LocalAddr().(*net.TCPAddr).Port)
						if !ok {
							t.Fatalf("no server connection for client %v", c.LocalAddr())
						}
						return v.(int)
					}
					clients := echoMany(t, addr, conns, 0)
					loads := loopConns(t, l)
					sum := int64(0)
					for i, k := range loads {
						sum += k
						switch {
						case b == reactor.BalanceReusePort && k == 0:
							t.Errorf("loop %d got no connection of %d: %v", i, conns, loads)
						case b != reactor.BalanceReusePort && (k < conns/int64(n)-1 || k > conns/int64(n)+1):
							t.Errorf("loop %d has %d connections, want %d±1: %v", i, k, conns/n, loads)
						}
					}
					if sum != conns {
						t.Errorf("the loops count %d connections, want %d: %v", sum, conns, loads)
					}
					if b != reactor.BalanceLeastConns {
						return
					}
					for _, c := range clients {
						if loopOf(c) == 0 {
							c.SetLinger(0)
							c.Close()
						}
					}
					conformance.WaitFor(t, waitTimeout, "loop 0 to close all its connections", func() bool {
						return loopConns(t, l)[0] == 0
					})
					for i, c := range echoMany(t, addr, conns/n, conns) {
						if got := loopOf(c); got != 0 {
							t.Errorf("new connection %d went to loop %d, want loop 0, which had the fewest (%v)", i, got, loopConns(t, l))
						}
					}
				})
			}
		}
	})
}

// echoMany dials n connections to addr, each echoing its own payload
// byte-exact, and returns them (closed when the test ends, with an RST so
// that the ports do not linger in TIME_WAIT).
func echoMany(t *testing.T, addr string, n, seed int) []*net.TCPConn {
	t.Helper()
	clients := make([]*net.TCPConn, n)
	for i := range clients {
		c := conformance.DialTCP(t, addr)
		c.SetLinger(0)
		payload := conformance.Payload(uint64(seed+i), 1+(seed+i)%3000)
		if err := conformance.Exchange(c, payload, nil, time.Now().Add(waitTimeout)); err != nil {
			t.Fatalf("connection %d: %v", seed+i, err)
		}
		clients[i] = c
	}
	return clients
}

// loopConns returns the connection count of each loop of l.
func loopConns(t *testing.T, l *reactor.Loop) []int64 {
	t.Helper()
	n, err := reactor.LoopConns(l)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// blockLoopAt blocks event loop i of l in a posted function until release
// is called (or waitTimeout passes).
func blockLoopAt(t *testing.T, l *reactor.Loop, i int) (release func()) {
	t.Helper()
	started, rel := make(chan struct{}), make(chan struct{})
	if err := reactor.PostTo(l, i, func() {
		close(started)
		select {
		case <-rel:
		case <-time.After(waitTimeout):
		}
	}); err != nil {
		t.Fatalf("PostTo: %v", err)
	}
	recv(t, started, fmt.Sprintf("loop %d to block", i))
	var once sync.Once
	release = func() { once.Do(func() { close(rel) }) }
	t.Cleanup(release)
	return release
}

// wakeCounter counts a poller's wake-ups.
type wakeCounter struct {
	poller.Poller
	wakes atomic.Int64
}

func (w *wakeCounter) Wake() error {
	w.wakes.Add(1)
	return w.Poller.Wake()
}

// TestHandOffWakesOncePerBatch: a burst of connections accepted in one
// batch reaches the other loop through its inbox with one wake-up, not one
// per connection.
func TestHandOffWakesOncePerBatch(t *testing.T) {
	const burst = 64 // one accept batch with the default budget
	var pollers []*wakeCounter
	open := func() (poller.Poller, error) {
		p, err := poller.New()
		if err != nil {
			return nil, err
		}
		w := &wakeCounter{Poller: p}
		pollers = append(pollers, w)
		return w, nil
	}
	l := newLoop(t, "", reactor.WithLoops(2), reactor.WithBalance(reactor.BalanceRoundRobin), reactor.WithPoller(open))
	made := make(chan reactor.Conn, burst)
	addr := conformance.Listen(t, l, func(c reactor.Conn) reactor.Handler {
		made <- c
		return echo.New(c)
	})
	// The first listener is on loop 0: hold it so that the burst waits in
	// the backlog, to be accepted in one batch.
	release := blockLoopAt(t, l, 0)
	for range burst {
		conformance.DialTCP(t, addr).SetLinger(0)
	}
	before := pollers[1].wakes.Load()
	release()
	on := [2]int{}
	for range burst {
		on[reactor.LoopIndex(recv(t, made, "a connection of the burst"))]++
	}
	wakes := pollers[1].wakes.Load() - before
	t.Logf("%d connections handed to loop 1 with %d wake-ups", on[1], wakes)
	if on[1] != burst/2 {
		t.Errorf("loop 1 got %d of %d connections, want %d", on[1], burst, burst/2)
	}
	if wakes > 3 {
		t.Errorf("loop 1 was woken %d times for %d handed-off connections: want one wake-up per accept batch", wakes, on[1])
	}
}

// TestHandOffPeerClosedInInbox: connections whose peers close while they
// wait in a loop's inbox are registered, see the close and are closed:
// no descriptor is left.
func TestHandOffPeerClosedInInbox(t *testing.T) {
	const n = 20
	warmNetpoll(t)
	forPollers(t, func(t *testing.T, backend string) {
		l := newLoop(t, backend, reactor.WithLoops(2), reactor.WithBalance(reactor.BalanceRoundRobin))
		var closed atomic.Int64
		addr := conformance.Listen(t, l, func(c reactor.Conn) reactor.Handler {
			return &closeCounter{Handler: echo.New(c), n: &closed}
		})
		base := countFDs(t)
		release := blockLoopAt(t, l, 1)
		clients := make([]*net.TCPConn, n)
		for i := range clients {
			clients[i] = conformance.DialTCP(t, addr)
		}
		conformance.WaitFor(t, waitTimeout, "half the connections in loop 1's inbox", func() bool {
			return reactor.Inbox(l, 1) == n/2
		})
		for i, c := range clients {
			if i%4 < 2 {
				c.SetLinger(0) // some reset, some FIN
			}
			c.Close()
		}
		release()
		conformance.WaitFor(t, waitTimeout, "every connection to close", func() bool {
			return closed.Load() == n
		})
		conformance.WaitFor(t, waitTimeout, "the descriptors to be released", func() bool {
			return countFDs(t) == base
		})
		if loads := loopConns(t, l); loads[0] != 0 || loads[1] != 0 {
			t.Errorf("loops count %v connections after all closed, want none", loads)
		}
	})
}

// TestShutdownWithInboxNoLeak: Shutdown while a loop has handed-off
// connections in its inbox closes them; no descriptor is left.
func TestShutdownWithInboxNoLeak(t *testing.T) {
	const n = 20
	warmNetpoll(t)
	forPollers(t, func(t *testing.T, backend string) {
		base := countFDs(t)
		l := newLoop(t, backend, reactor.WithLoops(2), reactor.WithBalance(reactor.BalanceRoundRobin))
		addr := conformance.Listen(t, l, echo.New)
		release := blockLoopAt(t, l, 1)
		clients := make([]*net.TCPConn, n)
		for i := range clients {
			clients[i] = conformance.DialTCP(t, addr)
		}
		conformance.WaitFor(t, waitTimeout, "half the connections in loop 1's inbox", func() bool {
			return reactor.Inbox(l, 1) == n/2
		})
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // Shutdown closes whatever is left at once
		if err := l.Shutdown(ctx); err != context.Canceled {
			t.Errorf("Shutdown: %v, want context.Canceled", err)
		}
		release()
		recv(t, l.Done(), "the loops to stop")
		for _, c := range clients {
			c.Close()
		}
		conformance.WaitFor(t, waitTimeout, "the descriptors to be released", func() bool {
			return countFDs(t) == base
		})
	})
}

// closeCounter counts HandleClose calls.
type closeCounter struct {
	reactor.Handler
	n *atomic.Int64
}

func (h *closeCounter) HandleClose(err error) {
	if ch, ok := h.Handler.(reactor.CloseHandler); ok {
		ch.HandleClose(err)
	}
	h.n.Add(1)
}

// countFDs returns the process's open descriptors.
func countFDs(t *testing.T) int {
	t.Helper()
	n, err := conformance.CountFDs()
	if err != nil {
		t.Skipf("cannot count descriptors here: %v", err)
	}
	return n
}

// warmNetpoll makes the runtime open its own poller before a test counts
// descriptors: the first net.Dial opens it, and it stays.
func warmNetpoll(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
}
