package frame_test

import (
	"bytes"
	"errors"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgeloop/edgeloop/internal/conformance"
	"github.com/edgeloop/edgeloop/protocols/frame"
	"github.com/edgeloop/edgeloop/reactor"
)

// TestBackpressureHoldsAtCap: a peer that sends questions and reads no
// answer is held back: the server stops reading once its Outbox is full,
// so the peer's writes block long before its stream is sent, and the
// server holds about the cap. Once the peer reads, every answer comes, in
// order: nothing was lost while the server waited.
func TestBackpressureHoldsAtCap(t *testing.T) {
	const (
		capBytes = 64 << 10
		question = "is the queue full yet?"
		count    = 1 << 20 // 22 MiB of questions
	)
	conformance.ForEachBackend(t, conformance.Backpressure, func(t *testing.T, backend string) {
		var most atomic.Int64
		f := func(c reactor.Conn) reactor.Handler {
			h := frame.NewHandler(c, frame.Delimited([]byte("?"), 64), func(msg []byte, out *frame.Outbox) error {
				out.Push(msg[:len(msg)-1])
				out.PushString(".")
				if p := int64(out.Pending()); p > most.Load() {
					most.Store(p) // only this connection's loop goroutine writes it
				}
				return nil
			})
			h.Outbox.Init(c, capBytes)
			return h
		}
		_, addr := conformance.Start(t, backend, 1, f)
		c := conformance.DialTCP(t, addr)
		stream := bytes.Repeat([]byte(question), count)
		c.SetWriteDeadline(time.Now().Add(time.Second))
		n, err := c.Write(stream)
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("wrote %d of %d bytes without reading (err %v): the server read on with its queue full", n, len(stream), err)
		}
		t.Logf("the peer wrote %d of %d bytes before the server stopped reading; the queue held at most %d bytes",
			n, len(stream), most.Load())
		if m := most.Load(); m > int64(capBytes+len(question)) {
			t.Fatalf("the queue held %d bytes, over the cap (%d) and one answer", m, capBytes)
		}
		// Now read: the rest of the stream goes, and every answer comes.
		c.SetDeadline(time.Now().Add(60 * time.Second))
		werr := make(chan error, 1)
		go func() {
			_, err := c.Write(stream[n:])
			werr <- err
		}()
		want := bytes.Repeat([]byte("is the queue full yet."), count)
		if err := conformance.ReadExactly(c, want); err != nil {
			t.Fatal(err)
		}
		if err := <-werr; err != nil {
			t.Fatal(err)
		}
	})
}
