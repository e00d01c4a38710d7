package reactor_test

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgeloop/edgeloop/backend"

	"github.com/edgeloop/edgeloop/internal/conformance"
	"github.com/edgeloop/edgeloop/protocols/echo"
	"github.com/edgeloop/edgeloop/reactor"
)

// TestOptionsConfigureLoops: each option sets what it names on every event
// loop, and a value <= 0 keeps the default.
func TestOptionsConfigureLoops(t *testing.T) {
	def := reactor.LoopConfig{Loops: runtime.NumCPU(), Budget: 64 << 10, ReadBuffer: 64 << 10, Events: 256}
	with := func(f func(*reactor.LoopConfig)) reactor.LoopConfig {
		c := def
		f(&c)
		return c
	}
	for _, tc := range []struct {
		name string
		opts []reactor.Option
		want reactor.LoopConfig
	}{
		{"defaults", nil, def},
		{"budget=1", []reactor.Option{reactor.WithBudget(1)}, with(func(c *reactor.LoopConfig) { c.Budget = 1 })},
		{"budget=0", []reactor.Option{reactor.WithBudget(0)}, def},
		{"budget=-1", []reactor.Option{reactor.WithBudget(-1)}, def},
		{"loops=3", []reactor.Option{reactor.WithLoops(3)}, with(func(c *reactor.LoopConfig) { c.Loops = 3 })},
		{"loops=0", []reactor.Option{reactor.WithLoops(0)}, def},
		{"read-buffer=1", []reactor.Option{reactor.WithReadBuffer(1)}, with(func(c *reactor.LoopConfig) { c.ReadBuffer = 1 })},
		{"read-buffer=0", []reactor.Option{reactor.WithReadBuffer(0)}, def},
		{"events=1", []reactor.Option{reactor.WithEvents(1)}, with(func(c *reactor.LoopConfig) { c.Events = 1 })},
		{"events=-5", []reactor.Option{reactor.WithEvents(-5)}, def},
		{"logger=nil", []reactor.Option{reactor.WithLogger(nil)}, def},
	} {
		t.Run(tc.name, func(t *testing.T) {
			forPollers(t, func(t *testing.T, name string) {
				// newLoop would set one loop: start from the bare options.
				l, err := backend.New(name, tc.opts...)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { shutdown(t, l) })
				got, err := reactor.Settings(l)
				if err != nil {
					t.Fatal(err)
				}
				if got != tc.want {
					t.Errorf("config %+v, want %+v", got, tc.want)
				}
				if n, err := reactor.EventLoops(l); err != nil || n != tc.want.Loops {
					t.Errorf("EventLoops = %d, %v; want %d", n, err, tc.want.Loops)
				}
			})
		})
	}
}

// echoConcurrently runs n clients against addr at once, each exchanging its
// own payload of size bytes with the echo server.
func echoConcurrently(t *testing.T, addr string, n, size int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := conformance.Dial(addr)
			if err != nil {
				errs <- fmt.Errorf("client %d: %w", i, err)
				return
			}
			defer c.Close()
			if err := conformance.Exchange(c, conformance.Payload(uint64(i), size), nil, deadline); err != nil {
				errs <- fmt.Errorf("client %d: %w", i, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestOneByteReadBufferEchoes: with a read buffer of one byte, echo.New
// reads one byte per call and still echoes byte-exact.
func TestOneByteReadBufferEchoes(t *testing.T) {
	forPollers(t, func(t *testing.T, backend string) {
		l := newLoop(t, backend, reactor.WithReadBuffer(1))
		addr := conformance.Listen(t, l, echo.New)
		c := conformance.DialTCP(t, addr)
		if err := conformance.Exchange(c, conformance.Payload(2, 32<<10), nil, time.Now().Add(30*time.Second)); err != nil {
			t.Fatal(err)
		}
	})
}

// TestOneEventPerWaitServesAll: with an event slice of one, each Wait
// reports one event, and 50 concurrent connections still all echo
// byte-exact: events left in the kernel come with the next Waits.
func TestOneEventPerWaitServesAll(t *testing.T) {
	forPollers(t, func(t *testing.T, backend string) {
		l := newLoop(t, backend, reactor.WithEvents(1))
		echoConcurrently(t, conformance.Listen(t, l, echo.New), 50, 16<<10)
	})
}

// TestSeveralLoopsServeAll: with three event loops sharing the port
// (SO_REUSEPORT), every connection is served byte-exact, whichever loop
// accepts it.
func TestSeveralLoopsServeAll(t *testing.T) {
	forPollers(t, func(t *testing.T, backend string) {
		l := newLoop(t, backend, reactor.WithLoops(3), reactor.WithBudget(1))
		echoConcurrently(t, conformance.Listen(t, l, echo.New), 30, 16<<10)
	})
}

// TestUnknownBackend: a backend name not in backend.Names() fails with
// backend.ErrUnknown, naming it and the valid names.
func TestUnknownBackend(t *testing.T) {
	const name = "no-such-backend"
	l, err := backend.New(name)
	if err == nil {
		shutdown(t, l)
		t.Fatalf("backend.New(%q) succeeded", name)
	}
	if !errors.Is(err, backend.ErrUnknown) {
		t.Errorf("backend.New(%q): %v, want backend.ErrUnknown", name, err)
	}
	if !strings.Contains(err.Error(), backend.Default()) {
		t.Errorf("error %q does not list the valid names", err)
	}
	if !strings.Contains(err.Error(), name) {
		t.Errorf("error %q does not name the backend", err)
	}
}
