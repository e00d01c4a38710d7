package frame

import (
	"bufio"
	"io"

	"github.com/edgeloop/edgeloop/reactor"
	"github.com/valyala/bytebufferpool"
)

// MessageFunc is called with each complete message, in order. msg lies in
// the loop's read buffer or the handler's own, and is valid only until the
// call returns: copy what must outlive it; changing it in place is fine.
// Replies go to out, the connection's queue. Returning an error closes the
// connection at once, dropping what out still holds; to answer and hang
// up, push the answer and call out.CloseWhenDone.
type MessageFunc func(msg []byte, out *Outbox) error

// Handler serves one connection by messages: it reads, splits the input
// with its Framing, calls a MessageFunc with each complete message and
// sends what that pushes to its Outbox. A message that lies whole in one
// read is handed over where the read put it, without a copy; only the
// start of a message that a read cut short is kept, in a pooled buffer,
// until the rest arrives.
//
// It reads no more while its Outbox is full, and keeps the unread part of
// the latest read meanwhile, so a peer that sends faster than it reads is
// held back by TCP. At the end of the peer's input it delivers what is
// left (see each Framing for a stream cut inside a message) and closes
// once every reply is sent. A framing error (ErrTooLong, ErrTruncated)
// closes only that connection, after the replies to the messages before
// it: OnError, if set, may push a last reply first.
type Handler struct {
	Outbox
	framing Framing
	on      MessageFunc
	in      *bytebufferpool.ByteBuffer // input not yet delivered: a partial message, or input held while full
	seen    int                        // in's bytes known to hold no message (Delimited's search resumes there)
	stalled bool                       // in may hold complete messages: delivery stopped when the Outbox filled
	eof     bool                       // the peer's input has ended
	done    bool                       // closing once flushed: no more delivery
	err     error

	// OnError, if set, is called with a framing error before the
	// connection closes, to push a last reply (an error line) to out.
	OnError func(err error, out *Outbox)
}

// NewHandler returns a Handler for c that frames its input with f and
// gives each message to on. Its Outbox has DefaultCap; call
// h.Outbox.Init(c, n) in the Factory for another cap.
func NewHandler(c reactor.Conn, f Framing, on MessageFunc) *Handler {
	h := &Handler{framing: f, on: on}
	h.Outbox.Init(c, 0)
	return h
}

// Err returns the framing error that is closing the connection, or nil.
func (h *Handler) Err() error { return h.err }

// WantsRecv implements reactor.Handler: input is wanted until the peer's
// end of input, while the Outbox has room and no earlier input waits.
func (h *Handler) WantsRecv() bool { return !h.eof && !h.done && !h.closing && !h.stalled && !h.Full() }

// HandleRecv implements reactor.Handler: one read, and every complete
// message in it delivered.
func (h *Handler) HandleRecv() error {
	buf := h.c.ReadBuffer()
	n, err := h.c.Read(buf)
	if n > 0 {
		if derr := h.take(buf[:n]); derr != nil {
			return derr
		}
	}
	switch err {
	case nil, reactor.ErrWouldBlock:
		return nil
	case io.EOF:
		h.eof = true
		return h.deliver()
	}
	return err
}

// HandleSend implements reactor.Handler: the Outbox sends, and input held
// while it was full is delivered once it has room.
func (h *Handler) HandleSend() error {
	if err := h.Outbox.HandleSend(); err != nil {
		return err
	}
	if h.stalled && !h.Full() {
		return h.deliver()
	}
	return nil
}

// HandleClose implements reactor.CloseHandler: the buffers go back.
func (h *Handler) HandleClose(err error) {
	h.Outbox.HandleClose(err)
	h.releaseIn()
}

// take delivers the messages in p, fresh from a read into the loop's
// buffer. With no earlier input held, messages are delivered from p in
// place and only what is left is copied; otherwise p joins the held input.
func (h *Handler) take(p []byte) error {
	if h.in == nil {
		rest, err := h.split(p, false, 0)
		if err != nil || len(rest) == 0 || h.done {
			return err
		}
		h.in = pool.Get()
		h.in.B = append(h.in.B, rest...)
		h.remember(rest)
		return nil
	}
	h.in.B = append(h.in.B, p...)
	return h.deliver()
}

// deliver delivers the messages held in in, then, at the end of the
// peer's input, closes once flushed.
func (h *Handler) deliver() error {
	if h.in != nil {
		rest, err := h.split(h.in.B, h.eof, h.seen)
		if err != nil {
			return err
		}
		switch {
		case len(rest) == 0:
			h.releaseIn()
		case len(rest) < len(h.in.B):
			h.in.B = h.in.B[:copy(h.in.B, rest)]
			h.remember(h.in.B)
		default:
			h.remember(rest)
		}
	}
	if h.eof && !h.stalled && !h.done && !h.closing {
		if h.in != nil {
			// A framing with no message in what is left at the end of
			// input reports nothing itself: the stream ended cut short.
			h.releaseIn()
		}
		h.done = true
		return h.CloseWhenDone()
	}
	return nil
}

// split delivers the messages at the start of data until it holds no
// complete one, the Outbox is full or the handler is closing, and returns
// what is left. seen is as for Framing.next.
func (h *Handler) split(data []byte, atEOF bool, seen int) ([]byte, error) {
	h.stalled = false
	for len(data) > 0 && !h.done && !h.closing {
		if h.Full() {
			h.stalled = true
			return data, nil
		}
		advance, msg, err := h.framing.next(data, atEOF, seen)
		if err == bufio.ErrFinalToken {
			// A Custom split's "stop with no error", as bufio.Scanner
			// reads it: msg, if any, is the last message.
			if msg != nil {
				if err := h.on(msg, &h.Outbox); err != nil {
					return data, err
				}
			}
			h.done, h.stalled = true, false
			return nil, h.CloseWhenDone()
		}
		if err != nil {
			return data, h.fail(err)
		}
		if advance == 0 && msg == nil {
			return data, nil
		}
		if advance <= 0 || advance > len(data) {
			return data, h.fail(ErrBadFraming)
		}
		data, seen = data[advance:], 0
		if msg == nil {
			continue // the split skipped bytes, as a bufio.SplitFunc may
		}
		if err := h.on(msg, &h.Outbox); err != nil {
			return data, err
		}
	}
	return data, nil
}

// fail ends the connection after a framing error: the replies to earlier
// messages are sent, then it closes. It returns nil: an error returned to
// the loop would close at once and drop them.
func (h *Handler) fail(err error) error {
	h.err, h.done, h.stalled = err, true, false
	if h.OnError != nil {
		h.OnError(err, &h.Outbox)
	}
	return h.CloseWhenDone()
}

// remember notes how much of the held input rest is known to hold no
// complete message: all of it, unless delivery stopped because the Outbox
// filled.
func (h *Handler) remember(rest []byte) {
	h.seen = len(rest)
	if h.stalled {
		h.seen = 0
	}
}

// releaseIn gives the input buffer back, as the Outbox does its own: one
// that grew past poolMax (a long message gathered over many reads) is
// dropped, not pooled.
func (h *Handler) releaseIn() {
	if h.in != nil {
		putBuffer(h.in)
		h.in, h.seen = nil, 0
	}
}
