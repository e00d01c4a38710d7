package benchkit

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"time"
)

// idleSources is how many source addresses the idle connections are spread
// over, 127.0.0.2 and up: one address has about 28 000 ephemeral ports
// (32768-60999), and TIME_WAITs left by earlier rows may hold some of them.
// Each address gets a dialling goroutine of its own.
const idleSources = 8

// idleMsgSize is the message each idle connection echoes once before it
// goes idle, so that the server has accepted it and served it.
const idleMsgSize = 64

// crowdTimeout bounds opening a crowd of idle connections.
const crowdTimeout = 2 * time.Minute

// Steady RSS: the server's RSS is read every steadyEvery until steadyReads
// readings in a row are within steadySlackKB of the one before (1 B per
// connection at 16 000 connections), for at most steadyTimeout.
const (
	steadyEvery   = 100 * time.Millisecond
	steadyReads   = 3
	steadySlackKB = 16
	steadyTimeout = 10 * time.Second
)

// crowd is idle connections to one server, held open by this process: Go
// net.Conns that each echoed one message and then do nothing. They are not
// on the load generator's loop, which does not choose source addresses.
type crowd struct {
	mu    sync.Mutex
	conns []*net.TCPConn
}

// openCrowd opens n connections to addr, each echoing one idleMsgSize
// message, over idleSources source addresses in parallel. Where 127.0.0.2
// and up cannot be bound (loopback is 127.0.0.1 alone outside Linux) it
// dials from the default address instead.
func openCrowd(addr string, n int, timeout time.Duration) (*crowd, error) {
	c := &crowd{conns: make([]*net.TCPConn, 0, n)}
	deadline := time.Now().Add(timeout)
	errs := make([]error, idleSources)
	var wg sync.WaitGroup
	for i := range idleSources {
		share := n / idleSources
		if i < n%idleSources {
			share++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = c.dial(addr, net.IPv4(127, 0, 0, byte(2+i)), share, deadline)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		c.close()
		return nil, fmt.Errorf("benchkit: opening %d idle connections: %w", n, err)
	}
	return c, nil
}

// dial opens n of the crowd's connections from source address src, one
// after another.
func (c *crowd) dial(addr string, src net.IP, n int, deadline time.Time) error {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: src}, Deadline: deadline}
	msg := bytes.Repeat([]byte{'i'}, idleMsgSize)
	buf := make([]byte, idleMsgSize)
	for i := 0; i < n; i++ {
		conn, err := d.Dial("tcp", addr)
		if errors.Is(err, syscall.EADDRNOTAVAIL) && d.LocalAddr != nil {
			d.LocalAddr, i = nil, i-1 // no such source address here: use the default
			continue
		}
		if err != nil {
			return err
		}
		tc := conn.(*net.TCPConn)
		c.mu.Lock()
		c.conns = append(c.conns, tc)
		c.mu.Unlock()
		if err := tc.SetDeadline(deadline); err != nil {
			return err
		}
		if _, err := tc.Write(msg); err != nil {
			return err
		}
		if _, err := io.ReadFull(tc, buf); err != nil {
			return fmt.Errorf("reading the echo: %w", err)
		}
		// No timer per idle connection left in this process.
		if err := tc.SetDeadline(time.Time{}); err != nil {
			return err
		}
	}
	return nil
}

// close resets every connection (SO_LINGER 0): no TIME_WAIT is left to hold
// the ports of later rows.
func (c *crowd) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, tc := range c.conns {
		tc.SetLinger(0)
		tc.Close()
	}
	c.conns = nil
}

// GC asks the server to collect its garbage and return free memory to the
// OS, and reads its live heap (0 for the floor) and then its RSS.
func (s *Server) GC() (heapBytes, rssKB int64, err error) {
	if _, err := io.WriteString(s.in, "gc\n"); err != nil {
		return 0, 0, err
	}
	line, err := s.readLine(30 * time.Second)
	if err != nil {
		return 0, 0, err
	}
	if _, err := fmt.Sscanf(line, "gc heap_bytes=%d", &heapBytes); err != nil {
		return 0, 0, fmt.Errorf("benchkit: server %s: bad gc line %q: %w", s.Name, line, err)
	}
	return heapBytes, statusKB(s.cmd.Process.Pid, "VmRSS"), nil
}

// steadyRSS waits until the server's RSS stops moving (see steadyEvery) and
// returns it; after steadyTimeout it returns the last reading.
func (s *Server) steadyRSS() int64 {
	pid := s.cmd.Process.Pid
	last := statusKB(pid, "VmRSS")
	for same, deadline := 0, time.Now().Add(steadyTimeout); same < steadyReads && time.Now().Before(deadline); {
		time.Sleep(steadyEvery) // sampling a figure that has no event to wait for
		kb := statusKB(pid, "VmRSS")
		if kb-last <= steadySlackKB && last-kb <= steadySlackKB {
			same++
		} else {
			same = 0
		}
		last = kb
	}
	return last
}

// idleGrowth is the idle row's arithmetic: bytes grown per connection
// between two readings in KiB (RSS) or bytes (heap).
func idleGrowth(beforeKB, afterKB int64, conns int) float64 {
	return float64(afterKB-beforeKB) * 1024 / float64(conns)
}

// measureIdle measures an Idle row: the server's RSS per idle connection.
// One connection echoes first, so that what a loop touches once (its read
// buffer) is in the baseline; then the server collects its garbage and
// the baseline RSS and heap are read. Then w.Idle connections each echo one
// message and stay open; the RSS is read once steady, and again after a
// second collection, with the live heap.
func measureIdle(server string, w Workload) (Sample, error) {
	if w.Idle < 1 {
		return Sample{}, fmt.Errorf("benchkit: %s needs at least one idle connection", w.Name())
	}
	srv, err := startService(server, serviceEcho)
	if err != nil {
		return Sample{}, err
	}
	defer srv.Stop()
	warm, err := openCrowd(srv.Addr, 1, crowdTimeout)
	if err != nil {
		return Sample{}, err
	}
	defer warm.close()
	srv.steadyRSS()
	heap0, rss0, err := srv.GC()
	if err != nil {
		return Sample{}, err
	}
	st0, err := srv.Stats()
	if err != nil {
		return Sample{}, err
	}
	t0 := time.Now()
	c, err := openCrowd(srv.Addr, w.Idle, crowdTimeout)
	if err != nil {
		return Sample{}, err
	}
	defer c.close()
	elapsed := time.Since(t0)
	st1, err := srv.Stats()
	if err != nil {
		return Sample{}, err
	}
	rss1 := srv.steadyRSS()
	heap1, rss2, err := srv.GC()
	if err != nil {
		return Sample{}, err
	}
	n := float64(w.Idle)
	return Sample{
		Workload:  w,
		Server:    server,
		Requests:  int64(w.Idle),
		Elapsed:   elapsed,
		ReqPerSec: n / elapsed.Seconds(),
		// What accepting and serving one connection cost, for the record:
		// the load is not the churn's, one message each from 8 dialers.
		SrvUsReq:  float64(st1.CPUMicros-st0.CPUMicros) / n,
		AllocsReq: float64(st1.Mallocs-st0.Mallocs) / n,
		RSSKB:     rss1,
		PeakRSSKB: statusKB(srv.cmd.Process.Pid, "VmHWM"),
		IdleB:     idleGrowth(rss0, rss1, w.Idle),
		IdleGCB:   idleGrowth(rss0, rss2, w.Idle),
		HeapB:     float64(heap1-heap0) / n,
	}, nil
}

// measureCrowd measures a Crowd row: in one server process, w.Conns
// connections ping-pong alone for a window; then they leave, w.Idle idle
// connections come, and w.Conns new ones ping-pong beside them for another
// window. The sample is the second window's, with the first's server CPU
// per request beside it.
//
// The crowd comes between the loads rather than during one: against a
// server kept busy by a saturating load, the dialers' round trips each
// wait their turn, and the 15 000 took 30 s a cell instead of 2.
func measureCrowd(server string, w Workload, win Window) (Sample, error) {
	if w.Idle < 1 {
		return Sample{}, fmt.Errorf("benchkit: %s needs at least one idle connection", w.Name())
	}
	srv, err := startService(server, serviceEcho)
	if err != nil {
		return Sample{}, err
	}
	defer srv.Stop()
	alone, err := echoWindow(srv, w, win)
	if err != nil {
		return Sample{}, err
	}
	c, err := openCrowd(srv.Addr, w.Idle, crowdTimeout)
	if err != nil {
		return Sample{}, err
	}
	defer c.close()
	s, err := echoWindow(srv, w, win)
	s.AloneUsReq = alone.SrvUsReq
	return s, err
}

// echoWindow starts w.Conns connections of echo load on srv and measures
// one window of it after the window's warm-up, as Measure does for an
// Echo row; the load is gone when it returns.
func echoWindow(srv *Server, w Workload, win Window) (Sample, error) {
	g, err := startLoad(srv.Addr, w.Conns, w.Size, 0)
	if err != nil {
		return Sample{}, err
	}
	defer g.close()
	if err := g.waitOpen(w.Conns, 20*time.Second); err != nil {
		return Sample{}, err
	}
	if win.Warmup > 0 {
		time.Sleep(win.Warmup) // the warm-up is a span of load, not a wait for an event
	}
	st0, err := srv.Stats()
	if err != nil {
		return Sample{}, err
	}
	if err := g.reset(); err != nil {
		return Sample{}, err
	}
	t0 := time.Now()
	if err := waitWindow(g, win, nil); err != nil {
		return Sample{}, err
	}
	elapsed := time.Since(t0)
	st1, err := srv.Stats()
	if err != nil {
		return Sample{}, err
	}
	lat, err := g.stats()
	if err != nil {
		return Sample{}, err
	}
	s := Sample{Workload: w, Server: srv.Name, Requests: lat.n, Elapsed: elapsed, RSSKB: st1.RSSKB, PeakRSSKB: st1.PeakRSSKB}
	if s.Requests <= 0 {
		return s, fmt.Errorf("benchkit: %s on %s: no request completed in %v", srv.Name, w.Name(), elapsed)
	}
	n := float64(s.Requests)
	s.ReqPerSec = n / elapsed.Seconds()
	s.SrvUsReq = float64(st1.CPUMicros-st0.CPUMicros) / n
	s.AllocsReq = float64(st1.Mallocs-st0.Mallocs) / n
	s.MBps = n * float64(w.Size) / elapsed.Seconds() / 1e6
	s.P50us, s.P99us, s.P999us = lat.p50, lat.p99, lat.p999
	s.OtherThreads = otherThreadsShare(st0.Threads, st1.Threads)
	return s, g.err()
}
