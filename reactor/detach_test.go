package reactor_test

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/edgeloop/edgeloop/internal/conformance"
	"github.com/edgeloop/edgeloop/poller"
	"github.com/edgeloop/edgeloop/protocols/echo"
	"github.com/edgeloop/edgeloop/reactor"
)

// TestAdoptRefuses: what Adopt turns down, on every backend, and that it
// closes the file it was given in every case.
func TestAdoptRefuses(t *testing.T) {
	for _, name := range allBackends {
		t.Run("backend="+name, func(t *testing.T) {
			l := newLoop(t, name)
			_, unsupported := conformance.Limited(name, conformance.DetachAdopt)
			pipeR, pipeW, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer pipeW.Close()
			for _, tc := range []struct {
				name string
				file func(t *testing.T) *os.File
				loop int
				f    reactor.Factory
				want error // nil: any error
			}{
				{"nil-factory", socketFile, 0, nil, reactor.ErrNilFactory},
				{"not-a-socket", func(*testing.T) *os.File { return pipeR }, 0, echo.New, nil},
				{"loop-out-of-range", socketFile, 1, echo.New, nil},
				{"loop-negative", socketFile, -2, echo.New, nil},
			} {
				t.Run(tc.name, func(t *testing.T) {
					if name == "net" && tc.name[:4] == "loop" {
						t.Skip("the net backend ignores the loop number")
					}
					f := tc.file(t)
					err := l.Adopt(f, tc.loop, tc.f)
					switch {
					case err == nil:
						t.Fatal("Adopt accepted it")
					case unsupported && !errors.Is(err, reactor.ErrUnsupported) && tc.f != nil:
						t.Errorf("Adopt: %v, want ErrUnsupported", err)
					case tc.want != nil && !errors.Is(err, tc.want):
						t.Errorf("Adopt: %v, want %v", err, tc.want)
					}
					if err := f.Close(); !errors.Is(err, os.ErrClosed) {
						t.Errorf("Adopt left its file open (Close: %v)", err)
					}
				})
			}
			shutdown(t, l)
			if err := l.Adopt(socketFile(t), -1, echo.New); !errors.Is(err, reactor.ErrClosed) && !errors.Is(err, reactor.ErrUnsupported) {
				t.Errorf("Adopt after Shutdown: %v, want ErrClosed", err)
			}
		})
	}
}

// socketFile returns one end of a connected TCP pair as a file; the other
// end is closed when the test ends.
func socketFile(t *testing.T) *os.File {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	f, err := s.(*net.TCPConn).File()
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestDetachedConn: after Detach the Conn behaves as closed, a second
// Detach fails, and the socket is still open (the file serves it).
func TestDetachedConn(t *testing.T) {
	forPollers(t, func(t *testing.T, name string) {
		type result struct {
			f             *os.File
			err, again    error
			fd            int
			readErr       error
			detachedClose error
		}
		res := make(chan result, 1)
		l := newLoop(t, name)
		a, err := l.Listen("tcp", "127.0.0.1:0", func(c reactor.Conn) reactor.Handler {
			var r result
			r.f, r.err = reactor.Detach(c)
			_, r.again = reactor.Detach(c)
			r.fd = c.Fd()
			_, r.readErr = c.Read(make([]byte, 1))
			r.detachedClose = c.Close()
			res <- r
			return echo.New(c)
		})
		if err != nil {
			t.Fatal(err)
		}
		c, err := net.Dial("tcp", a.String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		r := recv(t, res, "the Factory's Detach")
		if r.err != nil {
			t.Fatalf("Detach: %v", r.err)
		}
		defer r.f.Close()
		for what, err := range map[string]error{"second Detach": r.again, "Read": r.readErr, "Close": r.detachedClose} {
			if !errors.Is(err, reactor.ErrClosed) {
				t.Errorf("%s after Detach: %v, want ErrClosed", what, err)
			}
		}
		if r.fd != -1 {
			t.Errorf("Fd after Detach = %d, want -1", r.fd)
		}
		// The socket is open and ours: a byte written on the file reaches
		// the client, and the client's reaches the file.
		sc, err := net.FileConn(r.f)
		if err != nil {
			t.Fatal(err)
		}
		defer sc.Close()
		deadline := time.Now().Add(waitTimeout)
		sc.SetDeadline(deadline)
		c.SetDeadline(deadline)
		if _, err := c.Write([]byte("ping")); err != nil {
			t.Fatal(err)
		}
		if err := conformance.ReadExactly(sc, []byte("ping")); err != nil {
			t.Fatalf("the detached socket: %v", err)
		}
		sc.Close()
		r.f.Close()
		if n, err := c.Read(make([]byte, 1)); err != io.EOF {
			t.Errorf("client read %d, %v after the file closed; want EOF", n, err)
		}
	})
}

// TestAdoptSchedulesWaiting: a socket adopted with input already queued and
// its peer silent from then on is served: no new edge will come. epoll and
// kqueue do report such input at registration, but the poller contract does
// not promise it, so the loop must not rely on it: the "no-first-edge"
// cases wrap the poller to drop the first event of each new registration.
func TestAdoptSchedulesWaiting(t *testing.T) {
	type tc struct {
		name, backend string
		start         func(t *testing.T) *reactor.Loop
	}
	var cases []tc
	for _, name := range allBackends {
		cases = append(cases, tc{"backend=" + name, name, func(t *testing.T) *reactor.Loop { return newLoop(t, name) }})
	}
	for _, name := range pollerBackends {
		cases = append(cases, tc{"backend=" + name + "/no-first-edge", name, func(t *testing.T) *reactor.Loop {
			return wrappedLoop(t, name, func(p poller.Poller) poller.Poller { return &noFirstEdge{Poller: p} })
		}})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			conformance.SkipIfLimited(t, tc.backend, conformance.DetachAdopt)
			l := tc.start(t)
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			s, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Write([]byte("queued")); err != nil {
				t.Fatal(err)
			}
			// Wait until the bytes are in s's receive queue.
			conformance.WaitFor(t, waitTimeout, "input queued", func() bool {
				rc, _ := s.(*net.TCPConn).SyscallConn()
				in := false
				rc.Control(func(fd uintptr) { in = hasInput(int(fd)) })
				return in
			})
			f, err := s.(*net.TCPConn).File()
			s.Close()
			if err != nil {
				t.Fatal(err)
			}
			if err := l.Adopt(f, 0, echo.New); err != nil {
				t.Fatal(err)
			}
			c.SetDeadline(time.Now().Add(waitTimeout))
			if err := conformance.ReadExactly(c, []byte("queued")); err != nil {
				t.Fatalf("input queued before Adopt: %v", err)
			}
		})
	}
}

// noFirstEdge drops the first event of each registration, as a poller that
// reports changes after registration only would.
type noFirstEdge struct {
	poller.Poller
	mu    sync.Mutex
	fresh map[poller.Token]bool
}

func (p *noFirstEdge) Register(fd int, tok poller.Token) error {
	p.mu.Lock()
	if p.fresh == nil {
		p.fresh = make(map[poller.Token]bool)
	}
	p.fresh[tok] = true
	p.mu.Unlock()
	return p.Poller.Register(fd, tok)
}

func (p *noFirstEdge) Wait(events []poller.Event, timeout time.Duration) (int, error) {
	n, err := p.Poller.Wait(events, timeout)
	p.mu.Lock()
	defer p.mu.Unlock()
	kept := events[:0]
	for _, ev := range events[:n] {
		if p.fresh[ev.Token] {
			delete(p.fresh, ev.Token)
			continue
		}
		kept = append(kept, ev)
	}
	return len(kept), err
}
