//go:build linux

package reactor_test

import (
	"context"
	"errors"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgeloop/edgeloop/internal/conformance"
	"github.com/edgeloop/edgeloop/reactor"
	"golang.org/x/sys/unix"
)

// These tests check Shutdown's rules about which peers are active, with
// the kernel's own view of both ends (SIOCOUTQ, TCP_INFO), so that they
// are deterministic: each step waits for the state the next one needs.
// They are Linux only for those two calls.

// drainee sends out, then reads and drops input unless hold is set (a
// handler holding its peer back), and reports HandleClose.
type drainee struct {
	c        reactor.Conn
	out      []byte // loop goroutine only
	hold     bool
	stalled  atomic.Bool // a Write took less than it was given
	sent     atomic.Bool // out is all written
	closeErr chan error
}

func (h *drainee) WantsRecv() bool { return !h.hold }
func (h *drainee) WantsSend() bool { return len(h.out) > 0 }

func (h *drainee) HandleRecv() error {
	for {
		_, err := h.c.Read(h.c.ReadBuffer())
		switch err {
		case nil:
			continue
		case reactor.ErrWouldBlock:
			return nil
		case io.EOF:
			return h.c.Close()
		}
		return err
	}
}

func (h *drainee) HandleSend() error {
	n, err := h.c.Write(h.out)
	h.out = h.out[n:]
	if len(h.out) == 0 {
		h.sent.Store(true)
	}
	if err == reactor.ErrWouldBlock {
		h.stalled.Store(true)
		return nil
	}
	return err
}

func (h *drainee) HandleClose(err error) { h.closeErr <- err }

// sockInfo returns the TCP state (unix.BPF_TCP_*) of c's socket and how
// many bytes its send queue holds unacknowledged.
func sockInfo(t *testing.T, c *net.TCPConn) (state uint8, outq int) {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var ierr error
	rc.Control(func(fd uintptr) {
		var info *unix.TCPInfo
		if info, ierr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO); ierr != nil {
			return
		}
		state = info.State
		outq, ierr = unix.IoctlGetInt(int(fd), unix.SIOCOUTQ)
	})
	if ierr != nil {
		t.Fatalf("TCP_INFO, SIOCOUTQ: %v", ierr)
	}
	return state, outq
}

// serverSide reports, from c's loop goroutine, whether the loop has closed
// c and how much c's kernel send queue holds. A loop that has exited
// (Shutdown closed its last connection) counts as closed.
func serverSide(t *testing.T, c reactor.Conn) (closed bool, unsent int) {
	t.Helper()
	type state struct {
		closed bool
		unsent int
	}
	res := make(chan state, 1)
	if err := c.Post(func() { res <- state{reactor.Closed(c), reactor.Unsent(c)} }); err != nil {
		if errors.Is(err, reactor.ErrClosed) {
			return true, -1
		}
		t.Fatalf("Conn.Post: %v", err)
	}
	s := recv(t, res, "a posted function")
	return s.closed, s.unsent
}

// syncExited is syncLoop for a loop that may have exited.
func syncExited(t *testing.T, l *reactor.Loop) {
	t.Helper()
	if err := reactor.Sync(l); err != nil && !errors.Is(err, reactor.ErrClosed) {
		t.Fatalf("Sync: %v", err)
	}
}

// TestShutdownWaitsForActivePeersFIN: a connection whose peer was active
// when Shutdown began (input waiting, output still to send, a handler
// holding it back), or that sent while the server lingered, is closed only
// after the peer's FIN, even once all output is flushed and acknowledged.
// The peer may still be sending: data that reaches a closed socket is
// answered with an RST, and an RST while the server still holds output
// destroys it. Each case brings the server to the moment a loop that
// ignored the rule would have closed (its output flushed, acknowledged,
// and a turn after that), then the peer sends once more: that data must
// be acknowledged, not reset, and Shutdown must end cleanly once the peer
// shuts its side. The peer reads all the output, byte-exact, first.
func TestShutdownWaitsForActivePeersFIN(t *testing.T) {
	greeting := conformance.Payload(8, 1<<10)
	for _, tc := range []struct {
		name string
		// prepare sets the connection up; begin starts Shutdown (through
		// the function it is given) at the point the case needs. It
		// returns the output the peer must read, after what the peer read
		// during prepare.
		prepare func(t *testing.T, l *reactor.Loop, h *drainee, c *net.TCPConn, begin func()) []byte
		handler func(h *drainee)
		rcvbuf  int
	}{
		{
			name:    "active=input-waiting",
			handler: func(h *drainee) { h.out = greeting },
			prepare: func(t *testing.T, l *reactor.Loop, h *drainee, c *net.TCPConn, begin func()) []byte {
				if err := conformance.ReadExactly(c, greeting); err != nil {
					t.Fatalf("greeting: %v", err)
				}
				// The input arrives while the loop is held, so that the turn
				// that begins draining finds it unread.
				release := blockLoop(t, l)
				if _, err := c.Write([]byte("unread at Shutdown")); err != nil {
					t.Fatal(err)
				}
				conformance.WaitFor(t, waitTimeout, "the input to reach the server", func() bool { return hasInput(h.c.Fd()) })
				begin()
				conformance.WaitFor(t, waitTimeout, "Shutdown to post its start to the held loop", func() bool {
					queued, _, err := reactor.TaskQueue(l)
					return err == nil && queued[0] > 0
				})
				release(nil)
				return nil
			},
		},
		{
			name:   "active=output-pending",
			rcvbuf: 16 << 10,
			handler: func(h *drainee) {
				unix.SetsockoptInt(h.c.Fd(), unix.SOL_SOCKET, unix.SO_SNDBUF, 16<<10)
				h.out = conformance.Payload(9, 1<<20)
			},
			prepare: func(t *testing.T, l *reactor.Loop, h *drainee, c *net.TCPConn, begin func()) []byte {
				conformance.WaitFor(t, waitTimeout, "the server's output to stall", h.stalled.Load)
				begin()
				waitDraining(t, l) // before the peer reads: the output is pending when draining begins
				return conformance.Payload(9, 1<<20)
			},
		},
		{
			name:    "active=held-back",
			handler: func(h *drainee) { h.out, h.hold = greeting, true },
			prepare: func(t *testing.T, l *reactor.Loop, h *drainee, c *net.TCPConn, begin func()) []byte {
				if err := conformance.ReadExactly(c, greeting); err != nil {
					t.Fatalf("greeting: %v", err)
				}
				syncLoop(t, l)
				begin()
				waitDraining(t, l)
				return nil
			},
		},
		{
			// Idle when Shutdown begins, with output the kernel has not
			// sent yet; the peer sends while the server lingers on it. A
			// loop that closed without waiting for the kernel's queue (a
			// close with unsent bytes, answered by an RST) loses output here.
			name:   "active=sent-while-lingering",
			rcvbuf: 4 << 10,
			handler: func(h *drainee) {
				unix.SetsockoptInt(h.c.Fd(), unix.SOL_SOCKET, unix.SO_SNDBUF, 1<<20)
				h.out = conformance.Payload(10, 256<<10)
			},
			prepare: func(t *testing.T, l *reactor.Loop, h *drainee, c *net.TCPConn, begin func()) []byte {
				conformance.WaitFor(t, waitTimeout, "the handler to hand all output to the kernel", h.sent.Load)
				if _, unsent := serverSide(t, h.c); unsent <= 0 {
					t.Fatalf("the kernel had sent everything before Shutdown: the test did not reach the state it checks")
				}
				begin()
				waitDraining(t, l)
				syncExited(t, l) // the server has shut its side and lingers
				if _, err := c.Write([]byte("sent while the server lingers")); err != nil {
					t.Fatal(err)
				}
				var state uint8
				conformance.WaitFor(t, waitTimeout, "the server to take the input off its socket", func() bool {
					var outq int
					state, outq = sockInfo(t, c)
					return state == unix.BPF_TCP_CLOSE || outq == 0 && !hasInput(h.c.Fd())
				})
				if state == unix.BPF_TCP_CLOSE {
					t.Fatalf("data sent while the server lingered on unsent output was answered with an RST, which destroys that output: " +
						"the server closed while its kernel send queue (SIOCOUTQ) was not empty")
				}
				return conformance.Payload(10, 256<<10)
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			forPollers(t, func(t *testing.T, backend string) {
				l := newLoop(t, backend)
				hs := make(chan *drainee, 1)
				addr := conformance.Listen(t, l, func(c reactor.Conn) reactor.Handler {
					h := &drainee{c: c, closeErr: make(chan error, 1)}
					tc.handler(h)
					hs <- h
					return h
				})
				var c *net.TCPConn
				if tc.rcvbuf > 0 {
					c = dialSmall(t, addr, tc.rcvbuf)
				} else {
					c = conformance.DialTCP(t, addr)
				}
				c.SetDeadline(time.Now().Add(2 * waitTimeout))
				h := recv(t, hs, "the server's handler")

				ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
				defer cancel()
				shut := make(chan error, 1)
				began := false
				begin := func() {
					began = true
					go func() { shut <- l.Shutdown(ctx) }()
				}
				want := tc.prepare(t, l, h, c, begin)
				if !began {
					t.Fatal("the case did not start Shutdown")
				}

				if err := conformance.ReadToEOF(c, want); err != nil {
					t.Fatalf("the flushed output: %v", err)
				}
				// Where a loop that ignored the peer would close: all output
				// acknowledged, FIN included, and a turn after that.
				conformance.WaitFor(t, waitTimeout, "the server's send queue to empty", func() bool {
					closed, unsent := serverSide(t, h.c)
					return closed || unsent == 0
				})
				syncExited(t, l)

				if _, err := c.Write([]byte("after the flush")); err != nil {
					t.Fatalf("write after the flush: %v", err)
				}
				var state uint8
				conformance.WaitFor(t, waitTimeout, "the server to acknowledge or reset the peer's last data", func() bool {
					var outq int
					state, outq = sockInfo(t, c)
					return state == unix.BPF_TCP_CLOSE || outq == 0
				})
				if state == unix.BPF_TCP_CLOSE {
					t.Fatalf("the peer's data, sent after the server had flushed and shut its side, was answered with an RST: " +
						"the server closed without waiting for the FIN of a peer that was active when Shutdown began")
				}
				if err := c.CloseWrite(); err != nil {
					t.Fatalf("CloseWrite: %v", err)
				}
				if err := recv(t, shut, "Shutdown to return"); err != nil {
					t.Errorf("Shutdown: %v", err)
				}
				if err := recv(t, h.closeErr, "HandleClose"); err != nil {
					t.Errorf("HandleClose(%v), want nil: the connection was flushed and closed gracefully", err)
				}
				if state, _ := sockInfo(t, c); state == unix.BPF_TCP_CLOSE {
					if serr, _ := unix.GetsockoptInt(fdOf(t, c), unix.SOL_SOCKET, unix.SO_ERROR); serr != 0 {
						t.Errorf("the peer's socket has error %v after Shutdown: the connection was reset", unix.Errno(serr))
					}
				}
			})
		})
	}
}

// waitDraining waits until Shutdown has begun on l's loops.
func waitDraining(t *testing.T, l *reactor.Loop) {
	t.Helper()
	conformance.WaitFor(t, waitTimeout, "Shutdown to begin on the loop", func() bool {
		d, err := reactor.Draining(l)
		if err != nil {
			t.Fatalf("Draining: %v", err)
		}
		return d
	})
}

// fdOf returns c's descriptor, for a getsockopt while c is open.
func fdOf(t *testing.T, c *net.TCPConn) int {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	fd := -1
	rc.Control(func(u uintptr) { fd = int(u) })
	return fd
}
