package fdpass_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/edgeloop/edgeloop/backend"
	"github.com/edgeloop/edgeloop/internal/conformance"
	"github.com/edgeloop/edgeloop/internal/logtest"
	"github.com/edgeloop/edgeloop/protocols/echo"
	"github.com/edgeloop/edgeloop/reactor"
	"github.com/edgeloop/edgeloop/reactor/fdpass"
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
