package reactor_test

import (
	"errors"
	"syscall"
	"testing"

	"github.com/edgeloop/edgeloop/internal/conformance"
	"github.com/edgeloop/edgeloop/reactor"
)

// inert wants nothing, ever: no input, no output. It stands for a handler
// that holds a peer back (waiting for a timer, another connection or a
// posted function) while the peer goes away.
type inert struct {
	closeErr chan error
}

func (h *inert) WantsRecv() bool       { return false }
func (h *inert) WantsSend() bool       { return false }
func (h *inert) HandleRecv() error     { return nil }
func (h *inert) HandleSend() error     { return nil }
func (h *inert) HandleClose(err error) { h.closeErr <- err }

// TestResetClosesConnWantingNothing: a peer that resets a connection
// (SO_LINGER 0, then close) while the handler wants neither input nor
// output: the loop calls no handler method, but it must close the
// connection, and HandleClose must hear why, ECONNRESET from the socket's
// pending error (SO_ERROR), not io.EOF. Otherwise the descriptor leaks
// until Shutdown. gnetpoll (level-triggered) drops a connection that wants
// nothing from its kernel interest set; it must still hear the reset.
func TestResetClosesConnWantingNothing(t *testing.T) {
	forPollers(t, func(t *testing.T, backend string) {
		l := newLoop(t, backend)
		hs := make(chan *inert, 1)
		addr := conformance.Listen(t, l, func(c reactor.Conn) reactor.Handler {
			h := &inert{closeErr: make(chan error, 1)}
			hs <- h
			return h
		})
		c := conformance.DialTCP(t, addr)
		h := recv(t, hs, "the server's handler")
		syncLoop(t, l) // its first serve, wanting nothing, is over
		if err := c.SetLinger(0); err != nil {
			t.Fatal(err)
		}
		c.Close() // RST
		select {
		case err := <-h.closeErr:
			if !errors.Is(err, syscall.ECONNRESET) {
				t.Errorf("HandleClose(%v), want an error wrapping ECONNRESET: the loop did not report the socket's pending error (SO_ERROR)", err)
			}
		case <-timeout():
			t.Fatalf("no HandleClose within %v of the peer's reset: a hang-up on a connection whose handler wants nothing was not closed, and its descriptor leaks", waitTimeout)
		}
	})
}
