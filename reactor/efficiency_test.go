package reactor_test

import (
	"fmt"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/edgeloop/edgeloop/internal/conformance"
	"github.com/edgeloop/edgeloop/protocols/echo"
	"github.com/edgeloop/edgeloop/reactor"
	"golang.org/x/sys/unix"
)

// These tests count wasted calls (POLLER-CHECKLIST item 2). An
// edge-triggered loop that forgets to clear "readable" or "writable" still
// moves every byte: it only makes calls that find nothing, which no test of
// behaviour sees. So they count, per connection, the handler calls and the
// Read and Write calls that returned ErrWouldBlock (counting_test.go).

// TestShortReadClearsReadable: a short read drains the socket, so the loop
// must not call HandleRecv again until new data arrives. echo reads each
// small message with one Read into its 64 KiB buffer; that Read is short,
// and no Read may come back with ErrWouldBlock: exactly one HandleRecv per
// message.
func TestShortReadClearsReadable(t *testing.T) {
	const messages = 64
	forPollers(t, func(t *testing.T, backend string) {
		l := newLoop(t, backend)
		conns := make(chan *counts, 1)
		addr := conformance.Listen(t, l, counted(echo.New, conns))
		c := conformance.DialTCP(t, addr)
		n := recv(t, conns, "the server's connection")
		deadline := time.Now().Add(waitTimeout)
		for i := range messages {
			msg := []byte(fmt.Sprintf("message %d of %d", i+1, messages))
			if err := conformance.Exchange(c, msg, nil, deadline); err != nil {
				t.Fatalf("message %d: %v", i+1, err)
			}
		}
		syncLoop(t, l)
		if b := n.readsBlocked.Load(); b != 0 {
			t.Errorf("%d of %d Reads returned ErrWouldBlock (%v): a short read that drained the socket did not clear \"readable\", "+
				"so the loop called HandleRecv again with no new edge", b, n.reads.Load(), n)
		}
		if r := n.recvCalls.Load(); r != messages {
			t.Errorf("%d HandleRecv calls for %d messages, each read whole by one short Read: want one per message (%v)", r, messages, n)
		}
	})
}

// firehose sends out to a peer that the test controls, and reads nothing.
type firehose struct {
	c   reactor.Conn
	out []byte // loop goroutine only
}

func (h *firehose) WantsRecv() bool   { return false }
func (h *firehose) WantsSend() bool   { return len(h.out) > 0 }
func (h *firehose) HandleRecv() error { return nil }

func (h *firehose) HandleSend() error {
	n, err := h.c.Write(h.out)
	h.out = h.out[n:]
	if err == reactor.ErrWouldBlock {
		return nil
	}
	return err
}

// dialSmall connects to addr with a small receive buffer, set before the
// connection exists so that the window it advertises is small from the
// start, and closes the connection when the test ends.
func dialSmall(t *testing.T, addr string, rcvbuf int) *net.TCPConn {
	t.Helper()
	d := net.Dialer{
		Timeout: conformance.DialTimeout,
		Control: func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, rcvbuf)
			})
			if err != nil {
				return err
			}
			return serr
		},
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

// waitStalled waits until the server's writes have stopped moving bytes: the
// count of bytes written is the same before and after two full loop turns.
func waitStalled(t *testing.T, l *reactor.Loop, n *counts) {
	t.Helper()
	conformance.WaitFor(t, waitTimeout, "the server's writes to stall on a full socket", func() bool {
		before := n.wroteBytes.Load()
		syncLoop(t, l)
		return n.shortWrites.Load()+n.writesBlocked.Load() > 0 && n.wroteBytes.Load() == before
	})
}

// TestShortWriteClearsWritable: a short write means the socket's buffer is
// full, so the loop must not call HandleSend again until the kernel says
// there is room (a new edge). The server sends 4 MiB through small buffers
// to a peer that first reads nothing, then reads it all: no Write may come
// back with ErrWouldBlock having moved nothing, neither while the peer
// does not read nor while it does.
func TestShortWriteClearsWritable(t *testing.T) {
	const size = 4 << 20
	payload := conformance.Payload(11, size)
	forPollers(t, func(t *testing.T, backend string) {
		l := newLoop(t, backend)
		conns := make(chan *counts, 1)
		addr := conformance.Listen(t, l, counted(func(c reactor.Conn) reactor.Handler {
			unix.SetsockoptInt(c.Fd(), unix.SOL_SOCKET, unix.SO_SNDBUF, 16<<10)
			return &firehose{c: c, out: payload}
		}, conns))
		c := dialSmall(t, addr, 16<<10)
		n := recv(t, conns, "the server's connection")

		waitStalled(t, l, n)
		if b := n.writesBlocked.Load(); b != 0 {
			t.Errorf("while the peer read nothing: %d Writes moved nothing and returned ErrWouldBlock (%v): "+
				"a short write did not clear \"writable\", so the loop called HandleSend again on a full socket", b, n)
		}
		t.Logf("stalled after %d bytes: %v", n.wroteBytes.Load(), n)

		c.SetReadDeadline(time.Now().Add(waitTimeout))
		if err := conformance.ReadExactly(c, payload); err != nil {
			t.Fatalf("reading what the server sent: %v", err)
		}
		syncLoop(t, l)
		if b := n.writesBlocked.Load(); b != 0 {
			t.Errorf("after the peer read all %d bytes: %d Writes moved nothing and returned ErrWouldBlock (%v): "+
				"a short write did not clear \"writable\", so HandleSend ran again before the kernel said there was room", size, b, n)
		}
	})
}

// replier answers each message with a reply it queues in HandleRecv and
// writes only in HandleSend, and reports for each reply the loop turn of the
// HandleRecv that queued it and of the HandleSend that sent it.
type replier struct {
	c        reactor.Conn
	out      []byte // loop goroutine only
	recvTurn uint64
	turns    chan [2]uint64
}

func (h *replier) WantsRecv() bool { return len(h.out) == 0 }
func (h *replier) WantsSend() bool { return len(h.out) > 0 }

func (h *replier) HandleRecv() error {
	buf := h.c.ReadBuffer()
	n, err := h.c.Read(buf)
	if n > 0 {
		h.out = append(h.out, buf[:n]...)
		h.recvTurn = reactor.LoopTurn(h.c)
	}
	if err == nil || err == reactor.ErrWouldBlock {
		return nil
	}
	return err
}

func (h *replier) HandleSend() error {
	n, err := h.c.Write(h.out)
	h.out = h.out[n:]
	if len(h.out) == 0 {
		h.turns <- [2]uint64{h.recvTurn, reactor.LoopTurn(h.c)}
	}
	if err == reactor.ErrWouldBlock {
		return nil
	}
	return err
}

// TestReplyQueuedByRecvSentInSameRound: after HandleRecv the loop asks
// WantsSend again in the same round, so a reply that HandleRecv queued on a
// writable socket goes out at once, with no new edge. With a budget of one
// byte, HandleRecv's read spends the connection's budget for the turn: the
// send half of that same round is then the only place the reply can go out
// in this turn. A loop that decided about sending before HandleRecv ran
// sends it a turn later.
func TestReplyQueuedByRecvSentInSameRound(t *testing.T) {
	const messages = 32
	forPollers(t, func(t *testing.T, backend string) {
		l := newLoop(t, backend, reactor.WithBudget(1))
		turns := make(chan [2]uint64, messages)
		addr := conformance.Listen(t, l, func(c reactor.Conn) reactor.Handler {
			return &replier{c: c, turns: turns}
		})
		c := conformance.DialTCP(t, addr)
		deadline := time.Now().Add(waitTimeout)
		for i := range messages {
			msg := []byte(fmt.Sprintf("request %d", i+1))
			if err := conformance.Exchange(c, msg, nil, deadline); err != nil {
				t.Fatalf("request %d: %v", i+1, err)
			}
			tt := recv(t, turns, "the turns of a reply")
			if tt[0] != tt[1] {
				t.Fatalf("request %d: HandleRecv queued the reply in turn %d, HandleSend sent it in turn %d: "+
					"the loop did not ask WantsSend again after HandleRecv in the same round", i+1, tt[0], tt[1])
			}
		}
	})
}
