package echo_test

import (
	"context"
	"fmt"
	"net"
	"runtime/debug"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgeloop/edgeloop/backend"

	"github.com/edgeloop/edgeloop/internal/conformance"
	"github.com/edgeloop/edgeloop/protocols/echo"
	"github.com/edgeloop/edgeloop/reactor"
	"golang.org/x/sys/unix"
)

// These are unit tests of the echo handler's state machine, run against a
// real loop on the backends that expose the socket (for SO_SNDBUF): the
// conformance suite checks echo's behaviour as a peer sees it, these check
// what the handler holds while it does so.

const waitTimeout = 10 * time.Second

// backends run reactor's own loop: the platform's edge-triggered poller
// and gnetpoll.
var backends = backend.Pollers()

// spy wraps an echo handler and records, after each of its calls, how much
// output it holds.
type spy struct {
	*echo.Handler
	c            reactor.Conn
	cap          int          // the cap given to echo.Factory
	pending      atomic.Int64 // Pending after the latest call
	maxPending   atomic.Int64
	pendingAtEOF atomic.Int64 // output held when the peer's EOF was read; -1 before
	maxBuffered  atomic.Int64 // the most the output buffer held, sent part included
	maxCapacity  atomic.Int64 // the output buffer's largest capacity
	recvsOnTail  atomic.Int64 // HandleRecv calls made while a partly sent tail was held
	closedAtEOF  atomic.Bool  // the handler closed in the call that read EOF
	closes       atomic.Int64
	closeErr     chan error
}

// spyFactory makes echo handlers with capBytes through echo.Factory, each
// wrapped in a spy sent to spies, with the server's send buffer shrunk so
// that output queues in the handler rather than in the kernel.
func spyFactory(capBytes int, spies chan<- *spy) reactor.Factory {
	f := echo.Factory(capBytes)
	return func(c reactor.Conn) reactor.Handler {
		unix.SetsockoptInt(c.Fd(), unix.SOL_SOCKET, unix.SO_SNDBUF, 4096)
		s := &spy{Handler: f(c).(*echo.Handler), c: c, cap: capBytes, closeErr: make(chan error, 1)}
		s.pendingAtEOF.Store(-1)
		spies <- s
		return s
	}
}

func (s *spy) observe() {
	n := int64(s.Pending())
	s.pending.Store(n)
	if n > s.maxPending.Load() {
		s.maxPending.Store(n) // only the loop goroutine writes it
	}
	if b := int64(echo.Buffered(s.Handler)); b > s.maxBuffered.Load() {
		s.maxBuffered.Store(b)
	}
	if c := int64(echo.Capacity(s.Handler)); c > s.maxCapacity.Load() {
		s.maxCapacity.Store(c)
	}
}

func (s *spy) HandleRecv() error {
	before, wanted, closes := s.Pending(), s.WantsRecv(), s.closes.Load()
	if echo.Sent(s.Handler) > 0 {
		s.recvsOnTail.Add(1)
	}
	err := s.Handler.HandleRecv()
	s.observe()
	// WantsRecv turned false below the cap, or the handler closed: this call
	// read the peer's EOF. It held at least what was pending before it.
	closed := s.closes.Load() != closes
	if wanted && !s.WantsRecv() && s.Pending() < s.cap || closed {
		if s.pendingAtEOF.Load() < 0 {
			s.pendingAtEOF.Store(int64(max(before, s.Pending())))
			s.closedAtEOF.Store(closed)
		}
	}
	return err
}

func (s *spy) HandleSend() error {
	err := s.Handler.HandleSend()
	s.observe()
	return err
}

func (s *spy) HandleClose(err error) {
	s.Handler.HandleClose(err)
	s.observe()
	s.closes.Add(1)
	select {
	case s.closeErr <- err:
	default:
	}
}

// state is what the handler holds, read on the loop goroutine.
type state struct {
	pending              int
	wantsRecv, wantsSend bool
}

func (s *spy) state(t *testing.T) state {
	t.Helper()
	done := make(chan state, 1)
	if err := s.c.Post(func() {
		done <- state{s.Pending(), s.WantsRecv(), s.WantsSend()}
	}); err != nil {
		t.Fatalf("Post: %v", err)
	}
	return recv(t, done, "a posted function")
}

func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitTimeout):
		t.Fatalf("timed out after %v waiting for %s", waitTimeout, what)
		panic("unreachable")
	}
}

// testTimeout bounds each test that starts a loop, a backstop behind the
// deadline every wait has: see watchdog.
const testTimeout = 2 * time.Minute

// watchdog panics, naming t and showing every goroutine, if t is still
// running after testTimeout: it is stuck in a wait with no deadline, and
// failing now beats hanging until go test's -timeout.
func watchdog(t *testing.T) {
	name := t.Name()
	timer := time.AfterFunc(testTimeout, func() {
		debug.SetTraceback("all")
		panic(fmt.Sprintf("%s is still running after %v: a wait with no deadline is stuck "+
			"(a lost wake-up, or a loop stuck in one turn); every goroutine follows", name, testTimeout))
	})
	t.Cleanup(func() { timer.Stop() })
}

// newLoop runs a one-loop Loop on backend, shut down with a deadline when
// the test ends, and gives the test a watchdog.
func newLoop(t *testing.T, name string, opts ...reactor.Option) *reactor.Loop {
	t.Helper()
	watchdog(t)
	l, err := backend.New(name, append([]reactor.Option{reactor.WithLoops(1)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), conformance.ShutdownTimeout)
		defer cancel()
		if err := l.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return l
}

// start runs a one-loop Loop on backend serving f, shut down with a
// deadline when the test ends, and returns a client connected to it.
func start(t *testing.T, name string, f reactor.Factory, opts ...reactor.Option) *net.TCPConn {
	t.Helper()
	l := newLoop(t, name, opts...)
	return conformance.DialTCP(t, conformance.Listen(t, l, f))
}

// TestPendingNeverExceedsCap: with a peer that writes and never reads, the
// handler fills up to its cap and stops reading; it never holds more. The
// read buffer (64 KiB) is larger than the cap (4 KiB), so each read must be
// limited to the room left under the cap.
func TestPendingNeverExceedsCap(t *testing.T) {
	const capBytes = 4096
	for _, backend := range backends {
		t.Run("backend="+backend, func(t *testing.T) {
			spies := make(chan *spy, 1)
			c := start(t, backend, spyFactory(capBytes, spies), reactor.WithReadBuffer(64<<10))
			s := recv(t, spies, "the server's handler")

			writerDone := make(chan struct{})
			go func() {
				defer close(writerDone)
				chunk := conformance.Payload(1, 64<<10)
				c.SetWriteDeadline(time.Now().Add(waitTimeout))
				for {
					if _, err := c.Write(chunk); err != nil {
						return // the deadline, or the test closed c
					}
				}
			}()
			t.Cleanup(func() { c.Close(); <-writerDone })

			conformance.WaitFor(t, waitTimeout, "the handler to fill its cap", func() bool {
				return s.pending.Load() >= capBytes
			})
			if m := s.maxPending.Load(); m > capBytes {
				t.Errorf("Pending reached %d, over the cap of %d", m, capBytes)
			}
			if m := s.maxCapacity.Load(); m > capBytes {
				t.Errorf("the output buffer's capacity reached %d, over the cap of %d: a peer at the cap costs more than the cap", m, capBytes)
			}
			st := s.state(t)
			if st.pending != capBytes || st.wantsRecv || !st.wantsSend {
				t.Errorf("at the cap: %+v, want Pending %d, WantsRecv false, WantsSend true", st, capBytes)
			}
		})
	}
}

// TestCloseAfterHalfCloseOnceAllSent: the peer sends, without reading, more
// than the kernel buffers hold (1 MiB), then shuts its write side. The handler reads
// the EOF while it still holds output; it must stop reading, send all of it,
// and only then close, as a close it asked for (nil error).
func TestCloseAfterHalfCloseOnceAllSent(t *testing.T) {
	for _, backend := range backends {
		t.Run("backend="+backend, func(t *testing.T) {
			spies := make(chan *spy, 1)
			// A cap the handler will not reach: the peer's write completes.
			c := start(t, backend, spyFactory(4<<20, spies))
			s := recv(t, spies, "the server's handler")
			payload := conformance.Payload(2, 1<<20)
			c.SetDeadline(time.Now().Add(waitTimeout))
			if _, err := c.Write(payload); err != nil {
				t.Fatal(err)
			}
			if err := c.CloseWrite(); err != nil {
				t.Fatal(err)
			}
			conformance.WaitFor(t, waitTimeout, "the handler to read EOF", func() bool {
				return s.pendingAtEOF.Load() >= 0
			})
			if n := s.pendingAtEOF.Load(); n == 0 {
				t.Fatalf("nothing was pending at EOF: the test did not reach the state it checks")
			}
			if s.closedAtEOF.Load() {
				t.Errorf("the handler closed at EOF with %d bytes still to send", s.pendingAtEOF.Load())
			}
			t.Logf("%d bytes pending at EOF", s.pendingAtEOF.Load())
			if err := conformance.ReadToEOF(c, payload); err != nil {
				t.Error(err)
			}
			if err := recv(t, s.closeErr, "HandleClose"); err != nil {
				t.Errorf("HandleClose(%v), want nil", err)
			}
			if n := s.pending.Load(); n != 0 {
				t.Errorf("Pending %d after close", n)
			}
		})
	}
}

// TestIdleConnHoldsNoBuffer: once everything is sent, a connection holds no
// pooled buffer: Pending is 0, WantsSend false, and it reads again. First
// after a burst that made output queue, then after a small echo that went
// out at once.
func TestIdleConnHoldsNoBuffer(t *testing.T) {
	for _, backend := range backends {
		t.Run("backend="+backend, func(t *testing.T) {
			spies := make(chan *spy, 1)
			c := start(t, backend, spyFactory(echo.DefaultCap, spies))
			s := recv(t, spies, "the server's handler")
			idle := func(when string) {
				t.Helper()
				var st state
				ok := conformance.Poll(5*time.Second, func() bool {
					st = s.state(t)
					return st == state{pending: 0, wantsRecv: true, wantsSend: false}
				})
				if !ok {
					t.Errorf("%s: %+v, want Pending 0, WantsRecv true, WantsSend false", when, st)
				}
			}

			burst := conformance.Payload(3, 512<<10) // under the cap: the write completes
			c.SetDeadline(time.Now().Add(waitTimeout))
			if _, err := c.Write(burst); err != nil {
				t.Fatal(err)
			}
			conformance.WaitFor(t, waitTimeout, "output to queue in the handler", func() bool {
				return s.maxPending.Load() > 0
			})
			if err := conformance.ReadExactly(c, burst); err != nil {
				t.Fatal(err)
			}
			idle("after a burst")

			if err := conformance.Exchange(c, []byte("ping"), nil, time.Now().Add(waitTimeout)); err != nil {
				t.Fatal(err)
			}
			idle("after a small echo")
		})
	}
}
