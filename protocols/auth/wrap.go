package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/edgeloop/edgeloop/reactor"
)

// DefaultTimeout is how long a peer has, from its connection's start, to
// answer the challenge in full, unless WithTimeout says otherwise.
const DefaultTimeout = 10 * time.Second

// Option configures Wrap.
type Option func(*config)

type config struct {
	timeout time.Duration
}

// WithTimeout sets the handshake timeout: a peer that has not sent its
// whole answer d after its connection started is closed. d must be
// positive.
func WithTimeout(d time.Duration) Option {
	return func(c *config) { c.timeout = d }
}

// Wrap returns a Factory whose connections first pass the handshake with
// key (see the package doc) and then are served by a handler that inner
// makes, on the same Conn. Wrap copies key. It returns ErrEmptyKey for an
// empty key, and an error for a nil inner or a timeout that is not
// positive.
func Wrap(key []byte, inner reactor.Factory, opts ...Option) (reactor.Factory, error) {
	if len(key) == 0 {
		return nil, ErrEmptyKey
	}
	if inner == nil {
		return nil, errors.New("auth: nil Factory to wrap")
	}
	cfg := config{timeout: DefaultTimeout}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.timeout <= 0 {
		return nil, fmt.Errorf("auth: handshake timeout %v: want a positive duration", cfg.timeout)
	}
	w := &wrapper{key: append([]byte(nil), key...), inner: inner, timeout: cfg.timeout}
	return w.factory, nil
}

// wrapper is what the Factory of one Wrap shares among its connections.
type wrapper struct {
	key     []byte
	inner   reactor.Factory
	timeout time.Duration
}

// stopper is a handshake timer: a *reactor.Timer or a *time.Timer.
type stopper interface{ Stop() bool }

// handler is one connection: the handshake, then the inner handler.
type handler struct {
	c         reactor.Conn
	w         *wrapper
	inner     reactor.Handler // nil until the answer matched
	timer     stopper
	closed    bool
	sent, got uint8 // bytes of challenge sent, of answer received
	challenge [ChallengeSize]byte
	answer    [MACSize]byte
}

func (w *wrapper) factory(c reactor.Conn) reactor.Handler {
	h := &handler{c: c, w: w}
	rand.Read(h.challenge[:]) // since Go 1.24 it never fails: it fills b or crashes
	if s, ok := c.(reactor.Scheduler); ok {
		// The native loop: a timer on the connection's own loop, no
		// goroutine and no lock.
		h.timer = s.AfterFunc(w.timeout, h.expire)
	} else {
		// Other backends: the runtime's timer, whose function runs on a
		// goroutine of its own and so reaches the connection by Post.
		h.timer = time.AfterFunc(w.timeout, func() { c.Post(h.expire) })
	}
	return h
}

// expire closes a connection still in its handshake. It runs on the
// connection's loop goroutine, in step with the handler's calls.
func (h *handler) expire() {
	if h.inner == nil && !h.closed {
		h.c.Close()
	}
}

// WantsRecv implements reactor.Handler: the answer's bytes until it is
// whole, then whatever the inner handler wants.
func (h *handler) WantsRecv() bool {
	if h.inner != nil {
		return h.inner.WantsRecv()
	}
	return int(h.got) < MACSize
}

// WantsSend implements reactor.Handler: the challenge until it is sent,
// then whatever the inner handler wants.
func (h *handler) WantsSend() bool {
	if h.inner != nil {
		return h.inner.WantsSend()
	}
	return int(h.sent) < ChallengeSize
}

// HandleRecv implements reactor.Handler. During the handshake it reads at
// most the rest of the answer, into the answer's own buffer: whatever the
// peer sent after it stays queued for the inner handler. A read that
// filled that rest leaves the connection readable (an edge-triggered loop
// calls again without a new edge), and so the inner handler is called for
// input that came with the answer.
func (h *handler) HandleRecv() error {
	if h.inner != nil {
		return h.inner.HandleRecv()
	}
	n, err := h.c.Read(h.answer[h.got:])
	h.got += uint8(n)
	if int(h.got) == MACSize {
		return h.check()
	}
	switch {
	case err == nil, errors.Is(err, reactor.ErrWouldBlock):
		return nil
	case err == io.EOF:
		return ErrTruncated
	}
	return err
}

// check compares the complete answer with the expected MAC, in constant
// time, and on a match makes the inner handler.
func (h *handler) check() error {
	want := MAC(h.w.key, h.challenge[:])
	if !hmac.Equal(h.answer[:], want[:]) {
		return ErrMismatch
	}
	h.timer.Stop()
	inner := h.w.inner(h.c)
	if inner == nil {
		return errors.New("auth: the wrapped factory returned no handler")
	}
	h.inner = inner
	return nil
}

// HandleSend implements reactor.Handler: the challenge, then the inner
// handler's output.
func (h *handler) HandleSend() error {
	if h.inner != nil {
		return h.inner.HandleSend()
	}
	n, err := h.c.Write(h.challenge[h.sent:])
	h.sent += uint8(n)
	if err != nil && !errors.Is(err, reactor.ErrWouldBlock) {
		return err
	}
	return nil
}

// HandleClose implements reactor.CloseHandler: it stops the handshake
// timer and tells the inner handler, if there is one and it listens.
func (h *handler) HandleClose(err error) {
	h.closed = true
	if h.timer != nil {
		h.timer.Stop()
	}
	if ch, ok := h.inner.(reactor.CloseHandler); ok {
		ch.HandleClose(err)
	}
}
