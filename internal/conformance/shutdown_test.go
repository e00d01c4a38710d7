package conformance

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/edgeloop/edgeloop/protocols/echo"
	"github.com/edgeloop/edgeloop/protocols/timeproto"
	"github.com/edgeloop/edgeloop/reactor"
)

// TestShutdownKeepsKernelSendQueue: Shutdown loses nothing when the output
// sits in the server's kernel send queue rather than in a handler. Ten
// clients, each with a 4 KiB receive buffer, send 24 KiB to echo and read
// nothing, so that most of each echo waits in the server's send queue while
// its handler holds nothing. Shutdown starts; once every server socket has
// shut its write side (its FIN is queued), each client sends one more byte
// and then reads: it must get all 24 KiB and a clean EOF. A server that took
// "the handler holds nothing" for idle and closed at once left an orphan
// socket with unsent bytes, and the client's next byte made the kernel
// answer with an RST that discarded them (TcpExtTCPAbortOnData): each
// client got 4 KiB and then ECONNRESET.
func TestShutdownKeepsKernelSendQueue(t *testing.T) {
	const (
		clients = 10
		size    = 24 << 10
	)
	ForEachBackend(t, ShutdownKernelQ, func(t *testing.T, backend string) {
		p := &probe{}
		l, addr := Start(t, backend, 1, p.testEcho(1<<20, -1))
		d := net.Dialer{Timeout: DialTimeout, Control: smallReceiveBuffer(4096)}
		s := seed(t)
		conns := make([]*net.TCPConn, clients)
		payloads := make([][]byte, clients)
		for i := range conns {
			nc, err := d.Dial("tcp", addr)
			if err != nil {
				t.Fatalf("dial %d: %v", i, err)
			}
			conns[i] = nc.(*net.TCPConn)
			t.Cleanup(func() { nc.Close() })
			payloads[i] = Payload(s+uint64(i), size)
			conns[i].SetDeadline(time.Now().Add(30 * time.Second))
			if _, err := conns[i].Write(payloads[i]); err != nil {
				t.Fatalf("client %d: write: %v", i, err)
			}
		}
		WaitFor(t, 10*time.Second, fmt.Sprintf("the handlers to read all %d bytes and hand all of it to the kernel", clients*size), func() bool {
			return p.read.Load() == clients*size && p.held.Load() == 0
		})

		ctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
		defer cancel()
		serr := make(chan error, 1)
		go func() { serr <- l.Shutdown(ctx) }()

		// Wait until the server has done what Shutdown does to an idle
		// connection: shut its write side or closed it. Either way the
		// server's socket has left ESTABLISHED with its FIN queued.
		var last []tcpSocket
		finQueued := func() bool {
			last = tcpSockets(t)
			for _, c := range conns {
				s, ok := serverSide(last, c)
				if !ok || (s.state != tcpFinWait1 && s.state != tcpFinWait2 && s.state != tcpClosing) {
					return false
				}
			}
			return true
		}
		if !Poll(10*time.Second, finQueued) {
			for i, c := range conns {
				s, ok := serverSide(last, c)
				t.Logf("client %d: server socket found %v, state %#x, send queue %d", i, ok, s.state, s.txQueue)
			}
			t.Fatalf("10s after Shutdown began, not every server socket had shut its write side")
		}
		queued := 0
		for _, c := range conns {
			s, _ := serverSide(last, c)
			queued += s.txQueue
		}
		t.Logf("at Shutdown the servers' kernels held %d of the %d bytes echoed", queued, clients*size)

		errs := make([]error, clients)
		var wg sync.WaitGroup
		for i, c := range conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := c.Write([]byte{'+'}); err != nil {
					errs[i] = fmt.Errorf("the extra byte: %w", err)
					return
				}
				c.SetReadDeadline(time.Now().Add(ShutdownTimeout + 5*time.Second))
				errs[i] = ReadToEOF(c, payloads[i])
				c.Close() // the server waits for this FIN: the peer sent after it had flushed
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				hint := ""
				if errors.Is(err, syscall.ECONNRESET) {
					hint = " (the server closed with bytes in its send queue; the extra byte drew an RST)"
				}
				t.Errorf("client %d: %v%s", i, err, hint)
			}
		}
		select {
		case err := <-serr:
			if err != nil {
				t.Errorf("Shutdown: %v", err)
			}
		case <-time.After(ShutdownTimeout + 5*time.Second):
			t.Fatalf("Shutdown had not returned %v after its ctx ended", 5*time.Second)
		}
	})
}

// TestShutdownReturnsWithHandlerStuck: Shutdown returns ctx.Err() as soon
// as its ctx ends, whatever the loop is doing; here a handler is blocked
// inside HandleRecv. Done stays open while that handler runs (the loop has
// not stopped), and closes once it returns. Shutdown used to wait for the
// loops after forcing them closed, so a stuck handler hung it for good.
func TestShutdownReturnsWithHandlerStuck(t *testing.T) {
	const grace = 300 * time.Millisecond
	ForEachBackend(t, ShutdownStuck, func(t *testing.T, backend string) {
		entered, release := make(chan struct{}), make(chan struct{})
		var enterOnce, releaseOnce sync.Once
		unblock := func() { releaseOnce.Do(func() { close(release) }) }
		defer unblock() // before NewLoop's cleanup, which shuts down again
		p := &probe{}
		l, addr := Start(t, backend, 1, func(c reactor.Conn) reactor.Handler {
			p.opened(c)
			return &stuck{c: c, p: p, stuck: func() {
				enterOnce.Do(func() { close(entered) })
				<-release
			}}
		})
		c := DialTCP(t, addr)
		if _, err := c.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		select {
		case <-entered:
		case <-time.After(5 * time.Second):
			t.Fatal("HandleRecv was not called within 5s")
		}

		ctx, cancel := context.WithTimeout(context.Background(), grace)
		defer cancel()
		serr := make(chan error, 1)
		start := time.Now()
		go func() { serr <- l.Shutdown(ctx) }()
		select {
		case err := <-serr:
			took := time.Since(start)
			t.Logf("Shutdown returned %v after %v", err, took.Round(time.Millisecond))
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Shutdown: %v, want %v", err, context.DeadlineExceeded)
			}
			if took > grace+time.Second {
				t.Errorf("Shutdown took %v with a %v ctx", took, grace)
			}
		case <-time.After(grace + 5*time.Second):
			t.Fatalf("Shutdown had not returned 5s after its %v ctx ended, with a handler blocked in HandleRecv", grace)
		}
		select {
		case <-l.Done():
			t.Errorf("Done closed while a handler was still blocked inside the loop")
		default:
		}

		unblock()
		select {
		case <-l.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("Done had not closed 5s after the blocked handler returned")
		}
		WaitFor(t, 5*time.Second, "HandleClose of the stuck connection", func() bool { return p.closed.Load() == 1 })
		t.Logf("HandleClose(%v)", p.closeErrors()[0])
	})
}

// stuck calls its stuck function from HandleRecv, and reads.
type stuck struct {
	c     reactor.Conn
	p     *probe
	stuck func()
}

func (h *stuck) WantsRecv() bool   { return true }
func (h *stuck) WantsSend() bool   { return false }
func (h *stuck) HandleSend() error { return nil }

func (h *stuck) HandleRecv() error {
	h.stuck()
	_, err := h.c.Read(h.c.ReadBuffer())
	if err == reactor.ErrWouldBlock {
		return nil
	}
	return err
}

func (h *stuck) HandleClose(err error) { h.p.recordClose(err) }

// TestShutdownEndsWaitOnReset: a connection whose bytes wait in the server's
// kernel send queue at Shutdown is waited for, but a reset ends the wait:
// the bytes will never be sent. The client (4 KiB receive buffer) sends
// 24 KiB and reads nothing; Shutdown starts; the client shuts its write side
// (FIN) and then resets (SO_LINGER 0). Shutdown must return nil at once. A
// reset socket goes on reporting its unsent bytes in SIOCOUTQ, and once a
// FIN has come first its reads say EOF, not ECONNRESET: a server that trusted
// SIOCOUTQ waited for the whole Shutdown deadline (TestFairness hit it when
// the flood's close turned into a FIN and then an RST).
func TestShutdownEndsWaitOnReset(t *testing.T) {
	const size = 24 << 10
	ForEachBackend(t, ShutdownReset, func(t *testing.T, backend string) {
		p := &probe{}
		l, addr := Start(t, backend, 1, p.testEcho(1<<20, -1))
		d := net.Dialer{Timeout: DialTimeout, Control: smallReceiveBuffer(4096)}
		nc, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c := nc.(*net.TCPConn)
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write(Payload(seed(t), size)); err != nil {
			t.Fatal(err)
		}
		WaitFor(t, 10*time.Second, "the handler to read all and hand all of it to the kernel", func() bool {
			return p.read.Load() == size && p.held.Load() == 0
		})
		ctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
		defer cancel()
		serr := make(chan error, 1)
		go func() { serr <- l.Shutdown(ctx) }()
		serverState := func(states ...int) func() bool {
			return func() bool {
				s, ok := serverSide(tcpSockets(t), c)
				for _, st := range states {
					if ok && s.state == st {
						return true
					}
				}
				return !ok // closed already: nothing to wait for
			}
		}
		WaitFor(t, 10*time.Second, "the server to shut its write side", serverState(tcpFinWait1, tcpFinWait2, tcpClosing))
		if err := c.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		WaitFor(t, 10*time.Second, "the server's kernel to take the FIN", serverState(tcpClosing, tcpTimeWait, tcpCloseWait, tcpLastAck))
		c.SetLinger(0)
		c.Close()
		start := time.Now()
		select {
		case err := <-serr:
			t.Logf("Shutdown returned %v %v after the reset", err, time.Since(start).Round(time.Millisecond))
			if err != nil {
				t.Errorf("Shutdown: %v", err)
			}
		case <-time.After(ShutdownTimeout + time.Second):
			t.Fatalf("Shutdown had not returned %v after the reset: it waited on a reset socket's send queue", ShutdownTimeout)
		}
	})
}

// fullReader echoes, and blocks inside HandleRecv right after the read that
// brings its input to want bytes, until release is closed.
type fullReader struct {
	c                reactor.Conn
	out              []byte
	want, got        int
	entered, release chan struct{}
}

func (h *fullReader) WantsRecv() bool { return len(h.out) == 0 }
func (h *fullReader) WantsSend() bool { return len(h.out) > 0 }

func (h *fullReader) HandleRecv() error {
	buf := h.c.ReadBuffer()
	n, err := h.c.Read(buf)
	h.out = append(h.out, buf[:n]...)
	if h.got += n; n > 0 && h.got == h.want {
		close(h.entered)
		<-h.release
	}
	switch err {
	case nil, reactor.ErrWouldBlock:
		return h.HandleSend()
	case io.EOF:
		return h.c.Close()
	}
	return err
}

func (h *fullReader) HandleSend() error {
	n, err := h.c.Write(h.out)
	h.out = h.out[n:]
	if err == reactor.ErrWouldBlock {
		return nil
	}
	return err
}

// TestShutdownIdleAfterFullRead: a peer that has sent nothing more since
// its last message was read, and has read its echo, is idle: Shutdown
// closes its connection at once, though the last read filled the whole read
// buffer. The native loop used to count a connection still marked readable
// (a read that fills the buffer is not a short read, and one that also
// spends the turn's budget is looked at again next turn) as a peer still
// sending, and waited for its FIN until Shutdown's deadline; TestNoLeaks
// hit it under load. The message is one read buffer long; the test holds
// the loop (where Loop.Post runs on it) while it arrives, so that one read
// takes it all, and starts Shutdown while the handler is inside the call
// that read its last byte.
func TestShutdownIdleAfterFullRead(t *testing.T) {
	ForEachBackend(t, ShutdownFullRead, func(t *testing.T, backend string) {
		h := &fullReader{entered: make(chan struct{}), release: make(chan struct{})}
		var once sync.Once
		unblock := func() { once.Do(func() { close(h.release) }) }
		defer unblock()
		bufSize := make(chan int, 1)
		l, addr := Start(t, backend, 1, func(c reactor.Conn) reactor.Handler {
			h.c, h.want = c, len(c.ReadBuffer())
			bufSize <- h.want
			return h
		})
		c := DialTCP(t, addr)
		c.SetDeadline(time.Now().Add(15 * time.Second))
		var size int // the read buffer's: 64 KiB, the native loop's budget too
		select {
		case size = <-bufSize:
		case <-time.After(5 * time.Second):
			t.Fatal("no handler was made")
		}

		held, hold := make(chan struct{}), make(chan struct{})
		var holdOnce sync.Once
		unhold := func() { holdOnce.Do(func() { close(hold) }) }
		defer unhold()
		if err := l.Post(func() { close(held); <-hold }); err != nil {
			t.Fatalf("Post: %v", err)
		}
		select {
		case <-held:
		case <-time.After(5 * time.Second):
			t.Fatal("the posted function did not run")
		}
		payload := Payload(seed(t), size)
		if _, err := c.Write(payload); err != nil {
			t.Fatal(err)
		}
		WaitFor(t, 5*time.Second, "the server's kernel to acknowledge the message", func() bool { return unacked(t, c) == 0 })
		unhold()
		select {
		case <-h.entered:
		case <-time.After(5 * time.Second):
			t.Fatalf("the handler had not read the %d bytes within 5s", size)
		}

		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		serr := make(chan error, 1)
		go func() { serr <- l.Shutdown(ctx) }()
		WaitFor(t, 5*time.Second, "Shutdown to begin", func() bool {
			_, err := l.Listen("tcp", "127.0.0.1:0", echo.New)
			return errors.Is(err, reactor.ErrClosed)
		})
		unblock()
		if err := ReadExactly(c, payload); err != nil {
			t.Fatalf("the echo: %v", err)
		}
		select {
		case err := <-serr:
			if err != nil {
				t.Errorf("Shutdown: %v: it waited for the FIN of a peer that was idle", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Shutdown had not returned 2s after its 3s ctx ended")
		}
		if err := ReadToEOF(c, nil); err != nil {
			t.Errorf("after Shutdown: %v", err)
		}
	})
}

// TestShutdownDuringGracefulFinWait is the regression test for a Shutdown
// held to its deadline by a client that read its answer and kept the
// connection open: the server's graceful close (daytime's) had sent all and
// waited for the client's FIN, which no idle client sends. Shutdown closes
// idle peers at once, and such a peer is one; it returned ctx's error
// after 3 s on the native loop (exit 1 from edgeloop serve), and waited out
// the 5 s graceful bound on net.
func TestShutdownDuringGracefulFinWait(t *testing.T) {
	ForEachTransport(t, ShutdownFinWait, func(t *testing.T, backend string, tr Transport) {
		ts := &timeproto.Server{}
		l, addr := StartOn(t, backend, tr, 2, ts.Daytime)
		var clients []Conn
		for range 4 {
			c := Connect(t, addr)
			c.SetDeadline(time.Now().Add(10 * time.Second))
			if b, err := io.ReadAll(c); err != nil || len(b) == 0 {
				t.Fatalf("daytime answer: %q, %v", b, err)
			}
			clients = append(clients, c) // kept open: no FIN from us
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second) // under the 5 s graceful bound
		defer cancel()
		start := time.Now()
		if err := l.Shutdown(ctx); err != nil {
			t.Fatalf("Shutdown with %d answered clients that keep their side open: %v after %v",
				len(clients), err, time.Since(start).Round(time.Millisecond))
		}
		t.Logf("Shutdown took %v", time.Since(start).Round(time.Millisecond))
	})
}
