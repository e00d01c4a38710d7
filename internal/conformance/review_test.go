package conformance

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgeloop/edgeloop/protocols/echo"
	"github.com/edgeloop/edgeloop/reactor"
	"golang.org/x/sys/unix"
)

// These tests come from a review that tried the code as a new user and as an
// attacker; each is named for what it found broken.

// nothing wants nothing: a dialled connection that only has to exist.
type nothing struct{}

func (nothing) WantsRecv() bool   { return false }
func (nothing) WantsSend() bool   { return false }
func (nothing) HandleRecv() error { return nil }
func (nothing) HandleSend() error { return nil }

// TestShutdownAbandonsPendingConnect: a connect that cannot complete (the
// listener's accept queue is full, so the kernel drops the SYNs) must not
// keep Shutdown waiting until its deadline, and Done must close after it.
func TestShutdownAbandonsPendingConnect(t *testing.T) {
	ForEachBackend(t, PendingConnect, func(t *testing.T, backend string) {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(fd)
		if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
			t.Fatal(err)
		}
		if err := unix.Listen(fd, 0); err != nil {
			t.Fatal(err)
		}
		sa, err := unix.Getsockname(fd)
		if err != nil {
			t.Fatal(err)
		}
		addr := (&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: sa.(*unix.SockaddrInet4).Port}).String()
		// Fill the accept queue; nobody accepts.
		for range 4 {
			if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
				defer c.Close()
			}
		}
		l := NewLoop(t, backend, 1)
		closed := make(chan error, 1)
		if err := l.Dial("tcp", addr, func(reactor.Conn) reactor.Handler {
			return &closeSpy{Handler: nothing{}, closed: closed}
		}); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		start := time.Now()
		if err := l.Shutdown(ctx); err != nil {
			t.Fatalf("Shutdown with a connect in progress: %v after %v", err, time.Since(start))
		}
		select {
		case <-l.Done():
		case <-time.After(DialTimeout):
			t.Fatalf("Done still open %v after Shutdown returned", DialTimeout)
		}
		select {
		case <-closed:
		case <-time.After(DialTimeout):
			t.Fatal("the abandoned connection's HandleClose never ran")
		}
	})
}

// closeSpy passes HandleClose's error on.
type closeSpy struct {
	reactor.Handler
	closed chan<- error
}

func (h *closeSpy) HandleClose(err error) {
	select {
	case h.closed <- err:
	default:
	}
}

// inCallSpy records whether HandleClose ran while a Close call was under way.
type inCallSpy struct {
	reactor.Handler
	inClose *atomic.Bool
	res     chan bool
}

func (h *inCallSpy) HandleClose(error) { h.res <- h.inClose.Load() }

// TestCloseFromPostReportsAfter: Close called from a function Conn.Post
// runs (outside the connection's own handler calls) must not run
// HandleClose inside that Close: on gnet, Close called gnet's own Close,
// which ran OnClose at once.
func TestCloseFromPostReportsAfter(t *testing.T) {
	ForEachBackend(t, ClosePosted, func(t *testing.T, backend string) {
		var inClose atomic.Bool
		res := make(chan bool, 1)
		conns := make(chan reactor.Conn, 1)
		_, addr := Start(t, backend, 1, func(c reactor.Conn) reactor.Handler {
			conns <- c
			return &inCallSpy{Handler: echo.New(c), inClose: &inClose, res: res}
		})
		client := DialTCP(t, addr)
		defer client.Close()
		var c reactor.Conn
		select {
		case c = <-conns:
		case <-time.After(DialTimeout):
			t.Fatal("no connection")
		}
		if err := c.Post(func() {
			inClose.Store(true)
			c.Close()
			inClose.Store(false)
		}); err != nil {
			t.Fatal(err)
		}
		select {
		case during := <-res:
			if during {
				t.Fatal("HandleClose ran inside Close, called from a posted function")
			}
		case <-time.After(DialTimeout):
			t.Fatal("HandleClose never ran")
		}
	})
}

// TestShutdownManyIdleListeners: eight idle listeners shut down well within
// two seconds; gnet stopped its engines one after another, at 500 ms each.
func TestShutdownManyIdleListeners(t *testing.T) {
	ForEachBackend(t, ManyListeners, func(t *testing.T, backend string) {
		l := NewLoop(t, backend, 1)
		for range 8 {
			Listen(t, l, echo.New)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		start := time.Now()
		if err := l.Shutdown(ctx); err != nil {
			t.Fatalf("Shutdown of 8 idle listeners: %v after %v", err, time.Since(start))
		}
	})
}

// TestRelistenOverTimeWait: a server that closed its connections first
// leaves them in TIME_WAIT on its port; a new server on that port must
// start, as every Go server does (SO_REUSEADDR). gnet's did not.
func TestRelistenOverTimeWait(t *testing.T) {
	ForEachBackend(t, TimeWaitRelisten, func(t *testing.T, backend string) {
		l, addr := Start(t, backend, 1, func(c reactor.Conn) reactor.Handler {
			return &closer{c: c} // the server closes first: TIME_WAIT is on its side
		})
		client := DialTCP(t, addr)
		client.SetReadDeadline(time.Now().Add(DialTimeout))
		if _, err := client.Read(make([]byte, 1)); err == nil {
			t.Fatal("the server did not close")
		}
		client.Close()
		ctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
		defer cancel()
		if err := l.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
		l2 := NewLoop(t, backend, 1)
		if _, err := l2.Listen("tcp", addr, echo.New); err != nil {
			t.Fatalf("a new server on %s, which has a TIME_WAIT socket: %v", addr, err)
		}
	})
}

// closer closes its connection at once.
type closer struct{ c reactor.Conn }

func (h *closer) WantsRecv() bool   { return false }
func (h *closer) WantsSend() bool   { return true }
func (h *closer) HandleRecv() error { return nil }
func (h *closer) HandleSend() error { return h.c.Close() }

// spinner wants to send and never writes, until stop: a handler bug that
// must cost its own connection, not the loop's others.
type spinner struct{ stop *atomic.Bool }

func (spinner) WantsRecv() bool   { return false }
func (h spinner) WantsSend() bool { return !h.stop.Load() }
func (spinner) HandleRecv() error { return nil }
func (spinner) HandleSend() error { return nil }

// TestSpinningSenderStarvesNobody: beside a connection whose handler wants to
// send but writes nothing, an echo on the same loop keeps answering. gnet's
// adapter called such a handler without bound inside one callback.
func TestSpinningSenderStarvesNobody(t *testing.T) {
	ForEachBackend(t, SpinningSender, func(t *testing.T, backend string) {
		var n atomic.Int32
		var stop atomic.Bool
		_, addr := Start(t, backend, 1, func(c reactor.Conn) reactor.Handler {
			if n.Add(1) == 1 {
				return spinner{&stop}
			}
			return echo.New(c)
		})
		t.Cleanup(func() { stop.Store(true) }) // before Start's Shutdown: a spinner never flushes
		spin := DialTCP(t, addr)
		defer spin.Close()
		WaitFor(t, DialTimeout, "the spinning connection", func() bool { return n.Load() >= 1 })
		c := DialTCP(t, addr)
		defer c.Close()
		for i := range 5 {
			if err := Exchange(c, Payload(uint64(i), 1024), nil, time.Now().Add(5*time.Second)); err != nil {
				t.Fatalf("echo beside a spinning handler, round %d: %v", i, err)
			}
		}
	})
}

// TestListenErrorSaysListenOnce: a Listen on a held port fails with
// EADDRINUSE and a message that names the operation once; net and gnet's
// errors said "listen tcp ADDR: listen tcp ADDR: bind: ...".
func TestListenErrorSaysListenOnce(t *testing.T) {
	ForEachBackend(t, ListenErrorText, func(t *testing.T, backend string) {
		held, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer held.Close()
		l := NewLoop(t, backend, 1)
		_, err = l.Listen("tcp", held.Addr().String(), echo.New)
		if !errors.Is(err, unix.EADDRINUSE) {
			t.Fatalf("Listen on a held port: %v, want EADDRINUSE", err)
		}
		if n := strings.Count(err.Error(), "listen tcp"); n != 1 {
			t.Fatalf("error %q says \"listen tcp\" %d times", err, n)
		}
	})
}
