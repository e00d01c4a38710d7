package conformance

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/edgeloop/edgeloop/protocols/echo"
	"github.com/edgeloop/edgeloop/reactor"
)

// Calls into the Loop from its own goroutine.

// greeter sends msg as soon as it is connected, then reads and drops its
// input until the peer closes.
type greeter struct {
	c    reactor.Conn
	msg  []byte
	sent int
}

func (g *greeter) WantsRecv() bool { return true }
func (g *greeter) WantsSend() bool { return g.sent < len(g.msg) }

func (g *greeter) HandleSend() error {
	n, err := g.c.Write(g.msg[g.sent:])
	g.sent += n
	if err != nil && err != reactor.ErrWouldBlock {
		return err
	}
	return nil
}

func (g *greeter) HandleRecv() error {
	for {
		_, err := g.c.Read(g.c.ReadBuffer())
		switch err {
		case nil:
			continue
		case reactor.ErrWouldBlock:
			return nil
		case io.EOF:
			return g.c.Close()
		}
		return err
	}
}

// shutdownWithin runs l.Shutdown with a ctx of grace and fails t unless it
// returns within grace and a second more, with nil or ctx's error.
func shutdownWithin(t *testing.T, l *reactor.Loop, grace time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	serr := make(chan error, 1)
	start := time.Now()
	go func() { serr <- l.Shutdown(ctx) }()
	select {
	case err := <-serr:
		t.Logf("Shutdown returned %v after %v", err, time.Since(start).Round(time.Millisecond))
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Shutdown: %v, want nil or %v", err, context.DeadlineExceeded)
		}
	case <-time.After(grace + time.Second):
		t.Errorf("Shutdown had not returned 1s after its %v ctx ended", grace)
	}
}

// TestDialFromFactory: a Factory that dials, as a proxy dials its upstream
// when its downstream connection arrives, must not hang the loop: the
// upstream connection is served (its handler sends a greeting), the
// downstream one echoes, and Shutdown(ctx) returns by ctx's deadline. Dial
// used to post the connect to the loop and wait for it, which from the
// loop's own goroutine waited forever, and Shutdown never returned either.
func TestDialFromFactory(t *testing.T) {
	ForEachBackend(t, DialFromLoop, func(t *testing.T, backend string) {
		l := NewLoop(t, backend, 1)
		up, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer up.Close()
		dialErrs := make(chan error, 1)
		proxy := func(c reactor.Conn) reactor.Handler {
			err := l.Dial("tcp", up.Addr().String(), func(uc reactor.Conn) reactor.Handler {
				return &greeter{c: uc, msg: []byte("upstream\n")}
			})
			select {
			case dialErrs <- err:
			default:
			}
			return echo.New(c)
		}
		addr := Listen(t, l, proxy)
		down := DialTCP(t, addr)

		accepted := make(chan net.Conn, 1)
		go func() {
			uc, err := up.Accept()
			if err == nil {
				accepted <- uc
			}
		}()
		select {
		case err := <-dialErrs:
			if err != nil {
				t.Fatalf("Dial from the Factory: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Dial called from the Factory had not returned after 5s: it waits for its own loop")
			shutdownWithin(t, l, 2*time.Second) // even so
			return
		}
		var uc net.Conn
		select {
		case uc = <-accepted:
			defer uc.Close()
		case <-time.After(5 * time.Second):
			t.Fatal("the upstream connection dialled from the Factory had not arrived after 5s")
		}
		uc.SetReadDeadline(time.Now().Add(5 * time.Second))
		if line, err := bufio.NewReader(uc).ReadString('\n'); err != nil || line != "upstream\n" {
			t.Fatalf("upstream greeting: %q, %v; want \"upstream\\n\" (the upstream handler was never served)", line, err)
		}
		if err := Exchange(down, []byte("downstream"), nil, time.Now().Add(5*time.Second)); err != nil {
			t.Fatalf("downstream echo: %v", err)
		}
		shutdownWithin(t, l, 2*time.Second)
	})
}

// TestListenFromHandler: a handler call may Listen: HandleRecv, asked by
// its peer, listens on a new port and replies with the address, which then
// echoes. Listen used to wait for every loop to register the socket, which
// from a loop's own goroutine waited forever.
func TestListenFromHandler(t *testing.T) {
	ForEachBackend(t, ListenFromLoop, func(t *testing.T, backend string) {
		l := NewLoop(t, backend, 1)
		addr := Listen(t, l, func(c reactor.Conn) reactor.Handler {
			return &listenOnAsk{c: c, l: l}
		})
		c := DialTCP(t, addr)
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write([]byte("listen\n")); err != nil {
			t.Fatal(err)
		}
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil {
			t.Fatalf("no reply within 5s (%v): the loop hangs in Listen called from HandleRecv", err)
		}
		line = strings.TrimSuffix(line, "\n")
		if rest, ok := strings.CutPrefix(line, "error: "); ok {
			t.Fatalf("Listen from HandleRecv: %s", rest)
		}
		if err := Exchange(DialTCP(t, line), []byte("hello"), nil, time.Now().Add(5*time.Second)); err != nil {
			t.Fatalf("echo on the address Listen returned inside HandleRecv (%s): %v", line, err)
		}
	})
}

// listenOnAsk listens on 127.0.0.1:0 with echo when its peer's input
// arrives, and replies with the address or the error, one line.
type listenOnAsk struct {
	c     reactor.Conn
	l     *reactor.Loop
	asked bool
}

func (h *listenOnAsk) WantsRecv() bool   { return !h.asked }
func (h *listenOnAsk) WantsSend() bool   { return false }
func (h *listenOnAsk) HandleSend() error { return nil }

func (h *listenOnAsk) HandleRecv() error {
	if _, err := h.c.Read(h.c.ReadBuffer()); err != nil {
		if err == reactor.ErrWouldBlock {
			return nil
		}
		return err
	}
	h.asked = true
	reply := "error: "
	if a, err := h.l.Listen("tcp", "127.0.0.1:0", echo.New); err != nil {
		reply += err.Error()
	} else {
		reply = a.String()
	}
	_, err := h.c.Write([]byte(reply + "\n")) // a few bytes into an empty socket
	return err
}
