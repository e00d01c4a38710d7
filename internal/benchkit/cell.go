package benchkit

import (
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"time"
)

// Workload is one row of the benchmark table.
type Workload struct {
	Protocol string // Echo, Fairness, UDP, Churn, Accept, Timers, Array, Idle or Crowd
	// Size is the message bytes; for Fairness, the probe's; for UDP, each
	// datagram's; for Array, the array data's (the NPY header is extra).
	Size int
	// Conns is the concurrent connections; for Fairness, the bulk peers
	// (the probe is one more); for UDP, the client sockets; for Churn and
	// Accept, the connections open at a time; for Crowd, the active connections. Array
	// has one connection and Idle none but its idle ones: both ignore it.
	Conns int
	// Rate, for Echo, is the target round trips per second over all
	// connections, paced by the load generator so that the server is not
	// saturated. 0 sends each next request as soon as its reply is in.
	Rate   float64
	Bulk   int           // Fairness: each bulk peer's message bytes
	Timers int           // Timers: timers armed in each round
	Spread time.Duration // Timers: the span their deadlines are spread over
	// Idle is, for Idle and Crowd, the idle connections the server holds,
	// each of which has echoed one message once.
	Idle int
	// Loops, for Echo, is the server's event loops, with GOMAXPROCS set to
	// match and the server pinned to CPUs 0..Loops-1 (the scaling rows); 0
	// is one loop on CPU 0, as every other row has.
	Loops int
}

// The protocols a Workload can drive.
const (
	// Echo is ping-pong echo: each connection sends one message, waits for
	// all of it to come back and sends the next.
	Echo = "echo"
	// Fairness is latency under a bulk load: Conns bulk peers each echo
	// Bulk-byte messages as fast as they can (write one, reading its echo
	// as it comes, and write the next once all of it is back), while a
	// probe connection echoes a Size-byte message every millisecond (see
	// probe). The probe's round trip shows how long one loop makes a small
	// request wait behind bulk work.
	Fairness = "fairness"
	// UDP is datagram echo: Conns client sockets each keep one Size-byte
	// datagram in flight and send the next when its echo is back. A
	// datagram not back in lossTimeout is counted lost and sent again.
	UDP = "udp"
	// Churn is connection churn on the TCP time service (RFC 868): Conns
	// clients at a time each connect, read the 4-byte time until the
	// server closes, close and connect again. It measures what a
	// connection costs the server, from accept to close.
	Churn = "churn"
	// Accept is connection churn on TCP echo, the accept rate: Conns
	// clients at a time each connect, echo one Size-byte message, reset
	// the connection and connect again. Unlike Churn, the server reads a
	// request and it is the peer that closes, as clients do.
	Accept = "accept"
	// Timers is the server loop's timers: the server arms Timers timers
	// with deadlines spread over Spread and waits until all have fired,
	// round after round until the window ends. There is no load: the
	// parent asks the server for each round over its stdin.
	Timers = "timers"
	// Array is large NPY arrays round-tripped (protocols/array): one
	// connection writes a Size-byte array, reads its echo and writes the
	// next. It measures what receiving and sending back bulk data costs
	// the server, and how much memory an array takes it.
	Array = "array"
	// Idle is the server's memory per idle connection: Idle connections
	// each echo one message and then stay open, doing nothing, and the
	// server's RSS with them is compared with its RSS before them.
	Idle = "idle"
	// Crowd is echo with an idle crowd: Conns connections ping-pong
	// Size-byte messages as Echo does, first alone and then (new ones)
	// with Idle idle connections open beside them, in the same server
	// process; the
	// figures are the crowd's, with the ratio of its server CPU per request
	// to the alone window's. It shows whether cost follows activity.
	Crowd = "crowd"
)

// Name is the benchstat-style name, e.g. "echo/size=64/conns=1000",
// "echo/size=64/conns=64/rate=80000", "fairness/bulk=4x1MiB/probe=1KiB",
// "udp/size=64/socks=64", "churn/time/conns=16",
// "timers/n=100000/spread=100ms", "array/size=256MiB", "idle/conns=15000",
// "crowd/size=64/conns=64/idle=15000" or "echo/size=64/conns=64/loops=2".
func (w Workload) Name() string {
	switch w.Protocol {
	case Idle:
		return fmt.Sprintf("%s/conns=%d", w.Protocol, w.Idle)
	case Crowd:
		return fmt.Sprintf("%s/size=%d/conns=%d/idle=%d", w.Protocol, w.Size, w.Conns, w.Idle)
	case Array:
		return fmt.Sprintf("%s/size=%s", w.Protocol, sizeName(w.Size))
	case Fairness:
		return fmt.Sprintf("%s/bulk=%dx%s/probe=%s", w.Protocol, w.Conns, sizeName(w.Bulk), sizeName(w.Size))
	case UDP:
		return fmt.Sprintf("%s/size=%d/socks=%d", w.Protocol, w.Size, w.Conns)
	case Churn:
		return fmt.Sprintf("%s/time/conns=%d", w.Protocol, w.Conns)
	case Accept:
		return fmt.Sprintf("%s/echo/size=%d/conns=%d", w.Protocol, w.Size, w.Conns)
	case Timers:
		return fmt.Sprintf("%s/n=%d/spread=%v", w.Protocol, w.Timers, w.Spread)
	}
	name := fmt.Sprintf("%s/size=%d/conns=%d", w.Protocol, w.Size, w.Conns)
	if w.Rate > 0 {
		name += "/rate=" + strconv.FormatFloat(w.Rate, 'f', -1, 64)
	}
	if w.Loops > 0 {
		name += fmt.Sprintf("/loops=%d", w.Loops)
	}
	return name
}

// service is what the server process serves for w (see EnvService).
func (w Workload) service() string {
	switch w.Protocol {
	case UDP:
		return serviceUDP
	case Churn:
		return serviceTime
	case Timers:
		return serviceTimers
	case Array:
		return serviceArray
	}
	return serviceEcho
}

// Unit names what the server's per-request figures for w are per: req,
// MiB, datagram, conn, timer or GiB (of array data round-tripped), as
// benchmarks name their metrics ("srv-us/req"). An Idle row's figure is
// bytes per idle connection: "conn".
func (w Workload) Unit() string {
	switch w.Protocol {
	case Idle, Accept:
		return "conn"
	case Fairness:
		return "MiB"
	case UDP:
		return "datagram"
	case Churn:
		return "conn"
	case Timers:
		return "timer"
	case Array:
		return "GiB"
	}
	return "req"
}

// sizeName writes a byte count in the largest binary unit that divides it.
func sizeName(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}

// PartialRate is the request rate of the partial-load rows, in round trips
// per second over all connections. It is fixed, not derived from each run,
// so that rows compare across runs, and chosen for how busy it keeps the
// floor's server (rate × CPU per request): 30-50% on either CPU this
// machine comes with. At README's 3.2-3.7 µs per request (the floor then
// served 250-308k req/s saturated) 80k keeps it 26-30% busy; at the
// 5.7-7.5 µs of the slower CPU (NOTES), or the 6.1-6.7 µs a short run
// measured on a contended day (when the load generator, sharing its CPU,
// reached only 56-90k req/s), 46-60%. Either way the server mostly waits
// for input, the regime where going to sleep and waking up costs most per
// request. A cell that missed the rate says so; --rate changes it.
const PartialRate = 80000

// DefaultWorkloads is the table the issues ask for: 64 B ping-pong at 64 and
// 1000 connections and 16 KiB messages, all saturated; the same 64 B rows
// at a partial load (PartialRate); one loop's fairness, four peers echoing
// 1 MiB messages beside a 1 KiB probe; issue 8's rows: UDP echo,
// connection churn on the time service, and timers; and issue 9's: 64 MiB
// and 256 MiB array round trips (ArrayWorkloads).
var DefaultWorkloads = []Workload{
	{Protocol: Echo, Size: 64, Conns: 64},
	{Protocol: Echo, Size: 64, Conns: 1000},
	{Protocol: Echo, Size: 16 << 10, Conns: 64},
	{Protocol: Echo, Size: 64, Conns: 64, Rate: PartialRate},
	{Protocol: Echo, Size: 64, Conns: 1000, Rate: PartialRate},
	FairnessWorkload,
	UDPWorkload,
	ChurnWorkload,
	TimersWorkload,
	ArrayWorkloads[0],
	ArrayWorkloads[1],
}

// FairnessWorkload is issue 7's fairness row: 4 bulk peers echoing 1 MiB
// messages at full speed and a probe round-tripping 1 KiB.
var FairnessWorkload = Workload{Protocol: Fairness, Size: 1 << 10, Conns: 4, Bulk: 1 << 20}

// UDPWorkload is issue 8's datagram row: 64 sockets each keeping one
// 64-byte datagram in flight.
var UDPWorkload = Workload{Protocol: UDP, Size: 64, Conns: 64}

// ChurnWorkload is issue 8's connection churn row: 16 clients at a time
// each fetching the time over a new TCP connection, again and again.
var ChurnWorkload = Workload{Protocol: Churn, Conns: 16}

// AcceptWorkload is issue 11's accept rate row: 16 clients at a time each
// echoing one 64-byte message over a new TCP connection, again and again.
var AcceptWorkload = Workload{Protocol: Accept, Size: 64, Conns: 16}

// TimersWorkload is issue 8's timer row: 100 000 timers a round, their
// deadlines spread over 100 ms.
var TimersWorkload = Workload{Protocol: Timers, Timers: 100000, Spread: 100 * time.Millisecond}

// ArrayWorkloads are issue 9's rows: one connection round-tripping 64 MiB
// and 256 MiB NPY arrays.
var ArrayWorkloads = []Workload{
	{Protocol: Array, Size: 64 << 20, Conns: 1},
	{Protocol: Array, Size: 256 << 20, Conns: 1},
}

// IdleConns is how many idle connections the Idle and Crowd rows have by
// default: issue 11's 15 000, which the 20 000 descriptors a process may
// hold here allow with room for the active ones beside them (each is a
// descriptor in the load generator and one in the server).
const IdleConns = 15000

// MaxScalingLoops is the most loops a scaling row has (ScalingWorkloads),
// where the machine has as many CPUs.
const MaxScalingLoops = 4

// ExtraWorkloads are issue 11's rows, left out of DefaultWorkloads, most
// for the time they take whatever the window (opening and closing 15 000
// connections takes seconds a cell): the idle memory row, the idle crowd
// row beside 64 active connections, the accept rate row (as quick as
// churn, kept with its issue's rows) and the scaling rows (ScalingLoops).
func ExtraWorkloads() []Workload {
	ws := []Workload{
		{Protocol: Idle, Idle: IdleConns},
		{Protocol: Crowd, Size: 64, Conns: 64, Idle: IdleConns},
		AcceptWorkload,
	}
	for _, n := range ScalingLoops() {
		ws = append(ws, Workload{Protocol: Echo, Size: 64, Conns: 64, Loops: n})
	}
	return ws
}

// ScalingLoops are the scaling rows' loop counts: 1 to the number of CPUs,
// at most MaxScalingLoops.
func ScalingLoops() []int {
	var loops []int
	for n := 1; n <= min(runtime.NumCPU(), MaxScalingLoops); n++ {
		loops = append(loops, n)
	}
	return loops
}

// Sample is one measurement of one server on one workload. For Fairness,
// Requests, ReqPerSec and the latencies are the probe's, MBps is what the
// bulk peers got back, and the per-request server figures are per MiB
// echoed to the bulk peers instead. For UDP a request is a datagram echoed;
// for Churn, a connection (latency: from the dial to the server's close);
// for Timers, a timer fired (no latencies; RoundUs instead); for Array, an
// array round-tripped, with the server figures per GiB of array data and
// MBps the array bytes round-tripped per second, each counted once.
type Sample struct {
	Workload  Workload
	Server    string
	Requests  int64
	Elapsed   time.Duration
	ReqPerSec float64
	SrvUsReq  float64 // server CPU µs per request (Fairness: per MiB)
	AllocsReq float64 // server heap allocations per request (Fairness: per MiB)
	MBps      float64 // payload bytes echoed per second, in MB/s (Fairness: to the bulk peers)
	P50us     float64
	P99us     float64
	P999us    float64
	RSSKB     int64
	// PeakRSSKB is the server's peak resident set over its life (VmHWM),
	// read after the window: with a fresh server per cell, the most memory
	// the warm-up and the window took it.
	PeakRSSKB int64
	// OtherThreads is the fraction of the server's CPU time spent on
	// threads other than its busiest, the loop's (0 for one thread).
	OtherThreads float64
	// Lost counts, for UDP, the datagrams not echoed within lossTimeout
	// (each was sent again), and for Churn the connections that failed.
	Lost int64
	// RoundUs is, for Timers, the median time a round took from its first
	// timer armed to its last fired.
	RoundUs float64
	// Idle rows: the server's RSS grown per idle connection, in bytes,
	// read once the RSS is steady (IdleB) and again after the server ran a
	// GC and returned free memory to the OS (IdleGCB), and its live Go
	// heap grown per idle connection after that GC (HeapB; 0 for the
	// floor, which has none).
	IdleB, IdleGCB, HeapB float64
	// AloneUsReq is, for Crowd, the server CPU per request of the same
	// active connections before the idle crowd came, in the same process;
	// SrvUsReq is with the crowd.
	AloneUsReq float64
}

// Window bounds one measurement: it ends after Requests round trips or
// after Duration, whichever comes first (0 means no bound of that kind).
type Window struct {
	Warmup   time.Duration
	Duration time.Duration
	Requests int64
}

// ErrUnsupported means a server cannot run a workload at all: a backend
// without datagrams asked for UDP, or the floor asked for timers. The error
// Measure returns wraps it with the reason; RunMatrix reports the cell as
// n/a and goes on.
var ErrUnsupported = errors.New("benchkit: the server cannot run this workload")

// unsupportedError is ErrUnsupported with the server's reason.
type unsupportedError struct{ server, why string }

func (e *unsupportedError) Error() string {
	return fmt.Sprintf("benchkit: %s cannot run this workload: %s", e.server, e.why)
}

func (e *unsupportedError) Is(target error) bool { return target == ErrUnsupported }

// Measure starts the server, drives the workload at it and measures one
// window. The server and the load are gone when it returns.
func Measure(server string, w Workload, win Window) (Sample, error) {
	if win.Duration == 0 && win.Requests == 0 {
		return Sample{}, fmt.Errorf("benchkit: a window needs a duration or a request count")
	}
	switch w.Protocol {
	case Echo, Fairness, Churn, Accept:
	case UDP:
		if w.Size < udpMinSize {
			return Sample{}, fmt.Errorf("benchkit: %s: a datagram needs at least %d bytes for its sequence number", w.Name(), udpMinSize)
		}
	case Timers:
		return measureTimers(server, w, win)
	case Array:
		return measureArray(server, w, win)
	case Idle:
		return measureIdle(server, w)
	case Crowd:
		return measureCrowd(server, w, win)
	default:
		return Sample{}, fmt.Errorf("benchkit: unknown protocol %q", w.Protocol)
	}
	srv, err := startServiceLoops(server, w.service(), w.Loops)
	if err != nil {
		return Sample{}, err
	}
	defer srv.Stop()
	// The window counts and times the load's round trips (for UDP,
	// datagrams; for Churn, connections), or, for Fairness, the probe's: a
	// process of its own (see EnvProbe), so that what it measures is the
	// server's turn order.
	var m meter
	var bulk *load
	switch w.Protocol {
	case Fairness:
		if bulk, err = startLoad(srv.Addr, w.Conns, w.Bulk, 0); err != nil {
			return Sample{}, err
		}
		defer bulk.close()
		if err := bulk.waitOpen(w.Conns, 20*time.Second); err != nil {
			return Sample{}, err
		}
		pr, err := startProbe(srv.Addr, w.Size)
		if err != nil {
			return Sample{}, err
		}
		defer pr.close()
		m = pr
	case UDP:
		u, err := startUDPLoad(srv.Addr, w.Conns, w.Size)
		if err != nil {
			return Sample{}, err
		}
		defer u.close()
		if err := u.waitOpen(20 * time.Second); err != nil {
			return Sample{}, err
		}
		m = u
	case Churn, Accept:
		size := w.Size // the echo's message; 0: the time service
		if w.Protocol == Churn {
			size = 0
		}
		c, err := startChurn(srv.Addr, w.Conns, size)
		if err != nil {
			return Sample{}, err
		}
		defer c.close()
		m = c
	default:
		g, err := startLoad(srv.Addr, w.Conns, w.Size, w.Rate)
		if err != nil {
			return Sample{}, err
		}
		defer g.close()
		if err := g.waitOpen(w.Conns, 20*time.Second); err != nil {
			return Sample{}, err
		}
		if err := g.startPacer(); err != nil {
			return Sample{}, err
		}
		m = g
	}
	if win.Warmup > 0 {
		time.Sleep(win.Warmup) // the warm-up is a span of load, not a wait for an event
	}
	// The server's CPU reading first: the reset starts the window, and a
	// probe's round trips can arrive during the stats round trip.
	st0, err := srv.Stats()
	if err != nil {
		return Sample{}, err
	}
	if err := m.reset(); err != nil {
		return Sample{}, err
	}
	t0 := time.Now()
	var bulk0 int64
	if bulk != nil {
		bulk0 = bulk.bytes.Load()
	}
	if err := waitWindow(m, win, bulk); err != nil {
		return Sample{}, err
	}
	t1 := time.Now()
	var bulkBytes int64
	if bulk != nil {
		bulkBytes = bulk.bytes.Load() - bulk0
	}
	st1, err := srv.Stats()
	if err != nil {
		return Sample{}, err
	}
	lat, err := m.stats()
	if err != nil {
		return Sample{}, err
	}
	s := Sample{Workload: w, Server: server, Requests: lat.n, Elapsed: t1.Sub(t0), RSSKB: st1.RSSKB, PeakRSSKB: st1.PeakRSSKB, Lost: lat.lost}
	if s.Requests <= 0 {
		return s, fmt.Errorf("benchkit: %s on %s: no request completed in %v", server, w.Name(), s.Elapsed)
	}
	sec := s.Elapsed.Seconds()
	s.ReqPerSec = float64(s.Requests) / sec
	units, unitBytes := float64(s.Requests), float64(w.Size) // what the server figures are per
	if bulk != nil {
		if bulkBytes <= 0 {
			return s, fmt.Errorf("benchkit: %s on %s: the bulk peers got nothing back in %v", server, w.Name(), s.Elapsed)
		}
		units, unitBytes = float64(bulkBytes)/(1<<20), 1<<20
	}
	s.SrvUsReq = float64(st1.CPUMicros-st0.CPUMicros) / units
	s.AllocsReq = float64(st1.Mallocs-st0.Mallocs) / units
	s.MBps = units * unitBytes / sec / 1e6
	s.P50us, s.P99us, s.P999us = lat.p50, lat.p99, lat.p999
	s.OtherThreads = otherThreadsShare(st0.Threads, st1.Threads)
	if f, ok := m.(failer); ok {
		if err := f.err(); err != nil {
			return s, err
		}
	}
	if bulk != nil {
		if err := bulk.err(); err != nil {
			return s, err
		}
	}
	return s, nil
}

// meter is what a window counts and times: an echo load, the fairness
// probe, the UDP load or the churn. stats gives the round trips and
// latencies since reset.
type meter interface {
	reset() error
	count() (int64, error)
	stats() (probeStats, error)
}

// failer is a meter or a load that can fail on its own, between calls:
// err says whether it has.
type failer interface {
	err() error
}

// waitWindow lets the load run until the window's bound: m's round trips
// since its reset, or the duration. It returns early if m or bulk fails.
func waitWindow(m meter, win Window, bulk *load) error {
	var deadline time.Time
	if win.Duration > 0 {
		deadline = time.Now().Add(win.Duration)
	}
	for {
		if bulk != nil {
			if err := bulk.err(); err != nil {
				return err
			}
		}
		if f, ok := m.(failer); ok {
			if err := f.err(); err != nil {
				return err
			}
		}
		if win.Requests > 0 {
			// Asking costs the probe a pipe round trip, on the load's CPU;
			// the loads only a counter.
			n, err := m.count()
			if err != nil {
				return err
			}
			if n >= win.Requests {
				return nil
			}
		}
		if !deadline.IsZero() && !time.Now().Before(deadline) {
			return nil
		}
		time.Sleep(2 * time.Millisecond) // polling a counter; the load runs on its own loop
	}
}
