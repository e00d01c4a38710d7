package bench

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/edgeloop/edgeloop/backend"

	"github.com/edgeloop/edgeloop/internal/benchkit"
)

func TestMain(m *testing.M) {
	if benchkit.ChildMain() { // this binary re-executed as a server
		return
	}
	switch err := benchkit.PinSelf(); {
	case err != nil:
		fmt.Fprintln(os.Stderr, "bench: cannot pin the load generator:", err)
	case benchkit.CanPin():
		fmt.Fprintln(os.Stderr, "bench: servers on CPU 0 (GOMAXPROCS=1, one loop), load generator on the other CPUs")
	default:
		fmt.Fprintln(os.Stderr, "bench: not pinned: fewer than 2 CPUs, servers and load generator share them")
	}
	os.Exit(m.Run())
}

// floorUs remembers the floor's CPU per request for each workload in this
// run, for the x-floor metric of the backends measured after it.
var floorUs = map[string]float64{}

// BenchmarkEcho is ping-pong echo: each connection sends one message and
// waits for it to come back, b.N round trips in all. The rate=N rows pace
// the load to N round trips per second, so the server is not saturated.
func BenchmarkEcho(b *testing.B) { benchProtocol(b, benchkit.Echo) }

// BenchmarkFairness is one loop's fairness: bulk peers echo large messages
// at full speed while a probe connection echoes small ones, b.N probe round
// trips in all. ns/op and the latencies are the probe's round trip, MB/s is
// what the bulk peers got back, and srv-us/MiB the server's CPU per MiB of it.
func BenchmarkFairness(b *testing.B) { benchProtocol(b, benchkit.Fairness) }

// BenchmarkUDP is UDP echo: each socket keeps one datagram in flight, b.N
// datagrams echoed in all; the server's figures are per datagram
// (srv-us/datagram), and lost counts the datagrams sent again after a
// timeout. A backend without datagrams is skipped.
func BenchmarkUDP(b *testing.B) { benchProtocol(b, benchkit.UDP) }

// BenchmarkChurn is connection churn on the TCP time service: clients
// connect, read the 4-byte time until the server closes, and connect
// again, b.N connections in all; the server's figures are per connection
// (srv-us/conn), ns/op and the latencies from the dial to the server's
// close, and lost counts the connections that failed.
func BenchmarkChurn(b *testing.B) { benchProtocol(b, benchkit.Churn) }

// BenchmarkTimers is the server loop's timers: rounds of timers armed with
// deadlines spread over a span, until b.N have fired; the server's figures
// are per timer (srv-us/timer, srv-allocs/timer) and round-us is how long
// a round took. The floor has no timers and is skipped.
func BenchmarkTimers(b *testing.B) { benchProtocol(b, benchkit.Timers) }

// BenchmarkArray is large NPY arrays round-tripped over one connection,
// b.N arrays in all: ns/op is one round trip, GB/s the array data
// round-tripped per second (each byte counted once), the server's figures
// are per GiB of it (srv-us/GiB, srv-allocs/GiB), and srv-peak-rss-KB is
// the server's peak resident set over its life (VmHWM).
func BenchmarkArray(b *testing.B) { benchProtocol(b, benchkit.Array) }

// BenchmarkIdle is the server's memory per idle connection: 15 000
// connections each echo one message and stay open. Each run measures once
// whatever b.N is (one run takes seconds, so b.N stays 1): ns/op is the
// time to open one connection, srv-rss-B/idle-conn the server's RSS grown
// per connection once steady, srv-rss-gc-B/idle-conn the same after the
// server ran a GC and returned free memory to the OS, srv-heap-B/idle-conn
// its live Go heap grown per connection.
func BenchmarkIdle(b *testing.B) { benchProtocol(b, benchkit.Idle) }

// BenchmarkAccept is the accept rate: clients connect to TCP echo, echo
// one 64-byte message, reset the connection and connect again, b.N
// connections in all; the server's figures are per connection
// (srv-us/conn), ns/op and the latencies from the dial to the echo, and
// lost counts the connections that failed.
func BenchmarkAccept(b *testing.B) { benchProtocol(b, benchkit.Accept) }

// BenchmarkCrowd is 64 B echo at 64 connections, first alone and then
// beside 15 000 idle connections, in one server process, b.N round trips
// in each window: the figures are the crowd window's, alone-srv-us/req
// the first window's and crowd-x-alone their ratio.
func BenchmarkCrowd(b *testing.B) { benchProtocol(b, benchkit.Crowd) }

// BenchmarkScaling is 64 B echo at 64 connections with the server at 1 to
// min(NumCPU, 4) loops, GOMAXPROCS to match, pinned to CPUs 0..loops-1
// (sharing all but CPU 0 with the load generator). The floor, one thread,
// is skipped at more than one loop.
func BenchmarkScaling(b *testing.B) { benchProtocol(b, scaling) }

// scaling picks the scaling rows out of the echo ones for benchProtocol.
const scaling = "scaling"

func benchProtocol(b *testing.B, protocol string) {
	if !benchkit.CanPin() {
		b.Log("fewer than 2 CPUs: server and load generator share them")
	}
	servers := append([]string{benchkit.Floor}, backend.Names()...)
	for _, w := range append(slices.Clone(benchkit.DefaultWorkloads), benchkit.ExtraWorkloads()...) {
		p := w.Protocol
		if w.Loops > 0 {
			p = scaling
		}
		if p != protocol {
			continue
		}
		b.Run(strings.TrimPrefix(w.Name(), w.Protocol+"/"), func(b *testing.B) {
			for _, srv := range servers {
				b.Run("backend="+srv, func(b *testing.B) { benchCell(b, srv, w) })
			}
		})
	}
}

func benchCell(b *testing.B, srv string, w benchkit.Workload) {
	s, err := benchkit.Measure(srv, w, benchkit.Window{
		Warmup:   200 * time.Millisecond,
		Requests: int64(b.N),
		Duration: time.Minute, // a bound, should b.N be more than a minute's worth
	})
	if err == benchkit.ErrNoCompiler || errors.Is(err, benchkit.ErrUnsupported) {
		b.Skip(err)
	}
	if err != nil {
		b.Fatal(err)
	}
	per := w.Unit() // what the server's figures are per
	// The window measured s.Requests round trips (>= b.N); report per b.N.
	b.ReportMetric(float64(s.Elapsed.Nanoseconds())/float64(s.Requests), "ns/op")
	b.ReportMetric(s.SrvUsReq, "srv-us/"+per)
	b.ReportMetric(s.AllocsReq, "srv-allocs/"+per)
	switch w.Protocol {
	case benchkit.Timers:
		b.ReportMetric(s.RoundUs, "round-us")
	case benchkit.Array:
		b.ReportMetric(s.MBps/1e3, "GB/s")
		b.ReportMetric(float64(s.PeakRSSKB), "srv-peak-rss-KB")
	case benchkit.Idle:
		b.ReportMetric(s.IdleB, "srv-rss-B/idle-conn")
		b.ReportMetric(s.IdleGCB, "srv-rss-gc-B/idle-conn")
		b.ReportMetric(s.HeapB, "srv-heap-B/idle-conn")
	case benchkit.Crowd:
		b.ReportMetric(s.ReqPerSec, "req/s")
		b.ReportMetric(s.AloneUsReq, "alone-srv-us/req")
		b.ReportMetric(s.SrvUsReq/s.AloneUsReq, "crowd-x-alone")
	case benchkit.UDP, benchkit.Churn, benchkit.Accept:
		b.ReportMetric(s.ReqPerSec, per+"/s")
		b.ReportMetric(float64(s.Lost), "lost")
	default:
		b.ReportMetric(s.ReqPerSec, "req/s")
		b.ReportMetric(s.MBps, "MB/s")
	}
	if w.Protocol != benchkit.Timers && w.Protocol != benchkit.Idle {
		b.ReportMetric(s.P50us, "p50-us")
		b.ReportMetric(s.P99us, "p99-us")
		b.ReportMetric(s.P999us, "p999-us")
	}
	b.ReportMetric(float64(s.RSSKB), "srv-rss-KB")
	b.ReportMetric(100*s.OtherThreads, "srv-other-threads-%")
	if srv == benchkit.Floor {
		floorUs[w.Name()] = s.SrvUsReq
	} else if f := floorUs[w.Name()]; f > 0 {
		b.ReportMetric(s.SrvUsReq/f, "x-floor")
	}
}
