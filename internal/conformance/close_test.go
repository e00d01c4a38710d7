package conformance

import (
	"errors"
	"io"
	"testing"
	"time"

	"github.com/edgeloop/edgeloop/reactor"
)

// selfCloser closes its own connection from inside HandleRecv or HandleSend
// and notes whether HandleClose ran while that call was still in progress.
type selfCloser struct {
	c        reactor.Conn
	inRecv   bool // close from HandleRecv, else from HandleSend
	sent     bool
	inCall   bool // inside the handler call that closes
	closeRet error
	report   chan closeReport
}

// closeReport is what selfCloser saw.
type closeReport struct {
	reentrant bool  // HandleClose ran while the closing call was in progress
	closeErr  error // what Close returned
	err       error // what HandleClose was given
}

func (h *selfCloser) WantsRecv() bool { return true }
func (h *selfCloser) WantsSend() bool { return !h.inRecv && !h.sent }

func (h *selfCloser) HandleRecv() error {
	_, err := h.c.Read(h.c.ReadBuffer())
	if h.inRecv && err == nil {
		h.closeInCall()
		return nil
	}
	if err == reactor.ErrWouldBlock || err == io.EOF {
		return nil
	}
	return err
}

func (h *selfCloser) HandleSend() error {
	h.sent = true
	if _, err := h.c.Write([]byte("bye\n")); err != nil {
		return err
	}
	h.closeInCall()
	return nil
}

// closeInCall closes the connection in the middle of a handler call, as a
// handler that then goes on to use its buffers would.
func (h *selfCloser) closeInCall() {
	h.inCall = true
	h.closeRet = h.c.Close()
	h.inCall = false
}

func (h *selfCloser) HandleClose(err error) {
	h.report <- closeReport{reentrant: h.inCall, closeErr: h.closeRet, err: err}
}

// TestHandleCloseAfterTheClosingCall: a handler that calls Close inside
// HandleRecv or HandleSend gets HandleClose only after that call has
// returned, once, with a nil error. HandleClose used to run inside Close, so
// a handler that returns its buffers to a pool in HandleClose went on using
// a released buffer for the rest of the call.
func TestHandleCloseAfterTheClosingCall(t *testing.T) {
	ForEachBackend(t, CloseAfterCall, func(t *testing.T, backend string) {
		for _, where := range []string{"HandleRecv", "HandleSend"} {
			t.Run("in="+where, func(t *testing.T) {
				report := make(chan closeReport, 2)
				_, addr := Start(t, backend, 1, func(c reactor.Conn) reactor.Handler {
					return &selfCloser{c: c, inRecv: where == "HandleRecv", report: report}
				})
				c := DialTCP(t, addr)
				if where == "HandleRecv" {
					if _, err := c.Write([]byte("x")); err != nil {
						t.Fatal(err)
					}
				}
				var r closeReport
				select {
				case r = <-report:
				case <-time.After(5 * time.Second):
					t.Fatalf("HandleClose was not called within 5s of Close in %s", where)
				}
				if r.reentrant {
					t.Errorf("HandleClose ran inside Close, before %s returned", where)
				}
				if r.closeErr != nil {
					t.Errorf("Close in %s: %v", where, r.closeErr)
				}
				if r.err != nil {
					t.Errorf("HandleClose(%v), want nil for a close the handler asked for", r.err)
				}
				c.SetReadDeadline(time.Now().Add(5 * time.Second))
				if _, err := io.ReadAll(c); err != nil && !errors.Is(err, io.EOF) {
					t.Logf("client after the server closed: %v", err)
				}
				select {
				case r := <-report:
					t.Errorf("HandleClose called twice (second: %v)", r.err)
				default:
				}
			})
		}
	})
}

// resetWriter reads one byte, waits (holding its loop) until the test has
// reset the connection, then writes into the reset socket and notes
// whether HandleClose ran while that write's HandleSend was in progress.
type resetWriter struct {
	c      reactor.Conn
	read   chan<- struct{} // closed once the byte is read
	gone   <-chan struct{} // closed once the peer has reset
	got    bool
	inCall bool
	report chan closeReport
}

func (h *resetWriter) WantsRecv() bool { return !h.got }
func (h *resetWriter) WantsSend() bool { return h.got }

func (h *resetWriter) HandleRecv() error {
	if _, err := h.c.Read(h.c.ReadBuffer()); err != nil {
		return nil
	}
	h.got = true
	close(h.read)
	select {
	case <-h.gone:
	case <-time.After(5 * time.Second):
	}
	return nil
}

func (h *resetWriter) HandleSend() error {
	h.inCall = true
	defer func() { h.inCall = false }()
	buf := make([]byte, 1024)
	for range 1000 {
		if _, err := h.c.Write(buf); err != nil && err != reactor.ErrWouldBlock {
			// A handler that keeps its output in a pooled buffer, as
			// frame.Outbox does, goes on using it after the failed write.
			return err
		}
	}
	return nil
}

func (h *resetWriter) HandleClose(err error) {
	h.report <- closeReport{reentrant: h.inCall, err: err}
}

// TestHandleCloseAfterAFailedWrite: a write that fails because the peer
// has reset the connection does not run HandleClose inside the handler
// call that wrote. gnet closes a connection inside Conn.Write when the
// write fails, and the adapter passed that on: frame.Outbox's HandleSend,
// told of the close (which returned its buffer) in the middle of its
// write, then dereferenced the buffer it had just released. TestSoak
// found it, with its qa and lines clients that reset mid-message.
func TestHandleCloseAfterAFailedWrite(t *testing.T) {
	ForEachBackend(t, CloseAfterCall, func(t *testing.T, backend string) {
		report := make(chan closeReport, 2)
		read, gone := make(chan struct{}), make(chan struct{})
		_, addr := Start(t, backend, 1, func(c reactor.Conn) reactor.Handler {
			return &resetWriter{c: c, read: read, gone: gone, report: report}
		})
		c := DialTCP(t, addr)
		if _, err := c.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		select {
		case <-read:
		case <-time.After(5 * time.Second):
			t.Fatal("the handler did not read within 5s")
		}
		c.SetLinger(0)
		c.Close()
		close(gone)
		select {
		case r := <-report:
			if r.reentrant {
				t.Errorf("HandleClose(%v) ran inside HandleSend, in the write that failed", r.err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("HandleClose was not called within 5s of the reset")
		}
		select {
		case r := <-report:
			t.Errorf("HandleClose called twice (second: %v)", r.err)
		default:
		}
	})
}
