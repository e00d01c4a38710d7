package echo

import (
	"io"

	"github.com/edgeloop/edgeloop/reactor"
	"github.com/valyala/bytebufferpool"
)

// DefaultCap is the most output one connection may hold before it stops
// reading.
const DefaultCap = 1 << 20

// pool holds outgoing buffers between bursts.
var pool bytebufferpool.Pool

// Handler echoes one connection.
type Handler struct {
	c   reactor.Conn
	out *bytebufferpool.ByteBuffer // pending output is out.B[off:]; nil when empty
	off int
	cap int
	eof bool // the peer shut its write side
}

// New is a reactor.Factory for echo with the default cap.
func New(c reactor.Conn) reactor.Handler { return &Handler{c: c, cap: DefaultCap} }

// Factory returns a reactor.Factory for echo whose connections hold at most
// capBytes of output before they stop reading.
func Factory(capBytes int) reactor.Factory {
	if capBytes <= 0 {
		capBytes = DefaultCap
	}
	return func(c reactor.Conn) reactor.Handler { return &Handler{c: c, cap: capBytes} }
}

// Pending returns how many bytes wait to be sent.
func (h *Handler) Pending() int {
	if h.out == nil {
		return 0
	}
	return len(h.out.B) - h.off
}

// WantsRecv implements reactor.Handler: read until the peer's FIN, and not
// while the cap is full.
func (h *Handler) WantsRecv() bool { return !h.eof && h.Pending() < h.cap }

// WantsSend implements reactor.Handler.
func (h *Handler) WantsSend() bool { return h.out != nil }

// HandleRecv implements reactor.Handler.
func (h *Handler) HandleRecv() error {
	buf := h.c.ReadBuffer()
	if room := h.cap - h.Pending(); room < len(buf) {
		buf = buf[:room]
	}
	n, err := h.c.Read(buf)
	if n > 0 {
		if werr := h.send(buf[:n]); werr != nil {
			return werr
		}
	}
	switch err {
	case nil, reactor.ErrWouldBlock:
		return nil
	case io.EOF:
		h.eof = true
		if h.out == nil {
			return h.c.Close()
		}
		return nil // HandleSend closes once the rest is out
	}
	return err
}

// send writes p now if nothing is queued before it, and queues the rest.
func (h *Handler) send(p []byte) error {
	if h.out == nil {
		n, err := h.c.Write(p)
		if err != nil && err != reactor.ErrWouldBlock {
			return err
		}
		if p = p[n:]; len(p) == 0 {
			return nil
		}
		h.out = pool.Get()
	} else if h.off > 0 && h.off >= len(h.out.B)/2 {
		// Slide the unsent tail down rather than let the buffer grow
		// while a slow peer keeps it from ever emptying.
		h.out.B = h.out.B[:copy(h.out.B, h.out.B[h.off:])]
		h.off = 0
	}
	h.out.B = append(h.out.B, p...)
	return nil
}

// HandleSend implements reactor.Handler.
func (h *Handler) HandleSend() error {
	n, err := h.c.Write(h.out.B[h.off:])
	h.off += n
	if h.off == len(h.out.B) {
		h.release()
		if h.eof {
			return h.c.Close()
		}
	}
	if err != nil && err != reactor.ErrWouldBlock {
		return err
	}
	return nil
}

// HandleClose implements reactor.CloseHandler: the buffer goes back to the pool.
func (h *Handler) HandleClose(error) { h.release() }

func (h *Handler) release() {
	if h.out != nil {
		pool.Put(h.out)
		h.out, h.off = nil, 0
	}
}
