package conformance

import (
	"errors"
	"fmt"
	"net"
	"reflect"
	"syscall"
	"testing"
	"time"

	"github.com/edgeloop/edgeloop/protocols/echo"
	"github.com/edgeloop/edgeloop/reactor"
)

// TestListenNilFactory: Listen and Dial with a nil Factory return
// ErrNilFactory, and the Loop goes on serving. Listen used to accept it, and
// the first connection then panicked on the loop goroutine.
func TestListenNilFactory(t *testing.T) {
	ForEachBackend(t, NilFactory, func(t *testing.T, backend string) {
		l := NewLoop(t, backend, 1)
		if a, err := l.Listen("tcp", "127.0.0.1:0", nil); !errors.Is(err, reactor.ErrNilFactory) {
			t.Errorf("Listen with a nil Factory = %v, %v; want ErrNilFactory", a, err)
		}
		addr := Listen(t, l, echo.New)
		if err := l.Dial("tcp", addr, nil); !errors.Is(err, reactor.ErrNilFactory) {
			t.Errorf("Dial with a nil Factory = %v; want ErrNilFactory", err)
		}
		if err := Exchange(DialTCP(t, addr), []byte("hello"), nil, time.Now().Add(5*time.Second)); err != nil {
			t.Errorf("echo after the nil Factories: %v", err)
		}
	})
}

// dialSeen is what a dial's Factory got from its Conn.
type dialSeen struct {
	str      string
	local    net.Addr
	n        int
	werr     error
	panicked any
}

// typedNil reports whether a is a nil pointer inside a non-nil net.Addr.
func typedNil(a net.Addr) bool {
	v := reflect.ValueOf(a)
	return a != nil && v.Kind() == reflect.Pointer && v.IsNil()
}

// TestDialFactoryConn: the Factory of a Loop.Dial may use its Conn: String,
// LocalAddr and Write neither panic nor lie, for a connect that fails (to a
// closed port) and for one that succeeds, where LocalAddr is the address the
// peer sees and what Write took arrives. The net backend used to run the
// Factory before it connected, with a nil net.Conn behind the Conn.
func TestDialFactoryConn(t *testing.T) {
	ForEachBackend(t, DialConn, func(t *testing.T, backend string) {
		l := NewLoop(t, backend, 1)
		dial := func(t *testing.T, addr string) dialSeen {
			t.Helper()
			seen := make(chan dialSeen, 1)
			err := l.Dial("tcp", addr, func(c reactor.Conn) reactor.Handler {
				var s dialSeen
				func() {
					defer func() { s.panicked = recover() }()
					s.str = c.String()
					s.local = c.LocalAddr()
					s.n, s.werr = c.Write([]byte("hello"))
				}()
				seen <- s
				return &greeter{c: c, msg: []byte("hello")[max(s.n, 0):]}
			})
			if err != nil {
				t.Fatalf("Dial: %v", err)
			}
			select {
			case s := <-seen:
				if s.panicked != nil {
					t.Fatalf("the Factory's Conn panicked: %v", s.panicked)
				}
				t.Logf("in the Factory: String %q, LocalAddr %v, Write %d, %v", s.str, s.local, s.n, s.werr)
				if s.str == "" {
					t.Errorf("String() is empty")
				}
				if typedNil(s.local) {
					t.Errorf("LocalAddr() is a nil %T inside a non-nil net.Addr", s.local)
				}
				return s
			case <-time.After(5 * time.Second):
				t.Fatal("the Factory was not called within 5s")
				return dialSeen{}
			}
		}

		t.Run("refused", func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			closed := ln.Addr().String()
			ln.Close()
			if s := dial(t, closed); s.werr == nil {
				t.Errorf("Write on a connection refused = %d, nil; want an error", s.n)
			}
		})

		t.Run("established", func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			s := dial(t, ln.Addr().String())
			if s.werr != nil && !errors.Is(s.werr, reactor.ErrWouldBlock) {
				t.Errorf("Write in the Factory: %v", s.werr)
			}
			ln.(*net.TCPListener).SetDeadline(time.Now().Add(5 * time.Second))
			peer, err := ln.Accept()
			if err != nil {
				t.Fatalf("accept: %v", err)
			}
			defer peer.Close()
			if s.local == nil || s.local.String() != peer.RemoteAddr().String() {
				t.Errorf("LocalAddr() in the Factory = %v; the peer sees %v", s.local, peer.RemoteAddr())
			}
			peer.SetReadDeadline(time.Now().Add(5 * time.Second))
			if err := ReadExactly(peer, []byte("hello")); err != nil {
				t.Errorf("what the Factory wrote: %v", err)
			}
		})
	})
}

// TestConnStringUnique: Conn.String names one connection in the process,
// also across the loops of one Loop. With two loops, connections are made
// one after another, each closed before the next so that descriptor numbers
// are reused, until both loops (told apart by the goroutine that runs the
// Factory) have some; no two may share a name. String used to leave the
// loop out, and each loop counts its own generations, so the first
// connection of each loop was "conn(fd=N gen=3)" alike.
func TestConnStringUnique(t *testing.T) {
	const maxConns = 64
	ForEachTransport(t, ConnString, func(t *testing.T, backend string, tr Transport) {
		type seen struct {
			name string
			g    uint64
		}
		seenCh := make(chan seen, 1)
		p := &probe{}
		mk := p.echo(echo.DefaultCap)
		l := NewLoop(t, backend, 2)
		addr := ListenOn(t, l, tr, func(c reactor.Conn) reactor.Handler {
			seenCh <- seen{c.String(), goid()}
			return mk(c)
		})
		names := make(map[string]int)
		loops := make(map[uint64]int)
		i := 0
		for ; i < maxConns && len(loops) < 2; i++ {
			c, err := DialStream(addr)
			if err != nil {
				t.Fatal(err)
			}
			if err := Exchange(c, []byte("x"), nil, time.Now().Add(5*time.Second)); err != nil {
				c.Close()
				t.Fatalf("conn %d: %v", i, err)
			}
			var s seen
			select {
			case s = <-seenCh:
			case <-time.After(5 * time.Second):
				t.Fatal("the Factory did not report")
			}
			c.Close()
			WaitFor(t, 5*time.Second, fmt.Sprintf("the server to close conn %d", i), func() bool {
				return p.closed.Load() == int64(i+1)
			})
			loops[s.g]++
			if prev, dup := names[s.name]; dup {
				t.Errorf("conns %d and %d, on goroutines %v, are both %q", prev, i, loops, s.name)
			}
			names[s.name] = i
		}
		if len(loops) < 2 {
			t.Fatalf("all %d connections were made on one goroutine: no second loop to compare", i)
		}
		t.Logf("%d connections, %d distinct names, per goroutine %v", i, len(names), loops)
	})
}

// TestListenPortInUse: a second server on a port a first one holds fails
// with EADDRINUSE, whatever the number of loops of either. With several
// loops each listener sets SO_REUSEPORT, which lets any process of the user
// join the port's group: gnet with two loops used to join the first
// server's group and take half its connections.
func TestListenPortInUse(t *testing.T) {
	ForEachTransport(t, PortInUse, func(t *testing.T, backend string, tr Transport) {
		for _, tc := range []struct{ first, second int }{{1, 1}, {2, 2}, {1, 2}, {2, 1}} {
			t.Run(fmt.Sprintf("loops=%d,%d", tc.first, tc.second), func(t *testing.T) {
				_, addr := StartOn(t, backend, tr, tc.first, echo.New)
				l2 := NewLoop(t, backend, tc.second)
				network, _ := Split(addr)
				a, err := l2.Listen(network, addr, echo.New)
				if !errors.Is(err, syscall.EADDRINUSE) {
					t.Errorf("second Listen on %s = %v, %v; want EADDRINUSE", addr, a, err)
				}
				// The first server still serves: the second took nothing.
				if err := Exchange(Connect(t, addr), []byte("still here"), nil, time.Now().Add(10*time.Second)); err != nil {
					t.Errorf("the first server after the second Listen: %v", err)
				}
			})
		}
	})
}
