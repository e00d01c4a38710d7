package reactor_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgeloop/edgeloop/internal/conformance"
	"github.com/edgeloop/edgeloop/poller"
	"github.com/edgeloop/edgeloop/protocols/echo"
	"github.com/edgeloop/edgeloop/reactor"
	"golang.org/x/sys/unix"
)

// These tests reach the loop's own bookkeeping (POLLER-CHECKLIST items 2, 5,
// 8): what happens when no kernel edge will come, the order of calls within
// a turn, closes in the middle of a turn. They run on the platform's
// edge-triggered poller (epoll on Linux) and, where the scenario exists
// there too, on gnetpoll (level-triggered).

// oneByte reads one byte per HandleRecv call and never sends.
type oneByte struct {
	c   reactor.Conn
	got []byte // loop goroutine only
	n   atomic.Int64
	eof bool
}

func (h *oneByte) WantsRecv() bool   { return !h.eof }
func (h *oneByte) WantsSend() bool   { return false }
func (h *oneByte) HandleSend() error { return nil }

func (h *oneByte) HandleRecv() error {
	var b [1]byte
	n, err := h.c.Read(b[:])
	if n == 1 {
		h.got = append(h.got, b[0])
		h.n.Add(1)
	}
	switch err {
	case nil, reactor.ErrWouldBlock:
		return nil
	case io.EOF:
		h.eof = true
		return h.c.Close()
	}
	return err
}

// TestBudgetSpentRequeues: with a budget of one call per turn and a handler
// that reads one byte per call, 4096 bytes sent in one write (one edge) must
// all be read. After the first byte the socket is still readable, but an
// edge-triggered poller will not say so again: the loop has to put the
// connection back on its own ready list. Since each turn serves the
// connection once, the loop also needs a turn per byte.
func TestBudgetSpentRequeues(t *testing.T) {
	const size = 4096
	forPollers(t, func(t *testing.T, backend string) {
		l := newLoop(t, backend, reactor.WithBudget(1))
		hs := make(chan *oneByte, 1)
		addr := conformance.Listen(t, l, func(c reactor.Conn) reactor.Handler {
			h := &oneByte{c: c}
			hs <- h
			return h
		})
		c := conformance.DialTCP(t, addr)
		h := recv(t, hs, "the server's handler")
		syncLoop(t, l)
		before := turns(t, l)

		payload := conformance.Payload(1, size)
		c.SetDeadline(time.Now().Add(waitTimeout))
		if _, err := c.Write(payload); err != nil {
			t.Fatal(err)
		}
		// The client now only waits; nothing it does makes a new edge.
		if !conformance.Poll(5*time.Second, func() bool { return h.n.Load() == size }) {
			t.Fatalf("the handler read %d of %d bytes: the connection was not re-queued once its budget ran out", h.n.Load(), size)
		}
		var got []byte
		onLoop(t, h.c, func() { got = slices.Clone(h.got) })
		if !bytes.Equal(got, payload) {
			t.Errorf("the handler read %d bytes that differ from what was sent", len(got))
		}
		if n := turns(t, l) - before; n < size-1 {
			t.Errorf("%d bytes, read one per call, took %d loop turns: a budget of 1 allows one call per connection per turn", size, n)
		}
	})
}

// mailbox sends what a posted function queues, and reads and drops input.
type mailbox struct {
	c   reactor.Conn
	out []byte // loop goroutine only
}

func (h *mailbox) WantsRecv() bool { return true }
func (h *mailbox) WantsSend() bool { return len(h.out) > 0 }

func (h *mailbox) HandleRecv() error {
	_, err := h.c.Read(h.c.ReadBuffer())
	switch err {
	case nil, reactor.ErrWouldBlock:
		return nil
	case io.EOF:
		return h.c.Close()
	}
	return err
}

func (h *mailbox) HandleSend() error {
	n, err := h.c.Write(h.out)
	h.out = h.out[n:]
	if err == reactor.ErrWouldBlock {
		return nil
	}
	return err
}

// TestPostedOutputSentWithoutEdge: a handler with nothing to send gets
// output from a function posted by another goroutine. The socket has been
// writable all along, so no EPOLLOUT edge will come: the loop must serve the
// connection because the posted function may have changed what it wants.
func TestPostedOutputSentWithoutEdge(t *testing.T) {
	forPollers(t, func(t *testing.T, backend string) {
		l := newLoop(t, backend)
		hs := make(chan *mailbox, 1)
		addr := conformance.Listen(t, l, func(c reactor.Conn) reactor.Handler {
			h := &mailbox{c: c}
			hs <- h
			return h
		})
		c := conformance.DialTCP(t, addr)
		h := recv(t, hs, "the server's handler")
		syncLoop(t, l) // the first serve (nothing to send) is over
		for i := range 3 {
			msg := []byte(fmt.Sprintf("message %d\n", i))
			writable := make(chan bool, 1)
			if err := h.c.Post(func() {
				writable <- reactor.Writable(h.c)
				h.out = append(h.out, msg...)
			}); err != nil {
				t.Fatalf("Post: %v", err)
			}
			if !recv(t, writable, "the posted function") {
				t.Fatalf("message %d: the loop did not consider the idle socket writable", i)
			}
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			if err := conformance.ReadExactly(c, msg); err != nil {
				t.Fatalf("message %d, queued by Post on a writable socket: %v", i, err)
			}
		}
	})
}

// orderRecorder wants nothing until armed, then input and one reply, and
// records the order of its calls.
type orderRecorder struct {
	c     reactor.Conn
	armed bool // loop goroutine only
	sent  bool
	mu    sync.Mutex
	calls []string
}

func (h *orderRecorder) WantsRecv() bool { return h.armed }
func (h *orderRecorder) WantsSend() bool { return h.armed && !h.sent }

func (h *orderRecorder) record(call string) {
	h.mu.Lock()
	h.calls = append(h.calls, call)
	h.mu.Unlock()
}

func (h *orderRecorder) log() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.calls)
}

func (h *orderRecorder) HandleRecv() error {
	h.record("recv")
	_, err := h.c.Read(h.c.ReadBuffer())
	if err == nil || err == reactor.ErrWouldBlock {
		return nil
	}
	return err
}

func (h *orderRecorder) HandleSend() error {
	h.record("send")
	h.sent = true
	_, err := h.c.Write([]byte("ok"))
	return err
}

// TestRecvBeforeSendInOneServe: when a connection is both readable and
// writable and its handler wants both, HandleRecv comes first (Redis ae):
// the input may change what there is to send. Edge-triggered poller only:
// gnetpoll drops read interest while the handler wants no input, so the
// loop does not learn that input waits until the handler wants it, and the
// two are never ready at once.
func TestRecvBeforeSendInOneServe(t *testing.T) {
	l := newLoop(t, poller.Default())
	hs := make(chan *orderRecorder, 1)
	addr := conformance.Listen(t, l, func(c reactor.Conn) reactor.Handler {
		h := &orderRecorder{c: c}
		hs <- h
		return h
	})
	c := conformance.DialTCP(t, addr)
	h := recv(t, hs, "the server's handler")
	c.SetDeadline(time.Now().Add(waitTimeout))
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	// Arm the handler in the same posted function that sees the input has
	// arrived; Post then serves it with both directions ready.
	armed := conformance.Poll(waitTimeout, func() bool {
		var ok bool
		onLoop(t, h.c, func() {
			if reactor.Readable(h.c) && reactor.Writable(h.c) {
				h.armed, ok = true, true
			}
		})
		return ok
	})
	if !armed {
		t.Fatal("the connection never became readable and writable at once")
	}
	conformance.WaitFor(t, waitTimeout, "HandleRecv and HandleSend", func() bool { return len(h.log()) >= 2 })
	if got := h.log(); got[0] != "recv" || got[1] != "send" {
		t.Errorf("calls %v, want recv before send", got)
	}
	if err := conformance.ReadExactly(c, []byte("ok")); err != nil {
		t.Error(err)
	}
}

// selfCloser closes its connection from HandleRecv as soon as input comes,
// then returns ret. It claims to have output from then on, so a loop that
// kept calling it would call HandleSend.
type selfCloser struct {
	c        reactor.Conn
	ret      error
	closed   bool         // loop goroutine only
	late     atomic.Int64 // handler calls after its own Close
	closes   atomic.Int64
	closeErr chan error
}

func (h *selfCloser) WantsRecv() bool { return true }
func (h *selfCloser) WantsSend() bool { return h.closed }

func (h *selfCloser) HandleRecv() error {
	if h.closed {
		h.late.Add(1)
	}
	n, err := h.c.Read(h.c.ReadBuffer())
	if n == 0 && err == reactor.ErrWouldBlock {
		return nil
	}
	if err := h.c.Close(); err != nil {
		return err
	}
	h.closed = true
	return h.ret
}

func (h *selfCloser) HandleSend() error {
	h.late.Add(1)
	return nil
}

func (h *selfCloser) HandleClose(err error) {
	h.closes.Add(1)
	select {
	case h.closeErr <- err:
	default:
	}
}

// TestHandlerClosedInHandleRecvNotCalledAgain: a handler that closes its own
// connection from HandleRecv gets no further call in that serve or later,
// even though it says it wants to send, and HandleClose runs exactly once
// with nil, also when HandleRecv returns an error after the Close.
func TestHandlerClosedInHandleRecvNotCalledAgain(t *testing.T) {
	for _, tc := range []struct {
		name string
		ret  error
	}{
		{"returns=nil", nil},
		{"returns=error", errors.New("test: error after Close")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			forPollers(t, func(t *testing.T, backend string) {
				l := newLoop(t, backend)
				hs := make(chan *selfCloser, 1)
				addr := conformance.Listen(t, l, func(c reactor.Conn) reactor.Handler {
					h := &selfCloser{c: c, ret: tc.ret, closeErr: make(chan error, 1)}
					hs <- h
					return h
				})
				c := conformance.DialTCP(t, addr)
				h := recv(t, hs, "the server's handler")
				c.SetDeadline(time.Now().Add(waitTimeout))
				if _, err := c.Write([]byte("bye")); err != nil {
					t.Fatal(err)
				}
				if err := conformance.ReadToEOF(c, nil); err != nil {
					t.Errorf("client: %v", err)
				}
				if err := recv(t, h.closeErr, "HandleClose"); err != nil {
					t.Errorf("HandleClose(%v), want nil: the handler closed the connection itself", err)
				}
				syncLoop(t, l)
				if n := h.closes.Load(); n != 1 {
					t.Errorf("HandleClose called %d times, want 1", n)
				}
				if n := h.late.Load(); n != 0 {
					t.Errorf("%d handler calls after the handler closed its connection", n)
				}
			})
		})
	}
}

// quietAfterEOF reads until EOF and then wants nothing, but keeps its
// connection open. With shutWrite it also shuts its own write side, so that
// the socket is shut both ways (EPOLLHUP).
type quietAfterEOF struct {
	c         reactor.Conn
	shutWrite bool
	eof       bool // loop goroutine only
	eofSeen   atomic.Bool
}

func (h *quietAfterEOF) WantsRecv() bool   { return !h.eof }
func (h *quietAfterEOF) WantsSend() bool   { return false }
func (h *quietAfterEOF) HandleSend() error { return nil }

func (h *quietAfterEOF) HandleRecv() error {
	for {
		_, err := h.c.Read(h.c.ReadBuffer())
		switch err {
		case nil:
			continue
		case reactor.ErrWouldBlock:
			return nil
		case io.EOF:
			h.eof = true
			if h.shutWrite {
				if err := h.c.CloseWrite(); err != nil {
					return err
				}
			}
			h.eofSeen.Store(true)
			return nil
		}
		return err
	}
}

// assertNoSpin fails t if l's loops turn more than a few times within
// window while nothing happens. A spinning loop turns thousands of times.
// Each probe of the counter costs a loop about one turn, which is allowed
// for.
func assertNoSpin(t *testing.T, l *reactor.Loop, window time.Duration) {
	t.Helper()
	const (
		slack    = 10
		perProbe = 3
		probes   = 4
	)
	syncLoop(t, l)
	start := turns(t, l)
	end := time.Now().Add(window)
	for i := 1; i <= probes; i++ {
		// A measurement window: it waits for nothing to happen.
		time.Sleep(time.Until(end) / time.Duration(probes-i+1))
		if n := turns(t, l) - start; n > uint64(slack+perProbe*i) {
			t.Fatalf("the loop turned %d times in %v with nothing to do: it spins", n, window-time.Until(end))
		}
	}
}

// TestNoSpinAfterPeerEOF: after a handler has read the peer's EOF and wants
// neither input nor output, but keeps the connection open, the loop must
// wait, not spin on the RDHUP/HUP state that stays set (mio #933).
func TestNoSpinAfterPeerEOF(t *testing.T) {
	for _, tc := range []struct {
		name      string
		peerClose func(c *net.TCPConn) error
		shutWrite bool
	}{
		{"peer=shut-write", (*net.TCPConn).CloseWrite, false},
		{"peer=close", (*net.TCPConn).Close, false},
		{"peer=close,server=shut-write", (*net.TCPConn).Close, true}, // EPOLLHUP
	} {
		t.Run(tc.name, func(t *testing.T) {
			forPollers(t, func(t *testing.T, backend string) {
				l := newLoop(t, backend)
				hs := make(chan *quietAfterEOF, 1)
				addr := conformance.Listen(t, l, func(c reactor.Conn) reactor.Handler {
					h := &quietAfterEOF{c: c, shutWrite: tc.shutWrite}
					hs <- h
					return h
				})
				c := conformance.DialTCP(t, addr)
				h := recv(t, hs, "the server's handler")
				c.SetDeadline(time.Now().Add(waitTimeout))
				if _, err := c.Write([]byte("last words")); err != nil {
					t.Fatal(err)
				}
				if err := tc.peerClose(c); err != nil {
					t.Fatal(err)
				}
				conformance.WaitFor(t, waitTimeout, "the handler to read EOF", h.eofSeen.Load)
				assertNoSpin(t, l, 200*time.Millisecond)
			})
		})
	}
}

// tracked echoes, and checks that every call it gets is meant for it: not
// after its HandleClose, and on the descriptor it was made for. With peer
// set, the first input it reads makes it close the peer's connection.
type tracked struct {
	c   reactor.Conn
	fd  int
	out []byte // loop goroutine only
	eof bool

	peer       *tracked    // loop goroutine only
	closedPeer atomic.Bool // it closed its peer
	peerQueued atomic.Bool // the peer was on the ready list when closed
	closed     atomic.Bool
	late       atomic.Int64 // calls after HandleClose, or with another fd
	emptyRecvs atomic.Int64 // HandleRecv calls that found no input at all
	input      atomic.Int64
	closes     atomic.Int64
	closeErr   chan error
}

func newTracked(c reactor.Conn) *tracked {
	return &tracked{c: c, fd: c.Fd(), closeErr: make(chan error, 1)}
}

func (h *tracked) check() {
	if h.closed.Load() || h.c.Fd() != h.fd {
		h.late.Add(1)
	}
}

func (h *tracked) WantsRecv() bool { return !h.eof && len(h.out) < 1<<20 }
func (h *tracked) WantsSend() bool { return len(h.out) > 0 }

func (h *tracked) HandleRecv() error {
	h.check()
	buf := h.c.ReadBuffer()
	n, err := h.c.Read(buf)
	if n == 0 && err == reactor.ErrWouldBlock {
		h.emptyRecvs.Add(1)
		return nil
	}
	if n > 0 {
		h.input.Add(int64(n))
		if p := h.peer; p != nil {
			h.peer = nil
			h.peerQueued.Store(reactor.Queued(p.c))
			if err := p.c.Close(); err != nil {
				return err
			}
			h.closedPeer.Store(true)
		}
		h.out = append(h.out, buf[:n]...)
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

func (h *tracked) HandleSend() error {
	h.check()
	n, err := h.c.Write(h.out)
	h.out = h.out[n:]
	if len(h.out) == 0 && h.eof {
		return h.c.Close()
	}
	if err == reactor.ErrWouldBlock {
		return nil
	}
	return err
}

func (h *tracked) HandleClose(err error) {
	if h.closed.Swap(true) {
		h.late.Add(1)
	}
	h.closes.Add(1)
	select {
	case h.closeErr <- err:
	default:
	}
}

// blockLoop stops l's only event loop inside a posted function until the
// returned release is called (or waitTimeout passes), so that the test can
// line up several kernel events for one batch. release runs fn, if not nil,
// on the loop goroutine before the loop goes on to that batch.
func blockLoop(t *testing.T, l *reactor.Loop) (release func(fn func())) {
	t.Helper()
	started, rel := make(chan struct{}), make(chan func(), 1)
	if err := l.Post(func() {
		close(started)
		select {
		case fn := <-rel:
			if fn != nil {
				fn()
			}
		case <-time.After(waitTimeout):
		}
	}); err != nil {
		t.Fatalf("Post: %v", err)
	}
	recv(t, started, "the loop to block")
	var once sync.Once
	release = func(fn func()) { once.Do(func() { rel <- fn }) }
	t.Cleanup(func() { release(nil) })
	return release
}

// reuseFD connects the sockets in clients, one at a time, until the server
// side of one of them gets descriptor fd, and returns its handler.
func reuseFD(t *testing.T, addr string, hs <-chan *tracked, clients []int, fd int) (*tracked, int) {
	t.Helper()
	var got []int
	for _, cfd := range clients {
		rawConnect(t, cfd, addr)
		h := recv(t, hs, "the handler of a new connection")
		if h.fd == fd {
			return h, cfd
		}
		got = append(got, h.fd)
	}
	t.Fatalf("no new connection reused descriptor %d (they got %v); the test cannot check reuse", fd, got)
	return nil, 0
}

// TestCloseFromOtherHandlerThenReuse: connections A and B both have input
// in one batch of events; whichever is served first closes the other (the
// victim) while the victim is still on the ready list. The victim's handler
// must get no call after its HandleClose, and a new connection that gets the
// victim's descriptor number must only see calls meant for it: none before
// its client sends, then a clean echo (Go's fdseq, nbio #144).
func TestCloseFromOtherHandlerThenReuse(t *testing.T) {
	forPollers(t, func(t *testing.T, backend string) {
		l := newLoop(t, backend)
		hs := make(chan *tracked, 8)
		addr := conformance.Listen(t, l, func(c reactor.Conn) reactor.Handler {
			h := newTracked(c)
			hs <- h
			return h
		})
		ca, cb := conformance.DialTCP(t, addr), conformance.DialTCP(t, addr)
		ha, hb := recv(t, hs, "handler A"), recv(t, hs, "handler B")
		onLoop(t, ha.c, func() { ha.peer, hb.peer = hb, ha })
		// Sockets for the new connections, made while the victim's
		// descriptor is still in use so that they cannot take its number.
		clients := []int{rawSocket(t), rawSocket(t), rawSocket(t), rawSocket(t)}

		release := blockLoop(t, l)
		for _, c := range []*net.TCPConn{ca, cb} {
			c.SetDeadline(time.Now().Add(waitTimeout))
			if _, err := c.Write([]byte("both at once")); err != nil {
				t.Fatal(err)
			}
		}
		conformance.WaitFor(t, waitTimeout, "input on both server sockets", func() bool {
			return hasInput(ha.fd) && hasInput(hb.fd)
		})
		release(nil)

		conformance.WaitFor(t, waitTimeout, "one of A and B to close the other", func() bool {
			return ha.closedPeer.Load() || hb.closedPeer.Load()
		})
		closer, victim := ha, hb
		if hb.closedPeer.Load() {
			closer, victim = hb, ha
		}
		if err := recv(t, victim.closeErr, "the victim's HandleClose"); err != nil {
			t.Errorf("victim's HandleClose(%v), want nil: it was closed by Close", err)
		}
		if !closer.peerQueued.Load() {
			t.Errorf("the victim was not on the ready list when it was closed: the test did not line up one batch")
		}

		hc, cfd := reuseFD(t, addr, hs, clients, victim.fd)
		syncLoop(t, l)
		if n := hc.emptyRecvs.Load(); n != 0 {
			t.Errorf("the new connection on fd %d got %d HandleRecv calls before its client sent anything", hc.fd, n)
		}
		if err := conformance.Exchange(fdConn(t, cfd), []byte("new connection on an old number"), nil, time.Now().Add(waitTimeout)); err != nil {
			t.Errorf("new connection on fd %d: %v", hc.fd, err)
		}
		closerClient := ca
		if closer == hb {
			closerClient = cb
		}
		if err := conformance.ReadExactly(closerClient, []byte("both at once")); err != nil {
			t.Errorf("the connection that closed the other, its first echo: %v", err)
		}
		if err := conformance.Exchange(closerClient, []byte("the closer still echoes"), nil, time.Now().Add(waitTimeout)); err != nil {
			t.Errorf("the connection that closed the other: %v", err)
		}
		syncLoop(t, l)
		for _, h := range []*tracked{ha, hb, hc} {
			if n := h.late.Load(); n != 0 {
				t.Errorf("handler of fd %d: %d calls after its HandleClose or on another descriptor", h.fd, n)
			}
		}
		if n := victim.closes.Load(); n != 1 {
			t.Errorf("victim's HandleClose called %d times, want 1", n)
		}
		if hc.closed.Load() {
			t.Errorf("the new connection on the victim's descriptor was closed")
		}
	})
}

// TestStaleEventAfterCloseInFactoryNotDelivered: one batch of events holds
// the listener's (two new connections) and then a reset of connection V. The
// first new connection's factory closes V; the second takes V's descriptor
// number. V's reset, still in the batch, must not reach the new connection:
// it must go on echoing and never be closed.
func TestStaleEventAfterCloseInFactoryNotDelivered(t *testing.T) {
	forPollers(t, func(t *testing.T, backend string) {
		l := newLoop(t, backend)
		hs := make(chan *tracked, 8)
		var evict *tracked // loop goroutine only: the factory closes it
		addr := conformance.Listen(t, l, func(c reactor.Conn) reactor.Handler {
			if v := evict; v != nil {
				evict = nil
				v.c.Close()
			}
			h := newTracked(c)
			hs <- h
			return h
		})
		cv := conformance.DialTCP(t, addr)
		hv := recv(t, hs, "the victim's handler")
		clients := []int{rawSocket(t), rawSocket(t)}

		release := blockLoop(t, l)
		for _, fd := range clients {
			rawConnect(t, fd, addr) // queued in the backlog: one listener event
		}
		cv.SetLinger(0)
		cv.Close() // then the victim's reset
		conformance.WaitFor(t, waitTimeout, "the reset to reach the victim's socket", func() bool {
			pfd := []unix.PollFd{{Fd: int32(hv.fd), Events: unix.POLLIN}}
			n, _ := unix.Poll(pfd, 0)
			return n == 1 && pfd[0].Revents&(unix.POLLHUP|unix.POLLERR) != 0
		})
		release(func() { evict = hv })

		h1, h2 := recv(t, hs, "the first new handler"), recv(t, hs, "the second new handler")
		if err := recv(t, hv.closeErr, "the victim's HandleClose"); err != nil {
			t.Errorf("victim's HandleClose(%v), want nil: the factory closed it", err)
		}
		hc, cfd := h2, clients[1]
		if h1.fd == hv.fd {
			hc, cfd = h1, clients[0]
		} else if h2.fd != hv.fd {
			t.Fatalf("neither new connection (fds %d, %d) reused the victim's fd %d; the test cannot check reuse", h1.fd, h2.fd, hv.fd)
		}
		syncLoop(t, l)
		if hc.closed.Load() {
			t.Fatalf("the new connection on fd %d was closed (HandleClose(%v)): the victim's reset reached it", hc.fd, recv(t, hc.closeErr, "its HandleClose"))
		}
		if n := hc.emptyRecvs.Load(); n != 0 {
			t.Errorf("the new connection on fd %d got %d HandleRecv calls before its client sent anything", hc.fd, n)
		}
		if err := conformance.Exchange(fdConn(t, cfd), []byte("fresh"), nil, time.Now().Add(waitTimeout)); err != nil {
			t.Errorf("new connection on fd %d: %v", hc.fd, err)
		}
		syncLoop(t, l)
		for _, h := range []*tracked{hv, h1, h2} {
			if n := h.late.Load(); n != 0 {
				t.Errorf("handler of fd %d: %d calls after its HandleClose or on another descriptor", h.fd, n)
			}
		}
	})
}

// TestFactoryNilClosesConn: a Factory that returns nil refuses the
// connection: its client sees EOF, and the loop goes on serving the
// connection it had and new ones. It runs on every backend, since it is API.
func TestFactoryNilClosesConn(t *testing.T) {
	for _, backend := range allBackends {
		t.Run("backend="+backend, func(t *testing.T) {
			l := newLoop(t, backend)
			var n atomic.Int64
			addr := conformance.Listen(t, l, func(c reactor.Conn) reactor.Handler {
				if n.Add(1) == 2 {
					return nil
				}
				return echo.New(c)
			})
			deadline := time.Now().Add(waitTimeout)
			before := conformance.DialTCP(t, addr)
			if err := conformance.Exchange(before, []byte("first"), nil, deadline); err != nil {
				t.Fatalf("connection before the refused one: %v", err)
			}
			refused := conformance.DialTCP(t, addr)
			refused.SetDeadline(deadline)
			if err := conformance.ReadToEOF(refused, nil); err != nil {
				t.Errorf("refused connection: %v", err)
			}
			if err := conformance.Exchange(before, []byte("still here"), nil, deadline); err != nil {
				t.Errorf("connection made before the refused one, after it: %v", err)
			}
			if err := conformance.Exchange(conformance.DialTCP(t, addr), []byte("next"), nil, deadline); err != nil {
				t.Errorf("connection after the refused one: %v", err)
			}
		})
	}
}
