package reactor_test

import (
	"errors"
	"io"
	"os"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"github.com/edgeloop/edgeloop/internal/conformance"
	"github.com/edgeloop/edgeloop/reactor"
)

// connMethods are the Conn methods that do I/O or change the connection.
var connMethods = []struct {
	name string
	call func(c reactor.Conn) error
}{
	{"Read", func(c reactor.Conn) error { _, err := c.Read(make([]byte, 16)); return err }},
	{"Read(empty)", func(c reactor.Conn) error { _, err := c.Read(nil); return err }},
	{"Write", func(c reactor.Conn) error { _, err := c.Write([]byte("late")); return err }},
	{"Close", (reactor.Conn).Close},
	{"CloseWrite", (reactor.Conn).CloseWrite},
}

// callAll calls every method of connMethods on c and returns their errors.
func callAll(c reactor.Conn) []error {
	errs := make([]error, len(connMethods))
	for i, m := range connMethods {
		errs[i] = m.call(c)
	}
	return errs
}

// closeThenCall closes its connection when input comes, then calls every
// Conn method, in the same handler call.
type closeThenCall struct {
	c        reactor.Conn
	done     bool
	errs     chan []error
	closeErr chan error
}

func (h *closeThenCall) WantsRecv() bool   { return !h.done }
func (h *closeThenCall) WantsSend() bool   { return false }
func (h *closeThenCall) HandleSend() error { return nil }

func (h *closeThenCall) HandleRecv() error {
	h.done = true
	if err := h.c.Close(); err != nil {
		return err
	}
	h.errs <- callAll(h.c)
	return nil
}

func (h *closeThenCall) HandleClose(err error) { h.closeErr <- err }

// TestConnMethodsAfterCloseReturnErrClosed: once a connection is closed,
// Read, Write, Close and CloseWrite return ErrClosed, both in the handler
// call that closed it and later from a function posted to it. It runs on
// every backend, since it is API; each method is a subtest, so a failure
// names the backend and the method that broke.
//
// backend=gnet/method=CloseWrite fails: gnetConn.closeWrite does not check
// whether the connection is closed. In the handler call that closed it, it
// still shuts the socket down and returns nil; after gnet closed the
// descriptor, it calls shutdown(2) on that number, which fails with EBADF
// or, once the number is reused, shuts down another connection.
func TestConnMethodsAfterCloseReturnErrClosed(t *testing.T) {
	for _, backend := range allBackends {
		t.Run("backend="+backend, func(t *testing.T) {
			l := newLoop(t, backend)
			hs := make(chan *closeThenCall, 1)
			addr := conformance.Listen(t, l, func(c reactor.Conn) reactor.Handler {
				h := &closeThenCall{c: c, errs: make(chan []error, 1), closeErr: make(chan error, 1)}
				hs <- h
				return h
			})
			c := conformance.DialTCP(t, addr)
			h := recv(t, hs, "the server's handler")
			c.SetDeadline(time.Now().Add(waitTimeout))
			if _, err := c.Write([]byte("x")); err != nil {
				t.Fatal(err)
			}
			inHandler := recv(t, h.errs, "the handler's calls")
			recv(t, h.closeErr, "HandleClose")
			posted := make(chan []error, 1)
			if err := h.c.Post(func() { posted <- callAll(h.c) }); err != nil {
				t.Fatalf("Post after close: %v", err)
			}
			afterClose := recv(t, posted, "the posted function")
			for i, m := range connMethods {
				t.Run("method="+m.name, func(t *testing.T) {
					if err := inHandler[i]; !errors.Is(err, reactor.ErrClosed) {
						t.Errorf("in the handler call that closed it: %v, want ErrClosed", err)
					}
					if err := afterClose[i]; !errors.Is(err, reactor.ErrClosed) {
						t.Errorf("in a function posted after HandleClose: %v, want ErrClosed", err)
					}
				})
			}
		})
	}
}

// eofRepeat reads to EOF, then reads again several times and records what
// those reads return, then closes.
type eofRepeat struct {
	c    reactor.Conn
	eof  bool
	errs chan []error
}

func (h *eofRepeat) WantsRecv() bool   { return !h.eof }
func (h *eofRepeat) WantsSend() bool   { return false }
func (h *eofRepeat) HandleSend() error { return nil }

func (h *eofRepeat) HandleRecv() error {
	for {
		_, err := h.c.Read(h.c.ReadBuffer())
		switch err {
		case nil:
			continue
		case reactor.ErrWouldBlock:
			return nil
		case io.EOF:
		default:
			return err
		}
		h.eof = true
		var errs []error
		for _, p := range [][]byte{h.c.ReadBuffer(), h.c.ReadBuffer(), make([]byte, 1), nil} {
			n, err := h.c.Read(p)
			if n != 0 {
				err = errors.New("read returned data after EOF")
			}
			errs = append(errs, err)
		}
		h.errs <- errs
		return h.c.Close()
	}
}

// TestReadAfterEOFReturnsEOFAgain: once Read has returned io.EOF, every
// further Read returns io.EOF itself (no ErrWouldBlock, no system call
// error), whatever the buffer. gnet is skipped: it closes the connection
// itself at EOF (conformance.Limits, half-close).
func TestReadAfterEOFReturnsEOFAgain(t *testing.T) {
	for _, backend := range allBackends {
		t.Run("backend="+backend, func(t *testing.T) {
			conformance.SkipIfLimited(t, backend, conformance.HalfClose)
			l := newLoop(t, backend)
			errs := make(chan []error, 1)
			addr := conformance.Listen(t, l, func(c reactor.Conn) reactor.Handler {
				return &eofRepeat{c: c, errs: errs}
			})
			c := conformance.DialTCP(t, addr)
			c.SetDeadline(time.Now().Add(waitTimeout))
			if _, err := c.Write([]byte("then EOF")); err != nil {
				t.Fatal(err)
			}
			if err := c.CloseWrite(); err != nil {
				t.Fatal(err)
			}
			for i, err := range recv(t, errs, "the reads after EOF") {
				if err != io.EOF {
					t.Errorf("read %d after EOF: %v, want io.EOF", i+1, err)
				}
			}
			if err := conformance.ReadToEOF(c, nil); err != nil {
				t.Errorf("client: %v", err)
			}
		})
	}
}

// writeOnReset writes twice when its connection becomes readable, which the
// test arranges to happen only through the peer's reset, and reports both
// errors.
type writeOnReset struct {
	c    reactor.Conn
	errs chan [2]error
}

func (h *writeOnReset) WantsRecv() bool   { return true }
func (h *writeOnReset) WantsSend() bool   { return false }
func (h *writeOnReset) HandleSend() error { return nil }

func (h *writeOnReset) HandleRecv() error {
	var errs [2]error
	for i := range errs {
		_, errs[i] = h.c.Write([]byte("to nobody"))
	}
	h.errs <- errs
	if errs[0] != nil {
		return errs[0]
	}
	return h.c.Close()
}

// TestWriteToResetPeerFails: writes to a peer that reset the connection
// fail with an error wrapping EPIPE or ECONNRESET, and the process gets no
// SIGPIPE (send uses MSG_NOSIGNAL). With signal.Notify for SIGPIPE, Go
// delivers that signal to the channel whatever the descriptor, so its
// absence is checked.
func TestWriteToResetPeerFails(t *testing.T) {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGPIPE)
	t.Cleanup(func() { signal.Stop(sigs) })
	forPollers(t, func(t *testing.T, backend string) {
		l := newLoop(t, backend)
		hs := make(chan *writeOnReset, 1)
		addr := conformance.Listen(t, l, func(c reactor.Conn) reactor.Handler {
			h := &writeOnReset{c: c, errs: make(chan [2]error, 1)}
			hs <- h
			return h
		})
		c := conformance.DialTCP(t, addr)
		h := recv(t, hs, "the server's handler")
		syncLoop(t, l) // the handler's first serve, with no input, is over
		if err := c.SetLinger(0); err != nil {
			t.Fatal(err)
		}
		c.Close() // RST
		for i, err := range recv(t, h.errs, "the writes after the reset") {
			if !errors.Is(err, syscall.EPIPE) && !errors.Is(err, syscall.ECONNRESET) {
				t.Errorf("write %d to a reset peer: %v, want EPIPE or ECONNRESET", i+1, err)
			}
		}
		select {
		case s := <-sigs:
			t.Errorf("the process got %v", s)
		case <-time.After(100 * time.Millisecond): // a window in which no signal must come
		}
	})
}
