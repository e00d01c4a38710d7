package auth_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgeloop/edgeloop/internal/conformance"
	"github.com/edgeloop/edgeloop/protocols/auth"
	"github.com/edgeloop/edgeloop/protocols/echo"
	"github.com/edgeloop/edgeloop/reactor"
)

// handshake is the behaviour these tests check on every backend; no
// backend is exempt from it (it is in no conformance.Limits entry).
const handshake conformance.Behaviour = "auth-handshake"

// waitTimeout bounds every wait: generous, since a hang must fail but a
// busy machine must not.
const waitTimeout = 10 * time.Second

var key = []byte("the seeds' shared secret")

// server is a Wrap'ed echo service on one backend, with what the tests
// watch: how many inner handlers were made, and each wrapper handler with
// its close.
type server struct {
	addr        string
	inners      atomic.Int64
	made        chan struct{} // one per inner handler made
	innerClosed chan error    // one per inner handler's HandleClose
	spies       chan *spy     // one per connection
}

// spy records the close of a handler that Wrap's Factory made.
type spy struct {
	reactor.Handler
	closed chan error
}

func (s *spy) HandleClose(err error) {
	s.Handler.(reactor.CloseHandler).HandleClose(err)
	s.closed <- err
}

func startServer(t *testing.T, backend string, opts ...auth.Option) *server {
	t.Helper()
	s := &server{made: make(chan struct{}, 64), spies: make(chan *spy, 64), innerClosed: make(chan error, 64)}
	inner := func(c reactor.Conn) reactor.Handler {
		s.inners.Add(1)
		s.made <- struct{}{}
		return &spy{Handler: echo.New(c), closed: s.innerClosed}
	}
	f, err := auth.Wrap(key, inner, opts...)
	if err != nil {
		t.Fatal(err)
	}
	_, s.addr = conformance.Start(t, backend, 1, func(c reactor.Conn) reactor.Handler {
		sp := &spy{Handler: f(c), closed: make(chan error, 1)}
		s.spies <- sp
		return sp
	})
	return s
}

func (s *server) dial(t *testing.T) *net.TCPConn {
	t.Helper()
	c := conformance.DialTCP(t, s.addr)
	c.SetDeadline(time.Now().Add(waitTimeout))
	return c
}

// spy returns the wrapper handler of the next connection.
func (s *server) spy(t *testing.T) *spy {
	t.Helper()
	select {
	case sp := <-s.spies:
		return sp
	case <-time.After(waitTimeout):
		t.Fatal("no connection reached the Factory")
	}
	return nil
}

// waitClosed waits for sp's HandleClose and returns its error.
func waitClosed(t *testing.T, sp *spy) error {
	t.Helper()
	select {
	case err := <-sp.closed:
		return err
	case <-time.After(waitTimeout):
		t.Fatal("the connection was not closed")
	}
	return nil
}

// readChallenge reads the server's challenge.
func readChallenge(t *testing.T, c net.Conn) []byte {
	t.Helper()
	ch := make([]byte, auth.ChallengeSize)
	if _, err := io.ReadFull(c, ch); err != nil {
		t.Fatalf("read challenge: %v", err)
	}
	return ch
}

// expectClosed reads c until the server's close, which must come with no
// byte before it.
func expectClosed(t *testing.T, c net.Conn) {
	t.Helper()
	var b [1]byte
	n, err := c.Read(b[:])
	if n > 0 {
		t.Fatalf("got a byte %#02x, want the connection closed", b[0])
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the server did not close the connection within %v", waitTimeout)
	}
	if err == nil {
		t.Fatal("read returned nothing and no error")
	}
}

// TestHandshakeThenEcho: Handshake with the right key, then echo answers
// byte-exact, on one inner handler, and the handshake timer is stopped.
func TestHandshakeThenEcho(t *testing.T) {
	conformance.ForEachBackend(t, handshake, func(t *testing.T, backend string) {
		s := startServer(t, backend)
		c := s.dial(t)
		if err := auth.Handshake(c, key); err != nil {
			t.Fatal(err)
		}
		sp := s.spy(t)
		payload := conformance.Payload(1, 256<<10)
		if err := conformance.Exchange(c, payload, nil, time.Now().Add(waitTimeout)); err != nil {
			t.Fatal(err)
		}
		if n := s.inners.Load(); n != 1 {
			t.Fatalf("%d inner handlers made, want 1", n)
		}
		// The echo came back, so the inner handler exists: the match
		// stopped the timer, which must not linger for its 10 s.
		if auth.TimerPending(sp.Handler) {
			t.Error("the handshake timer was still pending after the answer matched")
		}
		c.Close()
		werr := waitClosed(t, sp)
		select {
		case ierr := <-s.innerClosed:
			if ierr != werr {
				t.Errorf("the inner handler's HandleClose(%v), the wrapper's (%v)", ierr, werr)
			}
		default:
			t.Error("the wrapper's HandleClose did not reach the inner handler")
		}
	})
}

// TestWrongKeyCloses: a wrong answer closes the connection, the inner
// handler is never made, and the close says why.
func TestWrongKeyCloses(t *testing.T) {
	conformance.ForEachBackend(t, handshake, func(t *testing.T, backend string) {
		s := startServer(t, backend)
		c := s.dial(t)
		if err := auth.Handshake(c, []byte("not the key")); err != nil {
			t.Fatal(err)
		}
		sp := s.spy(t)
		expectClosed(t, c)
		if err := waitClosed(t, sp); !errors.Is(err, auth.ErrMismatch) {
			t.Errorf("HandleClose(%v), want ErrMismatch", err)
		}
		if n := s.inners.Load(); n != 0 {
			t.Errorf("%d inner handlers made for a wrong key, want 0", n)
		}
		if auth.TimerPending(sp.Handler) {
			t.Error("the handshake timer was still pending after the close")
		}
	})
}

// TestAnswerInPieces: an answer that arrives a byte at a time, then a
// request in pieces, is served.
func TestAnswerInPieces(t *testing.T) {
	conformance.ForEachBackend(t, handshake, func(t *testing.T, backend string) {
		s := startServer(t, backend)
		c := s.dial(t)
		answer := auth.MAC(key, readChallenge(t, c))
		for i := range answer {
			if _, err := c.Write(answer[i : i+1]); err != nil {
				t.Fatal(err)
			}
			time.Sleep(time.Millisecond) // pacing, so that the bytes go in separate segments
		}
		if s.inners.Load() > 1 {
			t.Fatal("more than one inner handler")
		}
		msg := []byte("hello, after a slow answer")
		if err := conformance.Exchange(c, msg, func() int { return 3 }, time.Now().Add(waitTimeout)); err != nil {
			t.Fatal(err)
		}
	})
}

// TestAnswerAndRequestInOneWrite: the answer and the first request in one
// write, so in one segment: the wrapper must leave the request for the
// service, which must be called for it with no new edge to come.
func TestAnswerAndRequestInOneWrite(t *testing.T) {
	for _, size := range []int{1, 100, 64 << 10} {
		t.Run("request="+strconv.Itoa(size), func(t *testing.T) {
			conformance.ForEachBackend(t, handshake, func(t *testing.T, backend string) {
				s := startServer(t, backend)
				c := s.dial(t)
				answer := auth.MAC(key, readChallenge(t, c))
				req := conformance.Payload(uint64(size), size)
				msg := append(answer[:], req...)
				werr := make(chan error, 1)
				go func() {
					_, err := c.Write(msg)
					werr <- err
				}()
				if err := conformance.ReadExactly(c, req); err != nil {
					t.Fatalf("echo of the request sent with the answer: %v", err)
				}
				if err := <-werr; err != nil {
					t.Fatal(err)
				}
			})
		})
	}
}

// TestNoAnswerTimesOut: a peer that answers nothing, or part, is closed
// after the handshake timeout, and the inner handler is never made.
func TestNoAnswerTimesOut(t *testing.T) {
	const timeout = 300 * time.Millisecond
	tests := []struct {
		name string
		sent int // bytes of the answer sent
	}{
		{"nothing", 0},
		{"half", auth.MACSize / 2},
		{"all but one", auth.MACSize - 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			conformance.ForEachBackend(t, handshake, func(t *testing.T, backend string) {
				s := startServer(t, backend, auth.WithTimeout(timeout))
				c := s.dial(t)
				answer := auth.MAC(key, readChallenge(t, c))
				if _, err := c.Write(answer[:tc.sent]); err != nil {
					t.Fatal(err)
				}
				sp := s.spy(t)
				expectClosed(t, c)
				if err := waitClosed(t, sp); err != nil {
					t.Errorf("HandleClose(%v), want nil: the timer closes", err)
				}
				if n := s.inners.Load(); n != 0 {
					t.Errorf("%d inner handlers made, want 0", n)
				}
			})
		})
	}
}

// TestPeerGoneMidAnswer: a peer that closes after part of its answer ends
// its connection with ErrTruncated, and the timer is stopped.
func TestPeerGoneMidAnswer(t *testing.T) {
	conformance.ForEachBackend(t, handshake, func(t *testing.T, backend string) {
		s := startServer(t, backend)
		c := s.dial(t)
		answer := auth.MAC(key, readChallenge(t, c))
		c.Write(answer[:5])
		c.CloseWrite()
		sp := s.spy(t)
		err := waitClosed(t, sp)
		// gnet closes on the peer's FIN itself, before the handler reads it.
		if backend != "gnet" && !errors.Is(err, auth.ErrTruncated) {
			t.Errorf("HandleClose(%v), want ErrTruncated", err)
		}
		if auth.TimerPending(sp.Handler) {
			t.Error("the handshake timer was still pending after the close")
		}
		if n := s.inners.Load(); n != 0 {
			t.Errorf("%d inner handlers made, want 0", n)
		}
	})
}

// TestWrapRefuses: Wrap refuses what cannot work.
func TestWrapRefuses(t *testing.T) {
	tests := []struct {
		name  string
		key   []byte
		inner reactor.Factory
		opts  []auth.Option
	}{
		{"empty key", nil, echo.New, nil},
		{"nil factory", key, nil, nil},
		{"zero timeout", key, echo.New, []auth.Option{auth.WithTimeout(0)}},
		{"negative timeout", key, echo.New, []auth.Option{auth.WithTimeout(-time.Second)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := auth.Wrap(tc.key, tc.inner, tc.opts...)
			if err == nil || f != nil {
				t.Fatalf("Wrap = %v, %v; want an error", f != nil, err)
			}
		})
	}
	if err := auth.Handshake(&bytes.Buffer{}, nil); !errors.Is(err, auth.ErrEmptyKey) {
		t.Errorf("Handshake with an empty key: %v, want ErrEmptyKey", err)
	}
}

// TestManyPeersSeveralLoops: peers with the right key and the wrong one at
// once, on several loops that hand connections to each other (the
// handshake's timer is on the loop that serves the connection): each
// right one is echoed, each wrong one closed, and the inner handlers made
// are exactly the right ones.
func TestManyPeersSeveralLoops(t *testing.T) {
	conformance.ForEachBackend(t, handshake, func(t *testing.T, backend string) {
		var inners atomic.Int64
		f, err := auth.Wrap(key, func(c reactor.Conn) reactor.Handler {
			inners.Add(1)
			return echo.New(c)
		})
		if err != nil {
			t.Fatal(err)
		}
		l := conformance.NewLoop(t, backend, 3, reactor.WithBalance(reactor.BalanceRoundRobin))
		addr := conformance.Listen(t, l, f)
		const peers = 24
		errs := make(chan error, peers)
		for i := range peers {
			go func() {
				errs <- func() error {
					c, err := conformance.Dial(addr)
					if err != nil {
						return err
					}
					defer c.Close()
					c.SetDeadline(time.Now().Add(waitTimeout))
					k := key
					if i%2 == 1 {
						k = []byte("wrong")
					}
					if err := auth.Handshake(c, k); err != nil {
						return err
					}
					if i%2 == 1 {
						var b [1]byte
						if n, err := c.Read(b[:]); n > 0 || err == nil {
							return errors.New("a wrong key was answered")
						} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
							return errors.New("a wrong key was not closed")
						}
						return nil
					}
					return conformance.Exchange(c, conformance.Payload(uint64(i), 4096), nil, time.Now().Add(waitTimeout))
				}()
			}()
		}
		for range peers {
			if err := <-errs; err != nil {
				t.Error(err)
			}
		}
		if n := inners.Load(); n != peers/2 {
			t.Errorf("%d inner handlers made, want %d", n, peers/2)
		}
	})
}
