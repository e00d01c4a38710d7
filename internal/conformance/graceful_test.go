package conformance

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"

	"github.com/edgeloop/edgeloop/reactor"
	"golang.org/x/sys/unix"
)

// answerer sends out and closes gracefully, reading nothing: the shape of
// the time services.
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

// listenAnswer serves answer with CloseGraceful on a new loop.
func listenAnswer(t *testing.T, backend string, answer []byte) (net.Addr, chan error) {
	l := NewLoop(t, backend, 1)
	closed := make(chan error, 4)
	addr, err := l.Listen("tcp", "127.0.0.1:0", func(c reactor.Conn) reactor.Handler {
		if err := reactor.CloseGraceful(c); err != nil {
			t.Errorf("CloseGraceful: %v", err)
		}
		return &answerer{c: c, out: answer, closed: closed}
	})
	if err != nil {
		t.Fatal(err)
	}
	return addr, closed
}

// TestGracefulCloseUnderFlood: a client that sends 4 MiB before it reads
// anything gets the whole answer and EOF: the server discards its input
// until its FIN rather than close with input unread, which would reset the
// connection (the write fails with EPIPE or ECONNRESET).
func TestGracefulCloseUnderFlood(t *testing.T) {
	answer := []byte("the time is now\n")
	ForEachBackend(t, GracefulFlood, func(t *testing.T, backend string) {
		addr, _ := listenAnswer(t, backend, answer)
		for i := 0; i < 3; i++ {
			nc := DialTCP(t, addr.String())
			nc.SetDeadline(time.Now().Add(20 * time.Second))
			if _, err := nc.Write(make([]byte, 4<<20)); err != nil {
				t.Fatalf("try %d: writing 4 MiB before reading: %v (the server reset the connection)", i, err)
			}
			nc.CloseWrite()
			got, err := io.ReadAll(nc)
			if err != nil || !bytes.Equal(got, answer) {
				t.Fatalf("try %d: read %q, %v; want the answer and EOF", i, got, err)
			}
			nc.Close()
		}
	})
}

// TestGracefulCloseBounded: a peer that never reads keeps the answer in the
// server's send queue; the close must still end, within the linger limit
// (5 s) and a margin, not wait for an acknowledgement that never comes.
func TestGracefulCloseBounded(t *testing.T) {
	answer := bytes.Repeat([]byte("x"), 32<<10) // the kernel takes it, the peer reads none
	ForEachBackend(t, GracefulBound, func(t *testing.T, backend string) {
		t.Parallel() // each waits out the 5 s limit
		addr, closed := listenAnswer(t, backend, answer)
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(fd)
		unix.CloseOnExec(fd)
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 2048)
		ta := addr.(*net.TCPAddr)
		sa := &unix.SockaddrInet4{Port: ta.Port}
		copy(sa.Addr[:], ta.IP.To4())
		if err := unix.Connect(fd, sa); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-closed:
			if err != nil {
				t.Errorf("HandleClose(%v), want nil", err)
			}
		case <-time.After(15 * time.Second):
			t.Fatal("a graceful close whose peer never reads was still open after 15 s")
		}
	})
}
