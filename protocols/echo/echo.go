package echo

import (
	"io"

	"github.com/edgeloop/edgeloop/internal/memreturn"
	"github.com/edgeloop/edgeloop/reactor"
	"github.com/valyala/bytebufferpool"
)

// DefaultCap is the most output one connection may hold before it stops
// reading.
const DefaultCap = 1 << 20

// pool holds outgoing buffers between bursts, those of up to poolMax
// bytes only.
var pool bytebufferpool.Pool

// poolMax is the largest outgoing buffer kept in the pool: the loop's read
// buffer (64 KiB), the most that one read brings in, which is what a burst
// the socket does not take at once usually leaves. A bigger buffer belongs
// to a peer that read slower than it wrote; it is dropped when it empties,
// and reported to memreturn so that its pages go back to the OS once the
// server is quiet. Kept in the pool, it would stay resident until two
// collections have run (sync.Pool's victim cache), and an idle server runs
// none: bytebufferpool drops big buffers itself only after calibrating,
// which takes 42000 Puts of one size class, and then by their length at Put
// rather than their capacity.
const poolMax = 64 << 10

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
// HandleRecv reads no more than the room under the cap, so the unsent
// output and p together never exceed it.
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
	}
	if len(h.out.B)+len(p) > cap(h.out.B) {
		h.grow(len(p))
	}
	h.out.B = append(h.out.B, p...)
	return nil
}

// grow makes room for n more bytes of output: first by sliding the unsent
// tail to the front, over what was sent, then if that is not enough by
// doubling the buffer up to poolMax, and past that straight to the cap.
// The buffer's capacity stays within the cap, so a peer held at the cap
// costs the cap and not twice it. Going straight to the cap leaves no
// garbage of 128 KiB to 512 KiB buffers behind (doubling did: about the
// cap again per slow peer, resident until the next collection).
func (h *Handler) grow(n int) {
	b := h.out.B
	if h.off > 0 {
		// Sliding copies the unsent bytes, no more than the cap, once per
		// read that would not fit: each follows a send that made room.
		b = b[:copy(b, b[h.off:])]
		h.off = 0
	}
	if need := len(b) + n; need > cap(b) {
		size := h.cap
		if need <= poolMax {
			size = min(max(2*cap(b), need), poolMax)
		}
		nb := make([]byte, len(b), max(size, need))
		copy(nb, b)
		if cap(b) > poolMax {
			memreturn.Released(cap(b))
		}
		b = nb
	}
	h.out.B = b
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

// release gives the emptied buffer back: to the pool if it is of the usual
// size, else to the garbage collector, and memreturn is told.
func (h *Handler) release() {
	if h.out == nil {
		return
	}
	if c := cap(h.out.B); c > poolMax {
		memreturn.Released(c)
	} else {
		pool.Put(h.out)
	}
	h.out, h.off = nil, 0
}
