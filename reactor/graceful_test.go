package reactor_test

import (
	"bytes"
	"io"
	"testing"
	"time"

	"github.com/edgeloop/edgeloop/reactor"
	"golang.org/x/sys/unix"
)

// answerer sends its answer and closes gracefully, reading nothing: a
// time-service shape.
type answerer struct {
	c      reactor.Conn
	out    []byte
	closed chan error
}

func (a *answerer) WantsRecv() bool   { return false }
func (a *answerer) WantsSend() bool   { return len(a.out) > 0 }
func (a *answerer) HandleRecv() error { return nil }
func (a *answerer) HandleSend() error {
	n, err := a.c.Write(a.out)
	a.out = a.out[n:]
	if err == reactor.ErrWouldBlock {
		return nil
	}
	return err
}
func (a *answerer) HandleClose(err error) { a.closed <- err }

// TestCloseGracefulKeepsTheAnswer: a server that answers and hangs up while
// the client has sent bytes nobody reads must not reset the connection: the
// client gets the whole answer, then EOF, never ECONNRESET. The answer is
// larger than one write takes at once, so the close also waits for the
// handler to flush.
func TestCloseGracefulKeepsTheAnswer(t *testing.T) {
	answer := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	forPollers(t, func(t *testing.T, b string) {
		l := newLoop(t, b)
		closed := make(chan error, 1)
		addr, err := l.Listen("tcp", "127.0.0.1:0", func(c reactor.Conn) reactor.Handler {
			a := &answerer{c: c, out: answer, closed: closed}
			if err := reactor.CloseGraceful(c); err != nil {
				t.Error(err)
			}
			return a
		})
		if err != nil {
			t.Fatal(err)
		}
		nc := dialT(t, addr)
		nc.SetDeadline(time.Now().Add(waitTimeout))
		if _, err := nc.Write(make([]byte, 64<<10)); err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(nc)
		if err != nil {
			t.Fatalf("after %d of %d bytes: %v (an RST destroyed the answer?)", len(got), len(answer), err)
		}
		if !bytes.Equal(got, answer) {
			t.Fatalf("got %d bytes, want the %d-byte answer", len(got), len(answer))
		}
		nc.Close()
		if err := recv(t, closed, "HandleClose"); err != nil {
			t.Errorf("HandleClose got %v, want nil", err)
		}
	})
}

// TestCloseGracefulIsBounded: a peer that sent input and never closes its
// side does not hold the connection open beyond the linger limit.
func TestCloseGracefulIsBounded(t *testing.T) {
	reactor.SetLingerLimit(t, 100*time.Millisecond)
	forPollers(t, func(t *testing.T, b string) {
		l := newLoop(t, b)
		closed := make(chan error, 1)
		addr, err := l.Listen("tcp", "127.0.0.1:0", func(c reactor.Conn) reactor.Handler {
			reactor.CloseGraceful(c)
			return &answerer{c: c, out: []byte("bye\n"), closed: closed}
		})
		if err != nil {
			t.Fatal(err)
		}
		nc := dialT(t, addr)
		nc.Write([]byte("unread input"))
		buf := make([]byte, 4)
		nc.SetDeadline(time.Now().Add(waitTimeout))
		if _, err := io.ReadFull(nc, buf); err != nil || string(buf) != "bye\n" {
			t.Fatalf("read %q, %v", buf, err)
		}
		// The client keeps its side open: the server must close anyway.
		if err := recv(t, closed, "the server's close of a peer that never closes"); err != nil {
			t.Errorf("HandleClose got %v, want nil", err)
		}
	})
}

// TestCloseGracefulPeerNotReading: a peer that never reads leaves the
// answer in the kernel's send queue, where the graceful close would wait
// for it to be acknowledged for ever; it must end after the linger limit.
func TestCloseGracefulPeerNotReading(t *testing.T) {
	reactor.SetLingerLimit(t, 100*time.Millisecond)
	answer := bytes.Repeat([]byte("x"), 32<<10) // the kernel takes it all, the peer none
	forPollers(t, func(t *testing.T, b string) {
		l := newLoop(t, b)
		closed := make(chan error, 1)
		addr, err := l.Listen("tcp", "127.0.0.1:0", func(c reactor.Conn) reactor.Handler {
			reactor.CloseGraceful(c)
			return &answerer{c: c, out: answer, closed: closed}
		})
		if err != nil {
			t.Fatal(err)
		}
		fd := rawSocket(t)
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 2048); err != nil {
			t.Fatal(err)
		}
		rawConnect(t, fd, addr.String()) // and never read
		if err := recv(t, closed, "the close of a connection whose peer never reads"); err != nil {
			t.Errorf("HandleClose got %v, want nil", err)
		}
	})
}

// eofAnswerer reads to the peer's EOF, discarding, then sends its answer
// and closes gracefully: a request-until-EOF shape, as echo's close.
type eofAnswerer struct {
	answerer
	eof bool
}

func (a *eofAnswerer) WantsRecv() bool { return !a.eof }
func (a *eofAnswerer) HandleRecv() error {
	for {
		_, err := a.c.Read(a.c.ReadBuffer())
		switch err {
		case nil:
			continue
		case reactor.ErrWouldBlock:
			return nil
		case io.EOF:
			a.eof, a.out = true, a.answer()
			return reactor.CloseGraceful(a.c)
		}
		return err
	}
}

func (a *eofAnswerer) answer() []byte { return bytes.Repeat([]byte("answer, "), 32<<10) } // 256 KiB

// TestCloseGracefulAfterEOFClosesAtOnce: once the handler has read the
// peer's FIN, nothing can follow to draw an RST, so a graceful close need
// not wait for the kernel to send the answer: the connection closes as soon
// as the handler has handed it all to the kernel, which sends the rest.
// The client here reads nothing until the server has closed; a close that
// waited for the kernel's send queue to empty would wait for it until its
// 5 s bound. Then every byte of the answer must still arrive, and EOF.
func TestCloseGracefulAfterEOFClosesAtOnce(t *testing.T) {
	forPollers(t, func(t *testing.T, b string) {
		l := newLoop(t, b)
		closed := make(chan error, 1)
		addr, err := l.Listen("tcp", "127.0.0.1:0", func(c reactor.Conn) reactor.Handler {
			// Room in the kernel for the whole answer, so the handler
			// hands it all over at once.
			unix.SetsockoptInt(c.Fd(), unix.SOL_SOCKET, unix.SO_SNDBUF, 2<<20)
			return &eofAnswerer{answerer: answerer{c: c, closed: closed}}
		})
		if err != nil {
			t.Fatal(err)
		}
		fd := rawSocket(t)
		// A small window: most of the answer stays in the server's kernel
		// until the client reads.
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 4096)
		rawConnect(t, fd, addr.String())
		if _, err := unix.Write(fd, []byte("request")); err != nil {
			t.Fatal(err)
		}
		if err := unix.Shutdown(fd, unix.SHUT_WR); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-closed:
			if err != nil {
				t.Fatalf("HandleClose(%v), want nil", err)
			}
		case <-time.After(4 * time.Second): // under the 5 s bound of a close that waits
			t.Fatal("no close within 4 s of the handler's last write: the graceful close waited for the " +
				"kernel's send queue, which only the peer's reads empty, after the peer's FIN")
		}
		got, err := io.ReadAll(fdConn(t, fd))
		if err != nil {
			t.Fatalf("reading the answer after the close: %v", err)
		}
		if want := (&eofAnswerer{}).answer(); !bytes.Equal(got, want) {
			t.Fatalf("got %d bytes of the %d-byte answer", len(got), len(want))
		}
	})
}
