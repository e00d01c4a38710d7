package conformance

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/edgeloop/edgeloop/protocols/array"
	"github.com/edgeloop/edgeloop/protocols/echo"
	"github.com/edgeloop/edgeloop/reactor"
)

// The faults of issue 10 that concern one connection: a reset in the middle
// of a message, in either direction and with large arrays in flight, and a
// half-close by the server. Each ends with the server having freed the
// connection (HandleClose, descriptors, array memory) and another client
// served during and after.

// observe wraps f so that p sees every connection open and close, and
// counts in p.read the bytes its handlers read: each handler gets its Conn
// through countingConn.
func (p *probe) observe(f reactor.Factory) reactor.Factory {
	return func(c reactor.Conn) reactor.Handler {
		h := f(&countingConn{Conn: c, p: p})
		p.opened(c)
		return &observedHandler{Handler: h, p: p}
	}
}

// countingConn is a Conn that adds what Read returns to p.read. It keeps
// CloseGraceful, which embedding the interface alone would hide.
type countingConn struct {
	reactor.Conn
	p *probe
}

func (c *countingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.p.read.Add(int64(n))
	return n, err
}

func (c *countingConn) CloseGraceful() error { return reactor.CloseGraceful(c.Conn) }

// observedHandler is any handler with a probe recording its close.
type observedHandler struct {
	reactor.Handler
	p *probe
}

func (h *observedHandler) HandleClose(err error) {
	if ch, ok := h.Handler.(reactor.CloseHandler); ok {
		ch.HandleClose(err)
	}
	h.p.recordClose(err)
}

// reset closes c with an RST (SO_LINGER 0) rather than a FIN.
func reset(t *testing.T, c *net.TCPConn) {
	t.Helper()
	if err := c.SetLinger(0); err != nil {
		t.Fatal(err)
	}
	c.Close()
}

// fdMark is the process's descriptor count once the server has accepted
// every connection p expects, for checking that what a test opens after it
// is closed again. A client's dial returns before the server accepts.
func fdMark(t *testing.T, p *probe, accepted int64) int {
	t.Helper()
	WaitFor(t, 10*time.Second, "the server to accept the connections", func() bool { return p.accepted.Load() >= accepted })
	n, err := CountFDs()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// waitFDs waits until the process has want descriptors open again.
func waitFDs(t *testing.T, want int, what string) {
	t.Helper()
	var now int
	if !Poll(10*time.Second, func() bool { now, _ = CountFDs(); return now == want }) {
		t.Fatalf("%s: %d descriptors open, want %d as before; now:\n%s", what, now, want, FDs())
	}
}

// waitClosed waits until p has seen n closes, and returns the error of
// the n-th.
func waitClosed(t *testing.T, p *probe, n int64, what string) error {
	t.Helper()
	WaitFor(t, 10*time.Second, what, func() bool { return p.closed.Load() >= n })
	return p.closeErrors()[n-1]
}

// arrayMsg is a complete NPY message of size bytes of |u1 data, the data
// a repeating pseudo-random pattern made without a per-byte loop (which
// is slow under the race detector at 64 MiB).
func arrayMsg(t *testing.T, s uint64, size int) []byte {
	t.Helper()
	u1, err := array.ParseDType("|u1")
	if err != nil {
		t.Fatal(err)
	}
	msg, err := array.AppendHeader(nil, array.Header{Descr: u1, Shape: []int{size}})
	if err != nil {
		t.Fatal(err)
	}
	unit := Payload(s, 1<<20)
	msg = append(msg, bytes.Repeat(unit, size/len(unit))...)
	return append(msg, unit[:size%len(unit)]...)
}

// arrayRoundTrip sends a small array on c and checks that it comes back.
func arrayRoundTrip(t *testing.T, c net.Conn, s uint64, what string) {
	t.Helper()
	if err := Exchange(c, arrayMsg(t, s, 4096), nil, time.Now().Add(20*time.Second)); err != nil {
		t.Fatalf("%s: an array round trip: %v", what, err)
	}
}

// bigArray is the size of the large arrays of the reset tests.
const bigArray = 64 << 20

// waitMemoryFree waits until mem has nothing reserved and nobody waiting.
func waitMemoryFree(t *testing.T, mem *array.Budget, what string) {
	t.Helper()
	if !Poll(10*time.Second, func() bool { return mem.Used() == 0 && mem.Waiting() == 0 }) {
		t.Fatalf("%s: the array budget has %d bytes in use and %d waiting, want 0 and 0", what, mem.Used(), mem.Waiting())
	}
}

// TestResetMidUpload: a client of the array service resets its connection
// while it is in the middle of sending an array, and the server has
// nothing to send: after part of the preamble, in the header's dict, and
// after 32 MiB of a 64 MiB array whose memory the server has reserved.
// The server closes that connection (HandleClose with an error), its
// descriptor and its array memory are freed, and another client's round
// trips work during and after.
func TestResetMidUpload(t *testing.T) {
	ForEachBackend(t, ResetUpload, func(t *testing.T, backend string) {
		s := seed(t)
		msg := arrayMsg(t, s, bigArray)
		hdrLen := len(msg) - bigArray
		mem := array.NewBudget(bigArray + 1<<20) // the big array and the other client's
		p := &probe{}
		svc := &array.Service{Memory: mem}
		_, addr := Start(t, backend, 1, p.observe(svc.Factory))
		other := DialTCP(t, addr)
		arrayRoundTrip(t, other, s+1, "another client before the resets")

		for i, tc := range []struct {
			name string
			sent int // bytes of msg the client sends before its reset
		}{
			{"in-preamble", 5},
			{"in-dict", hdrLen - 20},
			{"in-data", hdrLen + bigArray/2},
		} {
			t.Run(tc.name, func(t *testing.T) {
				fds := fdMark(t, p, 1+int64(i))
				closed, read := p.closed.Load(), p.read.Load()
				victim := DialTCP(t, addr)
				victim.SetDeadline(time.Now().Add(30 * time.Second))
				if _, err := victim.Write(msg[:tc.sent]); err != nil {
					t.Fatal(err)
				}
				WaitFor(t, 20*time.Second, "the server to read what the client sent", func() bool {
					return p.read.Load()-read >= int64(tc.sent)
				})
				if tc.sent > hdrLen {
					if used := mem.Used(); used != bigArray {
						t.Fatalf("budget in use %d mid-array, want %d", used, bigArray)
					}
					arrayRoundTrip(t, other, s+2+uint64(i), "another client mid-upload")
				}
				reset(t, victim)
				err := waitClosed(t, p, closed+1, "HandleClose of the reset connection")
				if err == nil {
					t.Error("HandleClose(nil) for a connection reset mid-array: want the error")
				}
				t.Logf("HandleClose(%v)", err)
				waitMemoryFree(t, mem, "after the reset")
				waitFDs(t, fds, "after the reset")
				arrayRoundTrip(t, other, s+10+uint64(i), "another client after the reset")
			})
		}
		arrayRoundTrip(t, DialTCP(t, addr), s+20, "a new client after the resets")
	})
}

// TestResetWhileWaitingForMemory: a connection that waits for array memory
// (its header read, its array not yet granted) and then resets leaves the
// budget's waiting list; the one holding the memory resets mid-upload next,
// and the budget is back to nothing in use and nobody waiting.
func TestResetWhileWaitingForMemory(t *testing.T) {
	ForEachBackend(t, ResetWaiting, func(t *testing.T, backend string) {
		s := seed(t)
		msg := arrayMsg(t, s, bigArray)
		hdrLen := len(msg) - bigArray
		mem := array.NewBudget(bigArray + 1<<20)
		p := &probe{}
		svc := &array.Service{Memory: mem}
		_, addr := Start(t, backend, 1, p.observe(svc.Factory))
		other := DialTCP(t, addr)
		arrayRoundTrip(t, other, s, "another client before")
		fds := fdMark(t, p, 1) // once a connection is served: gnet opens its loops' descriptors as it starts

		holder := DialTCP(t, addr)
		if _, err := holder.Write(msg[:hdrLen+1<<20]); err != nil {
			t.Fatal(err)
		}
		WaitFor(t, 10*time.Second, "the first array's memory to be reserved", func() bool { return mem.Used() == bigArray })
		waiter := DialTCP(t, addr)
		if _, err := waiter.Write(msg[:hdrLen]); err != nil {
			t.Fatal(err)
		}
		WaitFor(t, 10*time.Second, "the second array to wait for memory", func() bool { return mem.Waiting() == 1 })
		arrayRoundTrip(t, other, s+1, "another client while one waits")

		reset(t, waiter)
		if why, limited := Limited(backend, ResetWaiterNow); limited {
			t.Logf("not checking that the waiter leaves before memory is freed: %s", why)
		} else {
			WaitFor(t, 10*time.Second, "the reset waiter to leave the budget's list", func() bool { return mem.Waiting() == 0 })
			if err := waitClosed(t, p, 1, "HandleClose of the reset waiter"); err == nil {
				t.Error("HandleClose(nil) for a reset waiter: want the error")
			}
		}
		reset(t, holder)
		WaitFor(t, 10*time.Second, "both reset connections to close", func() bool { return p.closed.Load() == 2 })
		waitMemoryFree(t, mem, "after both resets")
		waitFDs(t, fds, "after both resets")
		arrayRoundTrip(t, other, s+2, "another client after the resets")
	})
}

// TestResetMidResponse: a client resets while the server is in the middle
// of sending it a large answer it does not read: the 64 MiB array it sent
// to the array service, and 16 MiB echoed by the echo service. The server
// closes that connection, frees its descriptor and array memory, and
// serves another client during and after.
func TestResetMidResponse(t *testing.T) {
	ForEachBackend(t, ResetDownload, func(t *testing.T, backend string) {
		s := seed(t)
		t.Run("service=array", func(t *testing.T) {
			msg := arrayMsg(t, s, bigArray)
			mem := array.NewBudget(bigArray + 1<<20)
			p := &probe{}
			svc := &array.Service{Memory: mem}
			_, addr := Start(t, backend, 1, p.observe(svc.Factory))
			other := DialTCP(t, addr)
			fds := fdMark(t, p, 1)
			victim := DialTCP(t, addr)
			victim.SetDeadline(time.Now().Add(60 * time.Second))
			werr := make(chan error, 1)
			go func() { _, err := victim.Write(msg); werr <- err }()
			// The server reads the whole array before it answers, so the
			// write ends; then it sends, and the client reads a little.
			if err := ReadExactly(victim, msg[:1<<20]); err != nil {
				t.Fatalf("the start of the answer: %v", err)
			}
			if err := <-werr; err != nil {
				t.Fatalf("sending the array: %v", err)
			}
			if used := mem.Used(); used != bigArray {
				t.Errorf("budget in use %d mid-answer, want %d", used, bigArray)
			}
			arrayRoundTrip(t, other, s+1, "another client mid-answer")
			reset(t, victim)
			err := waitClosed(t, p, 1, "HandleClose of the reset connection")
			if err == nil {
				t.Error("HandleClose(nil) for a connection reset mid-answer: want the error")
			}
			t.Logf("HandleClose(%v)", err)
			waitMemoryFree(t, mem, "after the reset")
			waitFDs(t, fds, "after the reset")
			arrayRoundTrip(t, other, s+2, "another client after the reset")
			arrayRoundTrip(t, DialTCP(t, addr), s+3, "a new client after the reset")
		})
		t.Run("service=echo", func(t *testing.T) {
			p := &probe{}
			_, addr := Start(t, backend, 1, p.echo(echo.DefaultCap))
			other := DialTCP(t, addr)
			fds := fdMark(t, p, 1)
			victim := DialTCP(t, addr)
			written, stuck, err := fillUntilStuck(victim, Payload(s+4, 1<<20), 16<<20, 60*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("the client wrote %d bytes without reading (stuck %v)", written, stuck)
			WaitFor(t, 10*time.Second, "the echo to wait unread in the client's socket", func() bool { return unread(t, victim) > 0 })
			if err := Exchange(other, Payload(s+5, 64<<10), nil, time.Now().Add(20*time.Second)); err != nil {
				t.Fatalf("another client mid-answer: %v", err)
			}
			reset(t, victim)
			if err := waitClosed(t, p, 1, "HandleClose of the reset connection"); err == nil {
				t.Error("HandleClose(nil) for a connection reset mid-answer: want the error")
			} else {
				t.Logf("HandleClose(%v)", err)
			}
			waitFDs(t, fds, "after the reset")
			if err := Exchange(other, Payload(s+6, 256<<10), nil, time.Now().Add(20*time.Second)); err != nil {
				t.Errorf("another client after the reset: %v", err)
			}
		})
	})
}

// TestServerResetsOnHandlerError: the server's side of "resets in both
// directions". A handler fails (the poison byte) while the client's input
// behind the poison is still unread; closing a socket with unread input
// answers with an RST. The client sees an error (ECONNRESET, or EOF where
// the backend had already drained the socket), never its data or a hang;
// HandleClose gets the handler's error; and the loop serves the others.
func TestServerResetsOnHandlerError(t *testing.T) {
	const poison = 0xff
	ForEachBackend(t, ServerReset, func(t *testing.T, backend string) {
		p := &probe{}
		_, addr := Start(t, backend, 1, p.testEcho(1<<20, poison))
		clean := bytes.Repeat([]byte("0123456789abcdef"), 4096)
		good, bad := DialTCP(t, addr), DialTCP(t, addr)
		fds := fdMark(t, p, 2)
		msg := append([]byte{poison}, bytes.Repeat(clean, 16)...) // the poison, then 1 MiB unread
		bad.SetDeadline(time.Now().Add(10 * time.Second))
		werr := make(chan error, 1)
		go func() { _, err := bad.Write(msg); werr <- err }()
		var b [1]byte
		n, err := bad.Read(b[:])
		switch {
		case n != 0 || err == nil || errors.Is(err, os.ErrDeadlineExceeded):
			t.Fatalf("the failed connection: Read = %d, %v; want 0 and ECONNRESET or EOF", n, err)
		case errors.Is(err, io.EOF):
			t.Logf("the client read EOF (the server had read all the input before the handler failed)")
		default:
			t.Logf("the client read %v", err)
		}
		t.Logf("the client's write: %v", <-werr)
		if err := waitClosed(t, p, 1, "HandleClose of the failed connection"); !errors.Is(err, errPoison) {
			t.Errorf("HandleClose(%v), want %v", err, errPoison)
		}
		bad.Close()
		if err := Exchange(good, clean, nil, time.Now().Add(10*time.Second)); err != nil {
			t.Errorf("another connection after the failure: %v", err)
		}
		waitFDs(t, fds-2, "after the failed connection closed")
		if err := Exchange(DialTCP(t, addr), clean, nil, time.Now().Add(10*time.Second)); err != nil {
			t.Errorf("a new connection after the failure: %v", err)
		}
	})
}

// finFirst answers a request line with its answer, then shuts its write
// side (Conn.CloseWrite) and goes on reading: what it reads after that is
// given to HandleClose's observer, through p.
type finFirst struct {
	c       reactor.Conn
	answer  []byte // still to send
	req     []byte
	asked   bool // the request line is in
	finSent bool
	after   []byte // read after the FIN
	got     chan<- []byte
}

func (h *finFirst) WantsRecv() bool { return true }
func (h *finFirst) WantsSend() bool { return h.asked && !h.finSent }

func (h *finFirst) HandleRecv() error {
	buf := h.c.ReadBuffer()
	for {
		n, err := h.c.Read(buf)
		if h.asked {
			h.after = append(h.after, buf[:n]...)
		} else if h.req = append(h.req, buf[:n]...); bytes.IndexByte(h.req, '\n') >= 0 {
			h.asked = true // nothing follows the line before the answer's FIN
		}
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

func (h *finFirst) HandleSend() error {
	n, err := h.c.Write(h.answer)
	h.answer = h.answer[n:]
	if err == reactor.ErrWouldBlock {
		return nil
	}
	if err != nil {
		return err
	}
	if len(h.answer) == 0 {
		h.finSent = true
		return h.c.CloseWrite()
	}
	return nil
}

func (h *finFirst) HandleClose(error) { h.got <- h.after }

// TestHalfCloseFromServer: the other direction of TestHalfClose. The
// server answers a request and then shuts its write side, and keeps
// reading: the client reads the whole answer and then EOF, can still
// send, and the server reads all it sends after that.
func TestHalfCloseFromServer(t *testing.T) {
	ForEachBackend(t, HalfCloseServer, func(t *testing.T, backend string) {
		s := seed(t)
		for i, n := range []int{16, 4 << 20} {
			t.Run(fmt.Sprintf("answer=%d", n), func(t *testing.T) {
				if n > 64<<10 {
					SkipIfLimited(t, backend, HalfCloseLarge)
				}
				answer := Payload(s+uint64(i), n)
				got := make(chan []byte, 1)
				p := &probe{}
				_, addr := Start(t, backend, 1, p.observe(func(c reactor.Conn) reactor.Handler {
					return &finFirst{c: c, answer: answer, got: got}
				}))
				c := DialTCP(t, addr)
				c.SetDeadline(time.Now().Add(30 * time.Second))
				if _, err := c.Write([]byte("answer me\n")); err != nil {
					t.Fatal(err)
				}
				if err := ReadToEOF(c, answer); err != nil {
					t.Fatalf("the answer then EOF: %v (the server's HandleClose errors: %v)", err, p.closeErrors())
				}
				after := Payload(s+10+uint64(i), 256<<10+1)
				if _, err := c.Write(after); err != nil {
					t.Fatalf("writing after the server's FIN: %v", err)
				}
				if err := c.CloseWrite(); err != nil {
					t.Fatal(err)
				}
				select {
				case b := <-got:
					if !bytes.Equal(b, after) {
						t.Errorf("the server read %d bytes after its FIN, want the %d sent", len(b), len(after))
					}
				case <-time.After(20 * time.Second):
					t.Fatalf("the server did not close after the client's FIN (it read %d bytes)", p.read.Load())
				}
				err := waitClosed(t, p, 1, "HandleClose")
				if why, limited := Limited(backend, HalfClose); limited {
					t.Logf("HandleClose(%v): not checked for nil, because %s", err, why)
				} else if err != nil {
					t.Errorf("HandleClose(%v), want nil: the handler closed at EOF", err)
				}
			})
		}
	})
}
