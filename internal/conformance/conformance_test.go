package conformance

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	backendpkg "github.com/edgeloop/edgeloop/backend"
	"github.com/edgeloop/edgeloop/protocols/echo"
	"github.com/edgeloop/edgeloop/reactor"
	"go.uber.org/goleak"
	"golang.org/x/sys/unix"
)

// seed returns a seed for the test's random data and logs it, so that a
// failure can be replayed.
func seed(t *testing.T) uint64 {
	s := uint64(time.Now().UnixNano())
	t.Logf("seed %d", s)
	return s
}

// TestEchoManyConns: manyConns clients at once each send 1 B to 64 KiB of
// random data in random chunks and read it back concurrently, byte-exact.
func TestEchoManyConns(t *testing.T) {
	ForEachTransport(t, EchoMany, func(t *testing.T, backend string, tr Transport) {
		_, addr := StartOn(t, backend, tr, 2, echo.New)
		s := seed(t)
		deadline := time.Now().Add(60 * time.Second)
		errs := make(chan error, manyConns)
		var wg sync.WaitGroup
		var total atomic.Int64
		start := time.Now()
		for i := range manyConns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := rand.New(rand.NewPCG(s, uint64(i)))
				payload := Payload(r.Uint64(), 1+r.IntN(64<<10))
				total.Add(int64(len(payload)))
				c, err := DialStream(addr)
				if err != nil {
					errs <- fmt.Errorf("conn %d: dial: %w", i, err)
					return
				}
				defer c.Close()
				// r is the writer's alone from here on.
				chunk := func() int { return 1 + r.IntN(8<<10) }
				if err := Exchange(c, payload, chunk, deadline); err != nil {
					errs <- fmt.Errorf("conn %d (%d bytes): %w", i, len(payload), err)
				}
			}()
		}
		wg.Wait()
		close(errs)
		failed := 0
		for err := range errs {
			if failed++; failed <= 5 {
				t.Error(err)
			}
		}
		if failed > 0 {
			t.Fatalf("%d of %d connections failed", failed, manyConns)
		}
		t.Logf("%d connections echoed %d bytes in %v", manyConns, total.Load(), time.Since(start).Round(time.Millisecond))
	})
}

// TestEchoLarge: one 8 MiB message, far larger than the socket buffers,
// comes back byte-exact while it is still being written.
func TestEchoLarge(t *testing.T) {
	ForEachTransport(t, EchoLarge, func(t *testing.T, backend string, tr Transport) {
		_, addr := StartOn(t, backend, tr, 1, echo.New)
		c := Connect(t, addr)
		payload := Payload(seed(t), 8<<20)
		if err := Exchange(c, payload, nil, time.Now().Add(60*time.Second)); err != nil {
			t.Fatal(err)
		}
	})
}

// TestHalfClose: the client sends N bytes and shuts its write side; it must
// get exactly those N bytes and then EOF, and the server's handler must
// close its connection as one it asked to close (nil error).
func TestHalfClose(t *testing.T) {
	ForEachTransport(t, HalfClose, func(t *testing.T, backend string, tr Transport) {
		p := &probe{}
		_, addr := StartOn(t, backend, tr, 1, p.echo(echo.DefaultCap))
		s := seed(t)
		for i, n := range []int{0, 1, 64<<10 + 1, 4 << 20} {
			t.Run(fmt.Sprintf("size=%d", n), func(t *testing.T) {
				closedBefore := p.closed.Load()
				c := Connect(t, addr)
				payload := Payload(s+uint64(i), n)
				c.SetDeadline(time.Now().Add(30 * time.Second))
				werr := make(chan error, 1)
				go func() {
					if _, err := c.Write(payload); err != nil {
						werr <- err
						return
					}
					werr <- c.CloseWrite()
				}()
				if err := ReadToEOF(c, payload); err != nil {
					t.Error(err)
				}
				if err := <-werr; err != nil {
					t.Errorf("write and CloseWrite: %v", err)
				}
				WaitFor(t, 10*time.Second, "the server to close the connection", func() bool {
					return p.closed.Load() > closedBefore
				})
				errs := p.closeErrors()
				if err := errs[len(errs)-1]; err != nil {
					t.Errorf("HandleClose(%v), want nil: echo closed the connection itself", err)
				}
			})
		}
	})
}

// TestPeerReset: a client that resets its connection mid-stream (SO_LINGER
// 0) gets that connection closed on the server, and the loop keeps serving
// the other connections and new ones.
func TestPeerReset(t *testing.T) {
	ForEachTransport(t, PeerReset, func(t *testing.T, backend string, tr Transport) {
		p := &probe{}
		_, addr := StartOn(t, backend, tr, 1, p.echo(echo.DefaultCap))
		s := seed(t)
		other := Connect(t, addr)
		if err := Exchange(other, Payload(s, 4096), nil, time.Now().Add(10*time.Second)); err != nil {
			t.Fatalf("other connection before the reset: %v", err)
		}

		victim := Connect(t, addr)
		victim.SetDeadline(time.Now().Add(30 * time.Second))
		stream := Payload(s+1, 4<<20)
		wdone := make(chan struct{})
		go func() {
			defer close(wdone)
			victim.Write(stream) // ends with an error once the connection is reset
		}()
		if err := ReadExactly(victim, stream[:64<<10]); err != nil {
			t.Fatalf("victim, before the reset: %v", err)
		}
		if err := Reset(victim); err != nil { // RST, with data in flight both ways (Unix: see Reset)
			t.Fatal(err)
		}
		<-wdone

		WaitFor(t, 10*time.Second, "the server to close the reset connection", func() bool {
			return p.closed.Load() >= 1
		})
		if err := p.closeErrors()[0]; err == nil {
			t.Errorf("HandleClose(nil) for a reset connection: want the error (io.EOF or ECONNRESET/EPIPE)")
		} else {
			t.Logf("HandleClose(%v)", err)
		}
		if err := Exchange(other, Payload(s+2, 256<<10), nil, time.Now().Add(10*time.Second)); err != nil {
			t.Errorf("other connection after the reset: %v", err)
		}
		if err := Exchange(Connect(t, addr), Payload(s+3, 256<<10), nil, time.Now().Add(10*time.Second)); err != nil {
			t.Errorf("new connection after the reset: %v", err)
		}
	})
}

// fillUntilStuck writes chunk to c over and over, never reading, until
// limit bytes are written or the writes stop making progress: stallWindows
// write deadlines of stallWindow in a row that pass with nothing written.
// It reports how much was written and whether the writer got stuck. A
// progress check by write deadline, not a sleep: a server that reads is
// never taken for stuck, only a noisy machine can make one look slower.
func fillUntilStuck(c net.Conn, chunk []byte, limit int, within time.Duration) (written int, stuck bool, err error) {
	const (
		stallWindow  = 250 * time.Millisecond
		stallWindows = 4
	)
	end := time.Now().Add(within)
	idle := 0
	for written < limit && idle < stallWindows {
		if time.Now().After(end) {
			return written, false, fmt.Errorf("after %v the writer had sent %d bytes and was neither done nor stuck", within, written)
		}
		c.SetWriteDeadline(time.Now().Add(stallWindow))
		n, err := c.Write(chunk[:min(len(chunk), limit-written)])
		written += n
		switch {
		case err == nil || n > 0:
			idle = 0
		case errors.Is(err, os.ErrDeadlineExceeded):
			idle++
		default:
			return written, false, fmt.Errorf("write after %d bytes: %w", written, err)
		}
	}
	c.SetWriteDeadline(time.Time{})
	return written, idle == stallWindows, nil
}

// TestBackpressure: a peer that writes without reading is held back by the
// echo handler's cap. Pending output, seen after every handler call, never
// exceeds the cap, and the peer's writes stop making progress well before
// it has sent 64 MiB.
func TestBackpressure(t *testing.T) {
	const (
		capBytes = 256 << 10
		limit    = 64 << 20
	)
	ForEachTransport(t, Backpressure, func(t *testing.T, backend string, tr Transport) {
		p := &probe{}
		_, addr := StartOn(t, backend, tr, 1, p.echo(capBytes))
		c := Connect(t, addr)
		// Small client buffers so that the kernel holds little on our side:
		// what the writer gets through is mostly what the server took.
		c.SetReadBuffer(64 << 10)
		c.SetWriteBuffer(64 << 10)
		chunk := Payload(seed(t), 64<<10)
		written, stuck, err := fillUntilStuck(c, chunk, limit, 30*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if !stuck {
			t.Fatalf("the peer wrote all %d bytes without reading: nothing held it back", written)
		}
		if max := p.maxPending.Load(); max > capBytes {
			t.Errorf("Pending reached %d bytes, over the cap of %d", max, capBytes)
		}
		t.Logf("writer stuck after %d bytes; max Pending %d, cap %d", written, p.maxPending.Load(), capBytes)

		// The loop itself is not stuck behind that connection.
		if err := Exchange(Connect(t, addr), chunk, nil, time.Now().Add(10*time.Second)); err != nil {
			t.Errorf("another connection while one is held back: %v", err)
		}
	})
}

// TestShutdownDeadline: when Shutdown's context ends before a connection is
// flushed (its peer does not read), Shutdown closes it, HandleClose sees
// ErrShutdown, and Shutdown returns ctx.Err() promptly.
func TestShutdownDeadline(t *testing.T) {
	const grace = 500 * time.Millisecond
	ForEachTransport(t, ShutdownDeadline, func(t *testing.T, backend string, tr Transport) {
		SkipIfLimited(t, backend, Backpressure) // the peer must be held back first
		p := &probe{}
		l, addr := StartOn(t, backend, tr, 1, p.echo(256<<10))
		c := Connect(t, addr)
		c.SetReadBuffer(64 << 10)
		c.SetWriteBuffer(64 << 10)
		if _, stuck, err := fillUntilStuck(c, Payload(seed(t), 64<<10), 64<<20, 30*time.Second); err != nil || !stuck {
			t.Fatalf("the peer was not held back (stuck %v, %v): TestBackpressure tells why", stuck, err)
		}

		ctx, cancel := context.WithTimeout(context.Background(), grace)
		defer cancel()
		serr := make(chan error, 1)
		start := time.Now()
		go func() { serr <- l.Shutdown(ctx) }()
		select {
		case err := <-serr:
			took := time.Since(start)
			t.Logf("Shutdown returned %v after %v", err, took)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Shutdown: %v, want %v", err, context.DeadlineExceeded)
			}
			if took > grace+2*time.Second {
				t.Errorf("Shutdown took %v with a %v deadline", took, grace)
			}
		case <-time.After(grace + 5*time.Second):
			t.Errorf("Shutdown had not returned 5s after its %v deadline passed", grace)
			c.Close() // unblock the server, so that cleanup can finish
			select {
			case err := <-serr:
				t.Logf("Shutdown returned %v once the client closed", err)
			case <-time.After(ShutdownTimeout):
				t.Fatal("Shutdown still had not returned after the client closed")
			}
		}
		WaitFor(t, 5*time.Second, "HandleClose", func() bool { return p.closed.Load() == 1 })
		if err := p.closeErrors()[0]; !errors.Is(err, reactor.ErrShutdown) {
			t.Errorf("HandleClose(%v), want ErrShutdown", err)
		}
	})
}

// TestHandlerError: a handler that returns an error closes its own
// connection, with that error passed to HandleClose; another connection on
// the same loop, and new ones, go on echoing.
func TestHandlerError(t *testing.T) {
	const poison = 0xff
	ForEachTransport(t, HandlerError, func(t *testing.T, backend string, tr Transport) {
		p := &probe{}
		_, addr := StartOn(t, backend, tr, 1, p.testEcho(1<<20, poison))
		clean := bytes.Repeat([]byte("0123456789abcdef"), 4096)
		good, bad := Connect(t, addr), Connect(t, addr)
		for _, c := range []net.Conn{good, bad} {
			if err := Exchange(c, clean, nil, time.Now().Add(10*time.Second)); err != nil {
				t.Fatalf("before the poison: %v", err)
			}
		}
		bad.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := bad.Write([]byte{poison}); err != nil {
			t.Fatal(err)
		}
		var b [1]byte
		n, err := bad.Read(b[:])
		if n != 0 || err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("poisoned connection: Read = %d, %v; want 0 and EOF or a reset", n, err)
		}
		WaitFor(t, 10*time.Second, "HandleClose of the poisoned connection", func() bool {
			return p.closed.Load() >= 1
		})
		if errs := p.closeErrors(); len(errs) != 1 || !errors.Is(errs[0], errPoison) {
			t.Errorf("HandleClose errors %v, want exactly [%v]", errs, errPoison)
		}
		if err := Exchange(good, clean, nil, time.Now().Add(10*time.Second)); err != nil {
			t.Errorf("good connection after the other failed: %v", err)
		}
		if err := Exchange(Connect(t, addr), clean, nil, time.Now().Add(10*time.Second)); err != nil {
			t.Errorf("new connection after the other failed: %v", err)
		}
	})
}

// shutdownWhileReading starts l.Shutdown and reads c to EOF meanwhile, as a
// client that finally reads would. Before waiting for Shutdown, which needs
// the peer's FIN if the peer was still sending, it waits for writerDone
// (if not nil) and shuts c's write side. It checks that Shutdown returns
// nil and that the port then refuses connections, and returns what was
// read and the read's error.
func shutdownWhileReading(t *testing.T, l *reactor.Loop, addr string, c Conn, writerDone <-chan error) ([]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
	serr := make(chan error, 1)
	go func() { serr <- l.Shutdown(ctx) }()
	c.SetReadDeadline(time.Now().Add(ShutdownTimeout + 5*time.Second))
	got, rerr := io.ReadAll(c)
	if writerDone != nil {
		if err := <-writerDone; err != nil {
			t.Logf("writer: %v", err)
		}
	}
	c.CloseWrite()
	select {
	case err := <-serr:
		if err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	case <-time.After(ShutdownTimeout + 5*time.Second):
		t.Fatal("Shutdown did not return")
	}
	network, address := Split(addr)
	if _, err := os.Stat(address); network == "unix" && err == nil {
		t.Errorf("the socket file %s is still there after Shutdown", address)
	}
	if nc, err := net.DialTimeout(network, address, time.Second); err == nil {
		nc.Close()
		t.Errorf("dial after Shutdown succeeded: the listener is still open")
	}
	return got, rerr
}

// shrinkSendBuffer is a testEcho option that gives the server's socket a
// small fixed SO_SNDBUF where the backend shows the descriptor, so that
// the handler rather than the kernel holds the output a peer has not read.
func shrinkSendBuffer(c reactor.Conn) {
	if fd := c.Fd(); fd >= 0 {
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 64<<10)
	}
}

// TestShutdownFlushes: output the server holds for a client that has not
// been reading is all delivered by Shutdown, then EOF, and Shutdown returns
// nil. The client sends m bytes and stops; once the server's handler has
// read all m (it holds most of it: the client reads nothing, the socket
// buffers are small), Shutdown starts and the client reads: it must get
// exactly its m bytes back, then EOF. Afterwards the port refuses.
func TestShutdownFlushes(t *testing.T) {
	const capBytes = 4 << 20 // more than m: the handler reads all of it
	ForEachTransport(t, ShutdownFlush, func(t *testing.T, backend string, tr Transport) {
		m := 2 << 20
		if tr == Unix {
			// A Unix socket's buffers hold about 200 KiB a direction,
			// where loopback TCP's grow to megabytes: the net backend,
			// whose Write blocks, stops reading once they are full.
			m = 128 << 10
		}
		p := &probe{onOpen: shrinkSendBuffer}
		l, addr := StartOn(t, backend, tr, 1, p.testEcho(capBytes, -1))
		c := Connect(t, addr)
		c.SetReadBuffer(32 << 10)
		payload := Payload(seed(t), m)
		c.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write(payload); err != nil {
			t.Fatalf("write: %v", err)
		}
		WaitFor(t, 10*time.Second, fmt.Sprintf("the server to read all %d bytes", m), func() bool {
			return p.read.Load() == int64(m)
		})
		t.Logf("at Shutdown the handler held %d of the %d bytes it read", p.pending.Load(), m)

		got, err := shutdownWhileReading(t, l, addr, c, nil)
		if err != nil {
			t.Errorf("reading the flushed output: %v after %d bytes", err, len(got))
		}
		if len(got) != m {
			t.Errorf("received %d bytes before EOF, want all %d", len(got), m)
		}
		if i := firstDiff(got[:min(len(got), m)], payload[:min(len(got), m)]); i >= 0 {
			t.Errorf("flushed output differs from the input at byte %d", i)
		}
		// Not the handler's own close: nil or io.EOF (CloseHandler), but
		// not ErrShutdown, which is for connections the deadline cut.
		if errs := p.closeErrors(); len(errs) != 1 || errs[0] != nil && !errors.Is(errs[0], io.EOF) {
			t.Errorf("HandleClose errors %v, want one, nil or io.EOF, for a flushed connection", errs)
		}
	})
}

// TestShutdownLingersOnSendingPeer: Shutdown with a peer that is still
// sending, and has not read anything, loses none of the output. The doc
// of Shutdown and of the backends' graceful close: flush, FIN, then
// discard the peer's input until its FIN, so that closing does not reset
// the connection (an RST makes the kernel drop output still queued). The
// client sends m bytes without reading; once the server holds output,
// Shutdown starts while the client goes on writing, and the client reads:
// it must get exactly the first R bytes it sent, R being what the server's
// handler read in all (whatever a handler read must go back out), then EOF.
func TestShutdownLingersOnSendingPeer(t *testing.T) {
	const (
		m        = 8 << 20
		capBytes = 16 << 20 // more than m: only the kernel stops the server reading
	)
	ForEachTransport(t, ShutdownLinger, func(t *testing.T, backend string, tr Transport) {
		SkipIfLimited(t, backend, ShutdownFlush)
		p := &probe{}
		l, addr := StartOn(t, backend, tr, 1, p.testEcho(capBytes, -1))
		c := Connect(t, addr)
		c.SetReadBuffer(32 << 10)
		payload := Payload(seed(t), m)
		c.SetWriteDeadline(time.Now().Add(30 * time.Second))
		werr := make(chan error, 1)
		go func() {
			_, err := c.Write(payload)
			werr <- err
		}()
		// Either the handler holds output (it reads on: cap > m) or its
		// writes are blocked (the net backend's Write blocks instead of
		// queueing), with a good part of the input read.
		enough := int64(512 << 10)
		if tr == Unix {
			enough = 128 << 10 // as in TestShutdownFlushes: small Unix socket buffers
		}
		WaitFor(t, 10*time.Second, "the server to read input and hold output", func() bool {
			return p.read.Load() >= enough && p.pending.Load() > 0
		})
		t.Logf("at Shutdown the server had read %d of %d bytes; handler Pending %d", p.read.Load(), m, p.pending.Load())

		got, rerr := shutdownWhileReading(t, l, addr, c, werr)
		r := int(p.read.Load())
		if rerr != nil {
			t.Errorf("reading the flushed output: %v after %d bytes", rerr, len(got))
		}
		if len(got) != r {
			t.Errorf("received %d bytes before EOF, the server had read %d: lost %d (HandleClose errors %v)",
				len(got), r, r-len(got), p.closeErrors())
		}
		if i := firstDiff(got[:min(len(got), r)], payload[:min(len(got), r)]); i >= 0 {
			t.Errorf("flushed output differs from the input at byte %d", i)
		}
	})
}

// TestShutdownIdle: Shutdown with a listener and no connections returns nil
// at once (well under a second).
func TestShutdownIdle(t *testing.T) {
	ForEachTransport(t, ShutdownIdle, func(t *testing.T, backend string, tr Transport) {
		for _, loops := range []int{1, 2} {
			t.Run(fmt.Sprintf("loops=%d", loops), func(t *testing.T) {
				l, _ := StartOn(t, backend, tr, loops, echo.New)
				ctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
				defer cancel()
				start := time.Now()
				err := l.Shutdown(ctx)
				took := time.Since(start)
				t.Logf("Shutdown with no connections took %v", took)
				if err != nil {
					t.Errorf("Shutdown: %v", err)
				}
				if took >= time.Second {
					t.Errorf("Shutdown with no connections took %v, want < 1s", took)
				}
				select {
				case <-l.Done():
				default:
					t.Errorf("Done is not closed after Shutdown returned")
				}
			})
		}
	})
}

// warmNetpoll makes Go's own netpoller open its descriptors (epoll, eventfd)
// before a test counts descriptors, since it opens them on first use.
func warmNetpoll(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
}

// TestNoLeaks: after Shutdown with live connections, and the clients
// closed, the process has the descriptors and goroutines it had before
// the Loop was made.
func TestNoLeaks(t *testing.T) {
	ForEachTransport(t, NoLeaks, func(t *testing.T, backend string, tr Transport) {
		warmNetpoll(t)
		ignore := goleak.IgnoreCurrent()
		before, err := CountFDs()
		if err != nil {
			t.Fatal(err)
		}

		l, addr := StartOn(t, backend, tr, 2, echo.New)
		s := seed(t)
		conns := make([]Conn, 20)
		for i := range conns {
			conns[i] = Connect(t, addr)
			if err := Exchange(conns[i], Payload(s+uint64(i), 64<<10), nil, time.Now().Add(10*time.Second)); err != nil {
				t.Fatalf("conn %d: %v", i, err)
			}
		}
		for _, c := range conns[:10] {
			c.Close()
		}
		ctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
		defer cancel()
		if err := l.Shutdown(ctx); err != nil {
			t.Fatalf("Shutdown with %d live connections: %v", 10, err)
		}
		for i, c := range conns[10:] {
			c.SetDeadline(time.Now().Add(10 * time.Second))
			if err := ReadToEOF(c, nil); err != nil {
				t.Errorf("live conn %d after Shutdown: %v", 10+i, err)
			}
			c.Close()
		}

		var after int
		if !Poll(5*time.Second, func() bool { after, _ = CountFDs(); return after == before }) {
			t.Errorf("open descriptors: %d before the Loop, %d after Shutdown; now:\n%s", before, after, FDs())
		}
		goleak.VerifyNone(t, ignore)
	})
}

// TestCloseAndReuse: connections closed (half gracefully, half with an RST)
// and replaced at once, reuseCycles times; the server reuses descriptor
// numbers, and every new connection must echo its own data, never see
// another's or an event meant for the old one. With several loops a number
// one loop closes is taken by another (the loops share one descriptor
// table), under each way of spreading connections.
func TestCloseAndReuse(t *testing.T) {
	ForEachBackend(t, CloseReuse, func(t *testing.T, backend string) {
		t.Run("loops=1", func(t *testing.T) { closeAndReuse(t, backend, 1) })
		if !slices.Contains(backendpkg.Pollers(), backend) {
			t.Run("loops=4", func(t *testing.T) { closeAndReuse(t, backend, 4) })
			return // an engine spreads connections its own way
		}
		for _, b := range []reactor.Balance{reactor.BalanceReusePort, reactor.BalanceRoundRobin, reactor.BalanceLeastConns} {
			t.Run(fmt.Sprintf("loops=4/balance=%v", b), func(t *testing.T) {
				closeAndReuse(t, backend, 4, reactor.WithBalance(b))
			})
		}
	})
}

// closeAndReuse is TestCloseAndReuse on one configuration.
func closeAndReuse(t *testing.T, backend string, loops int, opts ...reactor.Option) {
	const perCycle = 4
	p := &probe{}
	addr := Listen(t, NewLoop(t, backend, loops, opts...), p.echo(echo.DefaultCap))
	s := seed(t)
	r := rand.New(rand.NewPCG(s, 0))
	for cycle := range reuseCycles {
		conns := make([]*net.TCPConn, perCycle)
		for i := range conns {
			conns[i] = DialTCP(t, addr)
		}
		for i, c := range conns {
			payload := Payload(r.Uint64(), 1+r.IntN(4<<10))
			if err := Exchange(c, payload, nil, time.Now().Add(10*time.Second)); err != nil {
				t.Fatalf("cycle %d conn %d: %v", cycle, i, err)
			}
		}
		for i, c := range conns {
			if i%2 == 1 {
				c.SetLinger(0)
			}
			c.Close()
		}
	}
	want := int64(reuseCycles * perCycle)
	WaitFor(t, 10*time.Second, "the server to close every connection", func() bool {
		return p.closed.Load() == want
	})
	if got := p.accepted.Load(); got != want {
		t.Errorf("accepted %d connections, want %d", got, want)
	}
}

// TestAcceptBurst: burst clients connect while the loop is busy, so that
// they all wait in the backlog behind one readiness edge; all must be
// accepted (accept until EAGAIN) and echo.
func TestAcceptBurst(t *testing.T) {
	const burst = 200
	ForEachTransport(t, AcceptBurst, func(t *testing.T, backend string, tr Transport) {
		p := &probe{}
		l, addr := StartOn(t, backend, tr, 1, p.echo(echo.DefaultCap))

		// Hold the loop (on backends whose Post runs on it) while the
		// kernel completes every handshake into the backlog.
		blocked, release := make(chan struct{}), make(chan struct{})
		var once sync.Once
		unblock := func() { once.Do(func() { close(release) }) }
		defer unblock()
		if err := l.Post(func() { close(blocked); <-release }); err != nil {
			t.Fatalf("Post: %v", err)
		}
		select {
		case <-blocked:
		case <-time.After(10 * time.Second):
			t.Fatal("the posted function did not run")
		}

		conns := make([]Conn, burst)
		errs := make([]error, burst)
		go1 := make(chan struct{})
		var wg sync.WaitGroup
		for i := range conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-go1
				conns[i], errs[i] = DialStream(addr)
			}()
		}
		close(go1)
		wg.Wait()
		for _, c := range conns {
			if c != nil {
				t.Cleanup(func() { c.Close() })
			}
		}
		for i, err := range errs {
			if err != nil {
				t.Fatalf("dial %d: %v", i, err)
			}
		}
		unblock()

		WaitFor(t, 10*time.Second, fmt.Sprintf("%d connections accepted", burst), func() bool {
			return p.accepted.Load() == burst
		})
		s := seed(t)
		deadline := time.Now().Add(20 * time.Second)
		for i, c := range conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = Exchange(c, Payload(s+uint64(i), 1024), nil, deadline)
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("conn %d: %v", i, err)
			}
		}
	})
}

// TestFairness: while one client floods its connection (and reads the echo
// back), a 64-byte ping-pong on another connection of the same loop keeps a
// p99 round trip under pingP99Bound.
func TestFairness(t *testing.T) {
	ForEachTransport(t, Fairness, func(t *testing.T, backend string, tr Transport) {
		_, addr := StartOn(t, backend, tr, 1, echo.New)
		flood, ping := Connect(t, addr), Connect(t, addr)
		s := seed(t)
		if err := Exchange(ping, Payload(s, 64), nil, time.Now().Add(10*time.Second)); err != nil {
			t.Fatal(err)
		}

		flood.SetDeadline(time.Now().Add(60 * time.Second))
		var echoed atomic.Int64
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(2)
		go func() {
			defer wg.Done()
			chunk := Payload(s+1, 64<<10)
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := flood.Write(chunk); err != nil {
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			buf := make([]byte, 64<<10)
			for {
				n, err := flood.Read(buf)
				echoed.Add(int64(n))
				if err != nil {
					return
				}
			}
		}()
		defer func() {
			close(stop)
			flood.SetDeadline(time.Now()) // unblock both
			wg.Wait()
		}()
		WaitFor(t, 10*time.Second, "the flood to flow", func() bool { return echoed.Load() >= 8<<20 })

		msg := Payload(s+2, 64)
		buf := make([]byte, 64)
		rtts := make([]time.Duration, 0, pingRounds)
		// At least pingRounds rounds over at least minSpan, so that the
		// flood has time to compete even where rounds take microseconds;
		// and a budget, so that a starving backend fails in bounded time.
		const (
			minSpan = 250 * time.Millisecond
			budget  = 15 * time.Second
		)
		floodBefore, start := echoed.Load(), time.Now()
		for i := 0; (i < pingRounds || time.Since(start) < minSpan) && time.Since(start) < budget; i++ {
			msg[0] = byte(i)
			ping.SetDeadline(time.Now().Add(5 * time.Second))
			t0 := time.Now()
			if _, err := ping.Write(msg); err != nil {
				t.Fatalf("ping %d: %v", i, err)
			}
			if _, err := io.ReadFull(ping, buf); err != nil {
				t.Fatalf("pong %d: %v", i, err)
			}
			rtts = append(rtts, time.Since(t0))
			if !bytes.Equal(buf, msg) {
				t.Fatalf("pong %d differs from its ping", i)
			}
		}
		elapsed, flooded := time.Since(start), echoed.Load()-floodBefore
		p50, p99, worst := Percentile(rtts, 50), Percentile(rtts, 99), rtts[len(rtts)-1]
		t.Logf("ping-pong x%d under a flood of %.0f MiB/s: p50 %v, p99 %v, max %v",
			len(rtts), float64(flooded)/(1<<20)/elapsed.Seconds(), p50, p99, worst)
		if len(rtts) < pingRounds {
			t.Errorf("only %d of %d ping-pong rounds in %v", len(rtts), pingRounds, budget)
		}
		if flooded == 0 {
			t.Errorf("the flood echoed nothing during the ping-pong: it was not competing")
		}
		if p99 > pingP99Bound {
			t.Errorf("ping-pong p99 %v under a flood, want <= %v", p99, pingP99Bound)
		}
	})
}

// TestPostClose: Conn.Post from another goroutine runs on the connection's
// loop; closing from there gives the client EOF, HandleClose a nil error,
// and a second Close ErrClosed.
func TestPostClose(t *testing.T) {
	ForEachBackend(t, PostClose, func(t *testing.T, backend string) {
		p := &probe{conns: make(chan reactor.Conn, 1)}
		_, addr := Start(t, backend, 1, p.echo(echo.DefaultCap))
		c := DialTCP(t, addr)
		if err := Exchange(c, []byte("hello"), nil, time.Now().Add(10*time.Second)); err != nil {
			t.Fatal(err)
		}
		var sc reactor.Conn
		select {
		case sc = <-p.conns:
		case <-time.After(10 * time.Second):
			t.Fatal("no connection was made")
		}
		closeErrs := make(chan [2]error, 1)
		if err := sc.Post(func() { closeErrs <- [2]error{sc.Close(), sc.Close()} }); err != nil {
			t.Fatalf("Post: %v", err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if err := ReadToEOF(c, nil); err != nil {
			t.Errorf("client after Post(Close): %v", err)
		}
		select {
		case errs := <-closeErrs:
			if errs[0] != nil {
				t.Errorf("first Close: %v", errs[0])
			}
			if !errors.Is(errs[1], reactor.ErrClosed) {
				t.Errorf("second Close: %v, want ErrClosed", errs[1])
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the posted function did not run")
		}
		WaitFor(t, 10*time.Second, "HandleClose", func() bool { return p.closed.Load() == 1 })
		if err := p.closeErrors()[0]; err != nil {
			t.Errorf("HandleClose(%v), want nil for a close the handler side asked for", err)
		}
	})
}

// refusingAddr returns an address over tr where a connect is refused: a
// TCP port just closed, or a stale Unix socket file (its listener closed
// without removing it).
func refusingAddr(t *testing.T, tr Transport) string {
	t.Helper()
	if tr == TCP {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ln.Close()
		return ln.Addr().String()
	}
	path := SocketPath(t)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	return "unix://" + path
}

// TestDial: Loop.Dial to a closed port reports ECONNREFUSED to HandleClose
// without calling the handler's I/O methods; to an echo listener, a client
// handler sends a message and gets it back. Backends that cannot dial are
// in Limits.
func TestDial(t *testing.T) {
	ForEachTransport(t, DialOut, func(t *testing.T, backend string, tr Transport) {
		l := NewLoop(t, backend, 1)
		wait := func(t *testing.T, d *dialClient, what string) error {
			t.Helper()
			select {
			case err := <-d.done:
				return err
			case <-time.After(5 * time.Second):
				t.Fatalf("%s: not finished after 5s; the handler was called %d times "+
					"(0: the loop never saw the connect complete)", what, d.calls.Load())
				return nil
			}
		}

		closed := refusingAddr(t, tr)
		network, _ := Split(closed)
		refused := newDialClient([]byte("x"))
		if err := l.Dial(network, closed, refused.factory); err != nil {
			t.Fatalf("Dial returned %v; it should start the connect and report its failure to HandleClose", err)
		}

		t.Run("refused", func(t *testing.T) {
			if err := wait(t, refused, "connect to a closed port"); !errors.Is(err, syscall.ECONNREFUSED) {
				t.Errorf("HandleClose(%v), want ECONNREFUSED", err)
			}
			if n := refused.calls.Load(); n != 0 {
				t.Errorf("the handler of a failed connect had HandleRecv/HandleSend called %d times", n)
			}
		})

		t.Run("echo", func(t *testing.T) {
			addr := ListenOn(t, l, tr, echo.New)
			d := newDialClient(Payload(seed(t), 256<<10))
			if err := l.Dial(network, addr, d.factory); err != nil {
				t.Fatalf("Dial: %v", err)
			}
			if err := wait(t, d, "dialled echo"); err != nil {
				t.Errorf("dialled echo: %v", err)
			}
		})
	})
}

// TestAfterShutdown: once Shutdown has returned, a second Shutdown returns
// at once with nil or ErrClosed, and Listen, Post and Dial return ErrClosed
// (Dial may instead say ErrUnsupported).
func TestAfterShutdown(t *testing.T) {
	ForEachBackend(t, AfterShutdown, func(t *testing.T, backend string) {
		l, addr := Start(t, backend, 1, echo.New)
		if err := Exchange(DialTCP(t, addr), []byte("hello"), nil, time.Now().Add(10*time.Second)); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
		defer cancel()
		if err := l.Shutdown(ctx); err != nil {
			t.Fatalf("Shutdown: %v", err)
		}

		ctx2, cancel2 := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel2()
		start := time.Now()
		err := l.Shutdown(ctx2)
		took := time.Since(start)
		if err != nil && !errors.Is(err, reactor.ErrClosed) {
			t.Errorf("second Shutdown: %v after %v, want nil or ErrClosed", err, took)
		}
		if took >= time.Second {
			t.Errorf("second Shutdown took %v, want an immediate return", took)
		}

		if _, err := l.Listen("tcp", "127.0.0.1:0", echo.New); !errors.Is(err, reactor.ErrClosed) {
			t.Errorf("Listen after Shutdown: %v, want ErrClosed", err)
		}
		ran := make(chan struct{})
		if err := l.Post(func() { close(ran) }); !errors.Is(err, reactor.ErrClosed) {
			t.Errorf("Post after Shutdown: %v, want ErrClosed", err)
		}
		err = l.Dial("tcp", addr, newDialClient([]byte("x")).factory)
		if !errors.Is(err, reactor.ErrClosed) && !errors.Is(err, reactor.ErrUnsupported) {
			t.Errorf("Dial after Shutdown: %v, want ErrClosed", err)
		}
	})
}
