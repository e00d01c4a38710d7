package frame_test

import (
	"fmt"
	"io"
	"net"

	"github.com/edgeloop/edgeloop/reactor"
)

// fakeConn is a reactor.Conn fed from a list of reads, for driving a
// handler as an edge-triggered loop does without a socket: each chunk is
// what one read of the kernel would have; a read shorter than its buffer
// drains the socket, as on the native loop, and the handler hears of input
// again only when the next chunk arrives.
type fakeConn struct {
	chunks   [][]byte // reads still to arrive
	avail    []byte   // input that arrived and is not read yet
	eof      bool     // the end of input arrived (after the last chunk)
	readable bool     // an edge came and no read has drained since

	out      []byte
	writeMax func() int // how much one Write takes; nil: all
	writes   int

	graceful bool // CloseGraceful was called
	closed   bool
	buf      [256]byte // the "loop's" read buffer, small so messages cross it
}

func (c *fakeConn) Read(p []byte) (int, error) {
	if c.closed {
		return 0, reactor.ErrClosed
	}
	if len(c.avail) == 0 {
		c.readable = false
		if c.eof {
			return 0, io.EOF
		}
		return 0, reactor.ErrWouldBlock
	}
	n := copy(p, c.avail)
	c.avail = c.avail[n:]
	if n < len(p) && !c.eof {
		c.readable = false // a short read drained the socket
	}
	return n, nil
}

func (c *fakeConn) Write(p []byte) (int, error) {
	if c.closed {
		return 0, reactor.ErrClosed
	}
	c.writes++
	n := len(p)
	if c.writeMax != nil {
		n = min(n, c.writeMax())
	}
	c.out = append(c.out, p[:n]...)
	if n < len(p) {
		return n, reactor.ErrWouldBlock
	}
	return n, nil
}

func (c *fakeConn) Writev(bufs [][]byte) (int, error) {
	n := 0
	for _, b := range bufs {
		m, err := c.Write(b)
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func (c *fakeConn) Close() error {
	if c.closed {
		return reactor.ErrClosed
	}
	c.closed = true
	return nil
}

func (c *fakeConn) CloseGraceful() error {
	if c.closed {
		return reactor.ErrClosed
	}
	c.graceful = true
	return nil
}

func (c *fakeConn) CloseWrite() error    { return nil }
func (c *fakeConn) ReadBuffer() []byte   { return c.buf[:] }
func (c *fakeConn) Wake()                {}
func (c *fakeConn) Post(fn func()) error { fn(); return nil }
func (c *fakeConn) Fd() int              { return -1 }
func (c *fakeConn) LocalAddr() net.Addr  { return nil }
func (c *fakeConn) RemoteAddr() net.Addr { return nil }
func (c *fakeConn) String() string       { return "fake" }

// result is what a drive produced.
type result struct {
	out        []byte
	graceful   bool  // closed with CloseGraceful, after all output was sent
	err        error // the error a handler call returned, which closed it
	maxPending int   // the most output the handler held after a call
}

// drive runs h over c's chunks as the native loop would: read while the
// handler wants input and the last edge is not drained, send while it
// wants to, close once a graceful close has nothing left to send. A new
// chunk arrives only when the handler can make no progress, the slowest
// case for it. It fails if the handler stops making progress before it is
// closed with input still to come.
func drive(h reactor.Handler, c *fakeConn) (r result) {
	maxPending := 0
	defer func() { r.maxPending = max(r.maxPending, maxPending) }()
	observe := func() {
		if p, ok := h.(interface{ Pending() int }); ok {
			maxPending = max(maxPending, p.Pending())
		}
	}
	for steps := 0; steps < 1_000_000; steps++ {
		observe()
		did := false
		if c.readable && !c.graceful && h.WantsRecv() {
			did = true
			if err := h.HandleRecv(); err != nil {
				return result{out: c.out, err: err}
			}
		}
		if h.WantsSend() {
			did = true
			if err := h.HandleSend(); err != nil {
				return result{out: c.out, err: err}
			}
		}
		if c.graceful && !h.WantsSend() {
			return result{out: c.out, graceful: true}
		}
		if did {
			continue
		}
		switch {
		case len(c.chunks) > 0:
			c.avail = append(c.avail, c.chunks[0]...)
			c.chunks = c.chunks[1:]
			c.readable = true
		case !c.eof:
			c.eof, c.readable = true, true
		default:
			return result{out: c.out, err: fmt.Errorf("stuck: wantsRecv=%v wantsSend=%v readable=%v avail=%d",
				h.WantsRecv(), h.WantsSend(), c.readable, len(c.avail))}
		}
	}
	return result{out: c.out, err: fmt.Errorf("no end after a million steps")}
}
