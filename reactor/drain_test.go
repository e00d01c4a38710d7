package reactor_test

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/edgeloop/edgeloop/reactor"
)

// fillOnce reads exactly one buffer's worth (the peer sends that much), then
// starts the drain while the loop still believes the socket readable.
type fillOnce struct {
	c       reactor.Conn
	buf     []byte
	done    bool
	drained chan struct{} // closed once the drain began
}

func (h *fillOnce) WantsRecv() bool { return true } // never holds the peer back
func (h *fillOnce) WantsSend() bool { return false }
func (h *fillOnce) HandleSend() error {
	return nil
}

func (h *fillOnce) HandleRecv() error {
	n, err := h.c.Read(h.buf)
	if err != nil && !errors.Is(err, reactor.ErrWouldBlock) {
		return err
	}
	if n == len(h.buf) && !reactor.Readable(h.c) {
		return errors.New("a read that filled the buffer cleared readable")
	}
	if n == len(h.buf) && !h.done {
		// The read filled the buffer, so "readable" stays set although the
		// socket is empty: the state the drain must not take for a peer
		// still sending.
		h.done = true
		reactor.BeginDrain(h.c)
		close(h.drained)
	}
	return nil
}

// TestShutdownIdlePeerAfterFullRead is the regression test for Shutdown
// waiting its whole deadline on an idle peer: the drain took the readable
// flag, which a read that filled the buffer leaves set, for input waiting,
// marked the peer active, and waited for a FIN that an idle client never
// sends until it sees ours and the close.
func TestShutdownIdlePeerAfterFullRead(t *testing.T) {
	forPollers(t, func(t *testing.T, name string) {
		const size = 4096
		l := newLoop(t, name, reactor.WithReadBuffer(size))
		drained := make(chan struct{})
		addr, err := l.Listen("tcp", "127.0.0.1:0", func(c reactor.Conn) reactor.Handler {
			return &fillOnce{c: c, buf: make([]byte, size), drained: drained}
		})
		if err != nil {
			t.Fatal(err)
		}
		c, err := net.Dial("tcp", addr.String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Write(make([]byte, size)); err != nil {
			t.Fatal(err)
		}
		// The client is idle from here on: it reads, and closes at EOF.
		eof := make(chan error, 1)
		go func() {
			c.SetReadDeadline(time.Now().Add(waitTimeout))
			_, err := io.Copy(io.Discard, c)
			eof <- err
		}()
		// Shutdown only once the handler took all the input: input never
		// handled would rightly mark the peer as mid-conversation.
		recv(t, drained, "the handler's full read")
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		start := time.Now()
		if err := l.Shutdown(ctx); err != nil {
			t.Fatalf("Shutdown with an idle peer: %v after %v (the drain waited for its FIN)", err, time.Since(start))
		}
		if err := recv(t, eof, "the client's EOF"); err != nil {
			t.Fatalf("client: %v, want a clean EOF", err)
		}
	})
}
