//go:build linux

package conformance

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgeloop/edgeloop/protocols/echo"
	"github.com/edgeloop/edgeloop/reactor"
	"go.uber.org/goleak"
)

// churnCycles is how many connections TestChurn makes and closes, issue
// 10's figure. It is the same under the race detector: all four backends
// take 23 s together there (about 11 s without it).
const churnCycles = 20000

// churnWarm is how many cycles run before the baseline is taken: the loop's
// buffers, maps and pools have grown to their working size by then.
const churnWarm = 2000

// churnHeapBound is how much more live heap the server may hold after
// churnCycles than after churnWarm. A leak of one connection's smallest
// trace, a 24-byte closure or a map entry per cycle, is over 400 KiB over
// the 18 000 cycles after the baseline; what the runtime itself keeps
// varying between two collections (span and pool caches, the race
// detector's bookkeeping) stays within some tens of KiB here.
const churnHeapBound = 256 << 10

// churnWorkers is how many clients connect and close at once.
const churnWorkers = 4

// churnCounter counts the server's connections as they open and close,
// and nothing more: a probe's list of close errors would grow by itself.
type churnCounter struct {
	opened, closed atomic.Int64
}

type churnHandler struct {
	*echo.Handler
	n *churnCounter
}

func (h churnHandler) HandleClose(err error) {
	h.Handler.HandleClose(err)
	h.n.closed.Add(1)
}

func (n *churnCounter) factory(c reactor.Conn) reactor.Handler {
	n.opened.Add(1)
	return churnHandler{Handler: echo.New(c).(*echo.Handler), n: n}
}

// churnOnce connects to addr, has one short message echoed and closes:
// with an RST for three cycles in four, so that no TIME_WAIT builds up,
// and with a FIN from 127.0.0.2 to 127.0.0.9 for the fourth, whose
// TIME_WAIT sockets then spread over eight source addresses' ports.
//
// Over a Unix socket (addr "unix:///path") every cycle just closes: there
// is neither RST nor TIME_WAIT.
func churnOnce(addr string, i int) error {
	if network, _ := Split(addr); network == "unix" {
		c, err := DialStream(addr)
		if err != nil {
			return err
		}
		defer c.Close()
		return Exchange(c, []byte(fmt.Sprintf("cycle %d\n", i)), nil, time.Now().Add(10*time.Second))
	}
	d := net.Dialer{Timeout: DialTimeout}
	graceful := i%4 == 3
	if graceful {
		d.LocalAddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+i/4%8))}
	}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		return err
	}
	c := nc.(*net.TCPConn)
	defer c.Close()
	msg := []byte(fmt.Sprintf("cycle %d\n", i))
	if err := Exchange(c, msg, nil, time.Now().Add(10*time.Second)); err != nil {
		return err
	}
	if !graceful {
		return c.SetLinger(0)
	}
	return nil
}

// churnState is what the process holds after a number of cycles, once
// the server has closed every connection.
type churnState struct {
	fds, goroutines int
	heap            uint64 // live heap after a collection
}

func (s churnState) String() string {
	return fmt.Sprintf("%d fds, %d goroutines, %d KiB live heap", s.fds, s.goroutines, s.heap>>10)
}

// settle waits until the server has closed every connection it opened
// (cycles of them) and the goroutines and descriptors have come down to
// at most base's, taken after warm cycles, then measures.
func settle(t *testing.T, n *churnCounter, cycles, warm int64, base *churnState) churnState {
	t.Helper()
	WaitFor(t, 30*time.Second, fmt.Sprintf("the server to close all %d connections", cycles), func() bool {
		return n.opened.Load() == cycles && n.closed.Load() == cycles
	})
	var s churnState
	measure := func() bool {
		s.fds, _ = CountFDs()
		s.goroutines = runtime.NumGoroutine()
		return base == nil || s.fds <= base.fds && s.goroutines <= base.goroutines
	}
	if !Poll(10*time.Second, measure) {
		t.Errorf("after %d cycles: %d fds, %d goroutines; after %d: %d fds, %d goroutines",
			warm, base.fds, base.goroutines, cycles, s.fds, s.goroutines)
	}
	runtime.GC()
	runtime.GC() // the second collection frees what the first one's finalizers released
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s.heap = ms.HeapAlloc
	return s
}

// TestChurn: churnCycles connections, churnWorkers at a time, each echoes
// one line and closes (three in four with an RST, the rest with a FIN).
// After the first churnWarm cycles and after them all, with the server
// having closed every connection, the process has the same descriptors
// and goroutines and a live heap within churnHeapBound; after Shutdown,
// the descriptors and goroutines it had before the Loop.
func TestChurn(t *testing.T) {
	ForEachTransport(t, Churn, func(t *testing.T, backend string, tr Transport) {
		cycles, warm := int64(churnCycles), int64(churnWarm)
		warmNetpoll(t)
		ignore := goleak.IgnoreCurrent()
		before := fdMark(t, &probe{}, 0)
		n := &churnCounter{}
		l, addr := StartOn(t, backend, tr, 2, n.factory)

		start := time.Now()
		run := func(from, upTo int64) {
			t.Helper()
			var next atomic.Int64
			next.Store(from)
			var wg sync.WaitGroup
			errs := make(chan error, churnWorkers)
			for range churnWorkers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						i := next.Add(1) - 1
						if i >= upTo {
							return
						}
						if err := churnOnce(addr, int(i)); err != nil {
							errs <- fmt.Errorf("cycle %d: %w", i, err)
							return
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
		}
		run(0, warm)
		base := settle(t, n, warm, warm, nil)
		run(warm, cycles)
		elapsed := time.Since(start)
		end := settle(t, n, cycles, warm, &base)
		t.Logf("%d connect/close cycles in %v (%.0f/s); after %d: %v; after %d: %v",
			cycles, elapsed.Round(time.Millisecond), float64(cycles)/elapsed.Seconds(), warm, base, cycles, end)
		if end.heap > base.heap+churnHeapBound {
			t.Errorf("live heap grew by %d KiB from cycle %d to %d, more than the %d KiB allowed",
				(end.heap-base.heap)>>10, warm, cycles, churnHeapBound>>10)
		}

		ctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
		defer cancel()
		if err := l.Shutdown(ctx); err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
		waitFDs(t, before, "after Shutdown")
		goleak.VerifyNone(t, ignore)
	})
}
