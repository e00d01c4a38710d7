package fdpass_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgeloop/edgeloop/backend"
	"github.com/edgeloop/edgeloop/internal/conformance"
	"github.com/edgeloop/edgeloop/internal/logtest"
	"github.com/edgeloop/edgeloop/protocols/echo"
	"github.com/edgeloop/edgeloop/reactor"
	"github.com/edgeloop/edgeloop/reactor/fdpass"
	"go.uber.org/goleak"
	"golang.org/x/sys/unix"
)

// tagged is a worker's service: a line naming the worker, then echo.
func tagged(tag string) reactor.Factory {
	return func(c reactor.Conn) reactor.Handler {
		h := echo.New(c)
		if _, err := c.Write([]byte(tag + "\n")); err != nil {
			c.Close() // a fresh socket takes a line; the client sees the close
		}
		return h
	}
}

// exchange connects to addr, reads the worker's tag and checks that a
// message comes back whole; it returns the tag.
func exchange(addr, msg string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, conformance.DialTimeout)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	tag, err := r.ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("reading the worker's tag: %w", err)
	}
	if _, err := c.Write([]byte(msg)); err != nil {
		return "", err
	}
	c.(*net.TCPConn).CloseWrite()
	got, err := io.ReadAll(r)
	if err != nil {
		return "", err
	}
	if string(got) != msg {
		return "", fmt.Errorf("echo %q, want %q", got, msg)
	}
	return strings.TrimSpace(tag), nil
}

// startLoop starts a Loop on backend and shuts it down when the test ends.
func startLoop(t *testing.T, name string, opts ...reactor.Option) *reactor.Loop {
	t.Helper()
	l, err := backend.New(name, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		l.Shutdown(ctx)
	})
	return l
}

// canHandOff lists the backends that can detach and adopt.
func canHandOff(t *testing.T) []string {
	var names []string
	for _, n := range backend.Names() {
		if _, limited := conformance.Limited(n, conformance.DetachAdopt); !limited {
			names = append(names, n)
		}
	}
	return names
}

// TestDispatcherWorkers: connections reach every worker, round robin; a
// worker whose end closes (as a dead process's does) is dropped at the
// first send that fails, logged, and that connection and the later ones
// go to the other; with no worker left, connections are closed, counted
// and logged.
func TestDispatcherWorkers(t *testing.T) {
	for _, name := range canHandOff(t) {
		t.Run("backend="+name, func(t *testing.T) {
			logs := &logtest.Recorder{}
			acc := startLoop(t, name, reactor.WithLoops(1))
			var ends []*net.UnixConn
			workerEnds := map[string]*net.UnixConn{}
			served := make(chan error, 2)
			for _, tag := range []string{"w0", "w1"} {
				a, b := socketPair(t)
				b.SetDeadline(time.Time{}) // Serve waits as long as the acceptor lives
				ends = append(ends, a)
				workerEnds[tag] = b
				wl := startLoop(t, name, reactor.WithLoops(2))
				go func() { served <- fdpass.Serve(wl, b, tagged(tag)) }()
			}
			d := fdpass.NewDispatcher(ends, slog.New(logs))
			defer d.Close()
			a, err := acc.Listen("tcp", "127.0.0.1:0", d.Factory)
			if err != nil {
				t.Fatal(err)
			}
			addr := a.String()

			seen := map[string]int{}
			for i := 0; i < 6; i++ {
				tag, err := exchange(addr, fmt.Sprintf("hello %d", i))
				if err != nil {
					t.Fatalf("exchange %d: %v", i, err)
				}
				seen[tag]++
			}
			if seen["w0"] != 3 || seen["w1"] != 3 {
				t.Errorf("served %v, want 3 each (round robin)", seen)
			}

			workerEnds["w0"].Close() // w0 dies
			if err := <-served; err != nil {
				t.Errorf("Serve of the closed worker: %v, want nil", err)
			}
			for i := 0; i < 4; i++ {
				tag, err := exchange(addr, fmt.Sprintf("after %d", i))
				if err != nil {
					t.Fatalf("exchange %d after w0 died: %v", i, err)
				}
				if tag != "w1" {
					t.Errorf("after w0 died, served by %q", tag)
				}
			}
			if d.Live() != 1 {
				t.Errorf("Live() = %d, want 1", d.Live())
			}
			if !logged(logs, "worker failed") {
				t.Errorf("no log of the dead worker: %v", logs.Records())
			}

			workerEnds["w1"].Close() // no worker left
			<-served
			if tag, err := exchange(addr, "nobody"); err == nil {
				t.Errorf("served by %q with no worker left", tag)
			}
			conformance.WaitFor(t, 10*time.Second, "the dropped connection counted", func() bool { return d.Dropped() == 1 })
			if !logged(logs, fdpass.ErrNoWorkers.Error()) {
				t.Errorf("no log of ErrNoWorkers: %v", logs.Records())
			}
			if d.Handed() != 10 {
				t.Errorf("Handed() = %d, want 10", d.Handed())
			}
		})
	}
}

// logged reports whether a record's message or error contains s.
func logged(logs *logtest.Recorder, s string) bool {
	for _, r := range logs.Records() {
		if strings.Contains(r.Msg, s) {
			return true
		}
		if err, ok := r.Attrs["err"].(error); ok && strings.Contains(err.Error(), s) {
			return true
		}
	}
	return false
}

// TestDispatcherUnsupported: on a backend that cannot detach, the
// connection is closed and the reason logged, not left hanging.
func TestDispatcherUnsupported(t *testing.T) {
	for _, name := range backend.Names() {
		if _, limited := conformance.Limited(name, conformance.DetachAdopt); !limited {
			continue
		}
		t.Run("backend="+name, func(t *testing.T) {
			logs := &logtest.Recorder{}
			l := startLoop(t, name, reactor.WithLoops(1))
			a, _ := socketPair(t)
			d := fdpass.NewDispatcher([]*net.UnixConn{a}, slog.New(logs))
			defer d.Close()
			addr, err := l.Listen("tcp", "127.0.0.1:0", d.Factory)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := exchange(addr.String(), "x"); err == nil {
				t.Error("served, on a backend that cannot detach")
			}
			conformance.WaitFor(t, 10*time.Second, "the refusal logged", func() bool {
				return logged(logs, reactor.ErrUnsupported.Error())
			})
			if d.Handed() != 0 {
				t.Errorf("Handed() = %d", d.Handed())
			}
		})
	}
}

// TestDispatcherDropLogRateLimited: with no worker left, a flood of
// connections is closed and counted each, but logged rate-limited, not a
// line per connection (a client could fill the disk with them).
func TestDispatcherDropLogRateLimited(t *testing.T) {
	for _, name := range canHandOff(t) {
		t.Run("backend="+name, func(t *testing.T) {
			logs := &logtest.Recorder{}
			acc := startLoop(t, name, reactor.WithLoops(1))
			a, b := socketPair(t)
			b.Close() // the only worker is dead from the start
			d := fdpass.NewDispatcher([]*net.UnixConn{a}, slog.New(logs))
			defer d.Close()
			addr, err := acc.Listen("tcp", "127.0.0.1:0", d.Factory)
			if err != nil {
				t.Fatal(err)
			}
			const n = 100
			for i := 0; i < n; i++ {
				c, err := net.DialTimeout("tcp", addr.String(), 5*time.Second)
				if err != nil {
					t.Fatalf("dial %d: %v", i, err)
				}
				c.SetReadDeadline(time.Now().Add(10 * time.Second))
				io.Copy(io.Discard, c) // until the acceptor closes it
				c.Close()
			}
			conformance.WaitFor(t, 10*time.Second, "every connection counted as dropped", func() bool { return d.Dropped() == n })
			if !logged(logs, fdpass.ErrNoWorkers.Error()) {
				t.Errorf("no log of ErrNoWorkers: %v", logs.Records())
			}
			if c := logs.Count(); c > 5 {
				t.Errorf("%d log lines for %d dropped connections, want a few (rate-limited)", c, n)
			}
		})
	}
}

// smallBuffers shrinks c's socket buffers so that a worker that never
// reads fills up after a few hand-offs.
func smallBuffers(t *testing.T, c *net.UnixConn) {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	rc.Control(func(fd uintptr) {
		for _, opt := range []int{unix.SO_SNDBUF, unix.SO_RCVBUF} {
			if err := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, opt, 2048); err != nil {
				serr = err
			}
		}
	})
	if serr != nil {
		t.Fatal(serr)
	}
}

// TestDispatcherStoppedWorkerDoesNotStall: a worker that stops reading
// (SIGSTOP) fills its socket and its queue and is then passed over; the
// healthy worker receives the rest of a burst at once, not after
// SendTimeout (long here, so that a stall outlasts the test's deadline).
// Once the stopped worker dies, what was queued for it goes to the healthy
// one, none dropped; at the end no descriptor and no goroutine is left
// behind. (A burst may overflow the healthy worker's queue too; those
// connections are dropped, and not counted against it.)
func TestDispatcherStoppedWorkerDoesNotStall(t *testing.T) {
	const n = 3000
	// What the stopped worker's small socket may hold when it dies.
	const slack = 200
	for _, name := range canHandOff(t) {
		t.Run("backend="+name, func(t *testing.T) {
			saved := fdpass.SendTimeout
			fdpass.SendTimeout = 30 * time.Second
			defer func() { fdpass.SendTimeout = saved }()

			logs := &logtest.Recorder{}
			acc := startLoop(t, name, reactor.WithLoops(1))
			stuckA, stuckB := socketPair(t)
			smallBuffers(t, stuckA)
			smallBuffers(t, stuckB)
			stuckA.SetDeadline(time.Time{})
			healthyA, healthyB := socketPair(t)
			healthyB.SetDeadline(time.Now().Add(30 * time.Second)) // a hang fails, not waits
			baseFDs := fdCount(t)
			ignore := goleak.IgnoreCurrent()

			var received atomic.Int64
			readerDone := make(chan error, 1)
			go func() {
				buf := make([]byte, 64)
				for {
					_, files, err := fdpass.Recv(healthyB, buf, 16)
					if err != nil {
						if errors.Is(err, io.EOF) {
							err = nil
						}
						readerDone <- err
						return
					}
					for _, f := range files {
						f.Close()
					}
					received.Add(int64(len(files)))
				}
			}()

			d := fdpass.NewDispatcher([]*net.UnixConn{stuckA, healthyA}, slog.New(logs))
			closed := false
			defer func() {
				if !closed {
					stuckB.Close() // lets Close return without waiting SendTimeout
					d.Close()
				}
			}()
			var dispatched atomic.Int64 // connections the Factory is done with
			addr, err := acc.Listen("tcp", "127.0.0.1:0", func(c reactor.Conn) reactor.Handler {
				defer dispatched.Add(1)
				return d.Factory(c)
			})
			if err != nil {
				t.Fatal(err)
			}
			var clients []net.Conn
			defer func() {
				for _, c := range clients {
					c.Close()
				}
			}()
			for i := 0; i < n; i++ {
				c, err := net.DialTimeout("tcp", addr.String(), conformance.DialTimeout)
				if err != nil {
					t.Fatalf("dial %d: %v", i, err)
				}
				clients = append(clients, c)
			}
			// The stopped worker holds at most its queue (half of 1024) and a
			// few in its socket; without a stall the healthy one gets the rest
			// at once. A single sender would stall at the first full socket.
			conformance.WaitFor(t, 20*time.Second, "the healthy worker receiving the large majority", func() bool {
				return received.Load() >= n/2
			})
			conformance.WaitFor(t, 20*time.Second, "the burst dispatched", func() bool { return dispatched.Load() == n })
			droppedBefore := d.Dropped()

			stuckB.Close() // the stopped worker dies: its queue goes to the healthy one
			conformance.WaitFor(t, 10*time.Second, "the dead worker dropped", func() bool { return d.Live() == 1 })
			conformance.WaitFor(t, 10*time.Second, "every connection handed or dropped", func() bool {
				return d.Handed()+d.Dropped() == n
			})
			closed = true
			d.Close()
			if err := <-readerDone; err != nil {
				t.Errorf("healthy worker: %v", err)
			}
			// All but what the dead worker's socket held, and what was dropped
			// in the burst, reached the healthy one: its queue was re-dispatched.
			if d.Dropped() != droppedBefore {
				t.Errorf("Dropped() = %d after the stopped worker died, %d before: its queue was not re-dispatched", d.Dropped(), droppedBefore)
			}
			if got := received.Load(); got < n-int64(droppedBefore)-slack {
				t.Errorf("healthy worker received %d of %d (handed %d, dropped %d), want all but the dropped and the few the dead worker's socket held",
					got, n, d.Handed(), d.Dropped())
			}
			if !logged(logs, "worker failed") {
				t.Errorf("no log of the dead worker: %v", logs.Records())
			}
			for _, c := range clients {
				c.Close()
			}
			clients = nil
			stuckB.Close()
			healthyB.Close()
			// Dispatcher.Close closed stuckA and healthyA.
			// Every close above is done when it returns; checked at once, as a
			// leaked *os.File is closed by its finalizer at some later GC.
			if got := fdCount(t); got > baseFDs-2 {
				t.Errorf("%d descriptors open, want at most %d: leaked\n%s", got, baseFDs-2, conformance.FDs())
			}
			// The loop's own goroutines (the net backend's accept loop) end at its Shutdown.
			goleak.VerifyNone(t, ignore, goleak.IgnoreAnyFunction("github.com/edgeloop/edgeloop/backend/stdnet.(*netEngine).acceptLoop"))
		})
	}
}
