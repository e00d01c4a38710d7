package conformance

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/edgeloop/edgeloop/protocols/echo"
	"github.com/edgeloop/edgeloop/reactor"
)

// probe records what the server side of one test saw, across all the
// connections its factory made. Handlers run on loop goroutines (or, on the
// net backend, one goroutine per connection), so every field is atomic or
// behind mu.
type probe struct {
	accepted   atomic.Int64 // handlers made
	closed     atomic.Int64 // HandleClose calls
	read       atomic.Int64 // bytes read by testEcho handlers
	held       atomic.Int64 // bytes testEcho handlers have read and not yet written, all connections
	pending    atomic.Int64 // Pending after the latest handler call
	maxPending atomic.Int64 // largest Pending after any handler call

	mu        sync.Mutex
	closeErrs []error

	conns  chan reactor.Conn  // if not nil, each new Conn is offered here
	onOpen func(reactor.Conn) // if not nil, called with each new Conn
}

func (p *probe) opened(c reactor.Conn) {
	if p.onOpen != nil {
		p.onOpen(c)
	}
	p.accepted.Add(1)
	if p.conns != nil {
		select {
		case p.conns <- c:
		default:
		}
	}
}

func (p *probe) recordClose(err error) {
	p.mu.Lock()
	p.closeErrs = append(p.closeErrs, err)
	p.mu.Unlock()
	p.closed.Add(1)
}

// closeErrors returns the errors HandleClose was given, in order.
func (p *probe) closeErrors() []error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]error(nil), p.closeErrs...)
}

func (p *probe) observePending(n int) {
	v := int64(n)
	p.pending.Store(v)
	for {
		m := p.maxPending.Load()
		if v <= m || p.maxPending.CompareAndSwap(m, v) {
			return
		}
	}
}

// echo returns a factory of the real echo handler (echo.Factory(capBytes)),
// wrapped so that p sees every connection, its Pending after every handler
// call, and its close.
func (p *probe) echo(capBytes int) reactor.Factory {
	f := echo.Factory(capBytes)
	return func(c reactor.Conn) reactor.Handler {
		h := &observedEcho{Handler: f(c).(*echo.Handler), p: p}
		p.opened(c)
		return h
	}
}

// observedEcho is echo.Handler with a probe watching it.
type observedEcho struct {
	*echo.Handler
	p *probe
}

func (h *observedEcho) HandleRecv() error {
	err := h.Handler.HandleRecv()
	h.p.observePending(h.Pending())
	return err
}

func (h *observedEcho) HandleSend() error {
	err := h.Handler.HandleSend()
	h.p.observePending(h.Pending())
	return err
}

func (h *observedEcho) HandleClose(err error) {
	h.Handler.HandleClose(err)
	h.p.recordClose(err)
}

// errPoison is what testEcho's HandleRecv returns when it reads its poison
// byte.
var errPoison = errors.New("conformance: poison byte received")

// testEcho is a plain echo handler written for the suite, for what the real
// one cannot show: it counts the bytes it has read (probe.read), and it fails
// HandleRecv when it reads its poison byte. It reads only while it holds
// less than cap, and closes once the peer's FIN came and all is sent.
type testEcho struct {
	c      reactor.Conn
	p      *probe
	out    []byte
	cap    int
	poison int // byte value that makes HandleRecv fail; -1 for none
	eof    bool
}

// testEchoFactory makes testEcho handlers reporting to p.
func (p *probe) testEcho(capBytes, poison int) reactor.Factory {
	return func(c reactor.Conn) reactor.Handler {
		p.opened(c)
		return &testEcho{c: c, p: p, cap: capBytes, poison: poison}
	}
}

func (h *testEcho) WantsRecv() bool { return !h.eof && len(h.out) < h.cap }
func (h *testEcho) WantsSend() bool { return len(h.out) > 0 }

func (h *testEcho) HandleRecv() error {
	buf := h.c.ReadBuffer()
	buf = buf[:min(len(buf), h.cap-len(h.out))]
	n, err := h.c.Read(buf)
	if n > 0 {
		if h.poison >= 0 && bytes.IndexByte(buf[:n], byte(h.poison)) >= 0 {
			return errPoison
		}
		h.out = append(h.out, buf[:n]...)
		h.p.held.Add(int64(n))
		h.p.read.Add(int64(n))
		h.p.observePending(len(h.out))
	}
	switch err {
	case nil, reactor.ErrWouldBlock:
		return nil
	case io.EOF:
		h.eof = true
		if len(h.out) == 0 {
			return h.c.Close()
		}
		return nil
	}
	return err
}

func (h *testEcho) HandleSend() error {
	n, err := h.c.Write(h.out)
	h.out = h.out[n:]
	h.p.held.Add(-int64(n))
	if len(h.out) == 0 {
		h.out = nil
	}
	h.p.observePending(len(h.out))
	if err != nil && err != reactor.ErrWouldBlock {
		return err
	}
	if h.eof && len(h.out) == 0 {
		return h.c.Close()
	}
	return nil
}

func (h *testEcho) HandleClose(err error) { h.p.recordClose(err) }

// dialClient is the handler of a connection made by Loop.Dial: it sends msg,
// reads the echo, checks it, and closes. done receives the outcome once: nil
// when the echo matched, else what went wrong (the connect error included).
type dialClient struct {
	c     reactor.Conn
	msg   []byte
	sent  int
	got   []byte
	calls atomic.Int64 // HandleRecv and HandleSend calls
	done  chan error
}

func newDialClient(msg []byte) *dialClient {
	return &dialClient{msg: msg, done: make(chan error, 1)}
}

func (d *dialClient) factory(c reactor.Conn) reactor.Handler {
	d.c = c
	return d
}

func (d *dialClient) finish(err error) {
	select {
	case d.done <- err:
	default:
	}
}

func (d *dialClient) WantsRecv() bool { return len(d.got) < len(d.msg) }
func (d *dialClient) WantsSend() bool { return d.sent < len(d.msg) }

func (d *dialClient) HandleSend() error {
	d.calls.Add(1)
	n, err := d.c.Write(d.msg[d.sent:])
	d.sent += n
	if err != nil && err != reactor.ErrWouldBlock {
		return err
	}
	return nil
}

func (d *dialClient) HandleRecv() error {
	d.calls.Add(1)
	buf := d.c.ReadBuffer()
	n, err := d.c.Read(buf[:min(len(buf), len(d.msg)-len(d.got))])
	d.got = append(d.got, buf[:n]...)
	if len(d.got) == len(d.msg) {
		if i := firstDiff(d.got, d.msg); i >= 0 {
			d.finish(fmt.Errorf("echo differs at byte %d of %d", i, len(d.msg)))
		} else {
			d.finish(nil)
		}
		return d.c.Close()
	}
	switch err {
	case nil, reactor.ErrWouldBlock:
		return nil
	case io.EOF:
		return fmt.Errorf("EOF after %d of %d bytes", len(d.got), len(d.msg))
	}
	return err
}

func (d *dialClient) HandleClose(err error) {
	if err == nil {
		err = errors.New("closed before the echo was complete")
	}
	d.finish(err)
}
