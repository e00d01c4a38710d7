package echo_test

import (
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/edgeloop/edgeloop/internal/conformance"
	"golang.org/x/sys/unix"
)

// dialSmall connects to addr with a receive buffer of rcvbuf bytes, set
// before the connection exists so that the window it advertises is small
// from the start, and closes the connection when the test ends.
func dialSmall(t *testing.T, addr string, rcvbuf int) *net.TCPConn {
	t.Helper()
	d := net.Dialer{
		Timeout: conformance.DialTimeout,
		Control: func(_, _ string, rc syscall.RawConn) error {
			var serr error
			if err := rc.Control(func(fd uintptr) {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, rcvbuf)
			}); err != nil {
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

// TestUnsentTailSlidNotGrown: a peer that writes faster than it reads keeps
// the handler at its cap with a partly sent tail that never empties: each
// partial write leaves the rest of the buffer to send, and new input is
// appended behind it. echo slides that tail to the front of its buffer
// rather than let the buffer grow by everything that passes through it, so
// the buffer's capacity never exceeds the cap. The output must still be
// byte-exact: the slide neither drops nor repeats a byte.
func TestUnsentTailSlidNotGrown(t *testing.T) {
	const (
		capBytes = 64 << 10
		size     = 4 << 20
	)
	payload := conformance.Payload(6, size)
	for _, backend := range backends {
		t.Run("backend="+backend, func(t *testing.T) {
			spies := make(chan *spy, 1)
			l := newLoop(t, backend)
			c := dialSmall(t, conformance.Listen(t, l, spyFactory(capBytes, spies)), 4<<10)
			s := recv(t, spies, "the server's handler")

			werr := make(chan error, 1)
			go func() {
				c.SetWriteDeadline(time.Now().Add(waitTimeout))
				_, err := c.Write(payload)
				werr <- err
			}()
			c.SetReadDeadline(time.Now().Add(waitTimeout))
			if err := conformance.ReadExactly(c, payload); err != nil {
				t.Fatalf("echo of %d bytes: %v", size, err)
			}
			if err := recv(t, werr, "the client's write"); err != nil {
				t.Fatalf("client write: %v", err)
			}
			if n := s.recvsOnTail.Load(); n == 0 {
				t.Fatalf("no HandleRecv came while a partly sent tail was held: the test did not reach the state it checks")
			}
			if m := s.maxCapacity.Load(); m > capBytes {
				t.Errorf("the output buffer grew to a capacity of %d bytes with a cap of %d (%d HandleRecv calls on a partly sent tail): "+
					"the unsent tail was not slid to the front, so the buffer grows by all that passes through", m, capBytes, s.recvsOnTail.Load())
			}
			t.Logf("buffer at most %d bytes, capacity %d; %d HandleRecv calls on a partly sent tail", s.maxBuffered.Load(), s.maxCapacity.Load(), s.recvsOnTail.Load())
		})
	}
}
