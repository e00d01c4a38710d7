package conformance

import (
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/edgeloop/edgeloop/backend"
	"github.com/edgeloop/edgeloop/protocols/echo"
	"github.com/edgeloop/edgeloop/reactor"
)

// mover echoes its input one byte at a time, and at the byte '|' detaches
// its connection (after echoing it) and hands the file to the test: it
// reads nothing past the mark, so what follows it stays in the kernel and
// must reach the adopting loop.
type mover struct {
	c      reactor.Conn
	moved  chan<- *os.File
	closed chan<- error
}

func (m *mover) WantsRecv() bool   { return true }
func (m *mover) WantsSend() bool   { return false }
func (m *mover) HandleSend() error { return nil }

func (m *mover) HandleRecv() error {
	var b [1]byte
	for {
		n, err := m.c.Read(b[:])
		if errors.Is(err, reactor.ErrWouldBlock) {
			return nil
		}
		if err != nil {
			return err
		}
		if _, err := m.c.Write(b[:n]); err != nil {
			return fmt.Errorf("echo of a byte: %w", err) // a fresh socket takes a byte
		}
		if b[0] == '|' {
			f, err := reactor.Detach(m.c)
			if err != nil {
				return err
			}
			m.moved <- f
			return nil
		}
	}
}

func (m *mover) HandleClose(err error) { m.closed <- err }

// TestDetachAdopt: a connection detached mid-conversation on one Loop and
// adopted by another keeps its byte stream: what the client sent before
// the move, during it (input waiting in the kernel when the adopting loop
// registers it, with no edge to come) and after it is echoed once, in
// order, and the first handler hears ErrDetached. Every pair of backends
// that can detach and adopt.
func TestDetachAdopt(t *testing.T) {
	ForEachBackend(t, DetachAdopt, func(t *testing.T, from string) {
		for _, to := range backend.Names() {
			t.Run("to="+to, func(t *testing.T) {
				SkipIfLimited(t, to, DetachAdopt)
				detachAdopt(t, from, to)
			})
		}
	})
}

func detachAdopt(t *testing.T, from, to string) {
	moved := make(chan *os.File, 1)
	closed := make(chan error, 1)
	_, addr := Start(t, from, 1, func(c reactor.Conn) reactor.Handler {
		return &mover{c: c, moved: moved, closed: closed}
	})
	dst := NewLoop(t, to, 2)
	c := DialTCP(t, addr)
	deadline := time.Now().Add(DialTimeout)
	c.SetDeadline(deadline)

	// The net backend's goroutine reads whatever has arrived, beyond the
	// mark too, and Detach refuses once it holds input the handler has not
	// taken: there, the client sends the rest only after the echo of the mark.
	during := "during the move"
	if from == "net" {
		during = ""
	}
	if _, err := c.Write([]byte("before|" + during)); err != nil {
		t.Fatal(err)
	}
	if err := ReadExactly(c, []byte("before|")); err != nil {
		t.Fatalf("echo before the move: %v", err)
	}
	// The file goes on moved during the handler call, HandleClose after it.
	// A close for any other reason comes with no file.
	var f *os.File
	var closeErr error
	select {
	case f = <-moved:
		closeErr = recvBy(t, closed, deadline, "HandleClose after Detach")
	case closeErr = <-closed:
		if errors.Is(closeErr, reactor.ErrDetached) {
			f = recvBy(t, moved, deadline, "the detached file")
		}
	case <-time.After(time.Until(deadline)):
		t.Fatal("no detach")
	}
	if !errors.Is(closeErr, reactor.ErrDetached) {
		t.Fatalf("HandleClose(%v), want ErrDetached", closeErr)
	}
	if err := dst.Adopt(f, -1, echo.New); err != nil {
		t.Fatalf("Adopt: %v", err)
	}
	if err := ReadExactly(c, []byte(during)); err != nil {
		t.Fatalf("echo of the input that waited in the kernel: %v", err)
	}
	if _, err := c.Write([]byte("after")); err != nil {
		t.Fatal(err)
	}
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if err := ReadToEOF(c, []byte("after")); err != nil {
		t.Fatalf("echo after the move: %v", err)
	}
}

// recvBy receives from ch, or fails t at deadline.
func recvBy[T any](t *testing.T, ch <-chan T, deadline time.Time, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(time.Until(deadline)):
		t.Fatalf("timed out waiting for %s", what)
	}
	panic("unreachable")
}
