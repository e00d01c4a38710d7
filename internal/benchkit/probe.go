package benchkit

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// probe is the fairness row's small request: floor/probe.c, a C process of
// its own pinned beside the load generator, echoing Size-byte messages on
// one blocking connection and streaming each round trip back (see its
// comment for why it is neither a connection on the load generator's loop
// nor Go).
type probe struct {
	cmd *exec.Cmd
	out io.ReadCloser

	mu      sync.Mutex
	n       int64  // round trips since reset
	gen     uint64 // resets so far: a batch read across one is dropped
	hist    *hdrhistogram.Histogram
	err     error // why the stream ended early
	started bool  // collect runs, and closes done when it ends
	done    chan struct{}
}

// startProbe builds and starts the probe against addr, pinned to the load
// generator's CPUs, and waits until it is connected.
func startProbe(addr string, size int) (*probe, error) {
	path, err := buildC("probe")
	if err != nil {
		return nil, err
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(path, host, port, strconv.Itoa(size))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &probe{cmd: cmd, out: out, hist: newHist(), done: make(chan struct{})}
	r := bufio.NewReader(out)
	type res struct {
		line string
		err  error
	}
	ch := make(chan res, 1)
	go func() { line, err := r.ReadString('\n'); ch <- res{line, err} }()
	select {
	case l := <-ch:
		if l.err != nil || !strings.HasPrefix(l.line, "probing ") {
			p.close()
			return nil, fmt.Errorf("benchkit: probe did not connect: %q %v", l.line, l.err)
		}
		if strings.TrimSpace(l.line) != "probing realtime" {
			normalOnce.Do(func() {
				fmt.Fprintln(os.Stderr, "benchkit: the probe runs at normal priority (SCHED_FIFO refused): its round trips include waits for its CPU")
			})
		}
	case <-time.After(10 * time.Second):
		p.close()
		return nil, fmt.Errorf("benchkit: probe did not connect in 10s")
	}
	if CanPin() {
		if err := pin(cmd.Process.Pid, loadCPUs()); err != nil {
			p.close()
			return nil, err
		}
	}
	p.started = true
	go p.collect(r)
	return p, nil
}

// normalOnce says once per process that the probe could not get real-time
// priority.
var normalOnce sync.Once

// newHist is a round-trip histogram in µs, 1 µs to 10 s, 3 digits.
func newHist() *hdrhistogram.Histogram {
	return hdrhistogram.New(1, int64(10*time.Second/time.Microsecond), 3)
}

// collect records the round trips the probe streams, until it ends.
func (p *probe) collect(r *bufio.Reader) {
	defer close(p.done)
	var batch [256]uint32
	for {
		// The probe writes whole batches, but a pipe may split them.
		var v uint32
		err := binary.Read(r, binary.NativeEndian, &v)
		if err != nil {
			p.mu.Lock()
			p.err = fmt.Errorf("benchkit: probe exited: %v", err)
			p.mu.Unlock()
			return
		}
		// A batch that began to arrive before a reset holds round trips
		// from before it: drop it whole (the probe writes a batch at once).
		p.mu.Lock()
		gen := p.gen
		p.mu.Unlock()
		batch[0] = v
		k := 1
		for k < len(batch) && r.Buffered() >= 4 {
			binary.Read(r, binary.NativeEndian, &batch[k]) // buffered: cannot fail
			k++
		}
		p.mu.Lock()
		if gen != p.gen {
			p.mu.Unlock()
			continue
		}
		for _, us := range batch[:k] {
			p.hist.RecordValue(int64(us))
		}
		p.n += int64(k)
		p.mu.Unlock()
	}
}

// reset forgets the round trips so far.
func (p *probe) reset() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hist.Reset()
	p.n = 0
	p.gen++
	return p.err
}

// count is the round trips since reset; they arrive within 10 ms.
func (p *probe) count() (int64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n, p.err
}

// stats reads the round trips and latencies since reset.
func (p *probe) stats() (probeStats, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return probeStats{
		n:    p.n,
		p50:  float64(p.hist.ValueAtQuantile(50)),
		p99:  float64(p.hist.ValueAtQuantile(99)),
		p999: float64(p.hist.ValueAtQuantile(99.9)),
	}, p.err
}

// close stops the probe and waits for it.
func (p *probe) close() {
	p.cmd.Process.Kill()
	p.cmd.Wait() // closes out, which ends collect
	if p.started {
		<-p.done
	}
}

// probeStats is what a meter measured since its last reset.
type probeStats struct {
	n              int64
	p50, p99, p999 float64 // µs
	lost           int64   // UDP: datagrams sent again; churn: connections that failed
}
