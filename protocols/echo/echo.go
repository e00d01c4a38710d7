package echo

import (
	"io"

	"github.com/edgeloop/edgeloop/protocols/frame"
	"github.com/edgeloop/edgeloop/reactor"
)

// DefaultCap is the most output one connection may hold before it stops
// reading.
const DefaultCap = frame.DefaultCap

// Handler echoes one connection. Its output queue is a frame.Outbox, whose
// WantsSend, HandleSend and HandleClose are the handler's.
type Handler struct {
	frame.Outbox
	eof bool // the peer shut its write side
}

// New is a reactor.Factory for echo with the default cap.
func New(c reactor.Conn) reactor.Handler {
	h := &Handler{}
	h.Init(c, DefaultCap)
	return h
}

// Factory returns a reactor.Factory for echo whose connections hold at most
// capBytes of output before they stop reading.
func Factory(capBytes int) reactor.Factory {
	return func(c reactor.Conn) reactor.Handler {
		h := &Handler{}
		h.Init(c, capBytes)
		return h
	}
}

// WantsRecv implements reactor.Handler: read until the peer's FIN, and not
// while the cap is full.
func (h *Handler) WantsRecv() bool { return !h.eof && !h.Full() }

// HandleRecv implements reactor.Handler: it reads no more than the room
// under the cap, so what is queued never exceeds it, and writes straight
// from the loop's buffer (Outbox.Send), copying only what the socket does
// not take.
func (h *Handler) HandleRecv() error {
	c := h.Conn()
	buf := c.ReadBuffer()
	if room := h.Room(); room < len(buf) {
		buf = buf[:room]
	}
	n, err := c.Read(buf)
	if n > 0 {
		if werr := h.Send(buf[:n]); werr != nil {
			return werr
		}
	}
	switch err {
	case nil, reactor.ErrWouldBlock:
		return nil
	case io.EOF:
		// Everything received goes back, then the connection closes.
		h.eof = true
		return h.CloseWhenDone()
	}
	return err
}
