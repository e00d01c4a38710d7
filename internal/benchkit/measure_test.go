package benchkit

import (
	"math"
	"os"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	if ChildMain() { // this test binary re-executed as a benchmark server
		return
	}
	os.Exit(m.Run())
}

// TestMeasureCell runs one small cell per server kind end to end: a child
// process that serves, reports its CPU and allocations, and the load
// generator's counts and latencies.
func TestMeasureCell(t *testing.T) {
	for _, server := range []string{Floor, "epoll", "net"} {
		t.Run(server, func(t *testing.T) {
			s, err := Measure(server, Workload{Protocol: "echo", Size: 64, Conns: 4},
				Window{Warmup: 10 * time.Millisecond, Requests: 2000, Duration: 20 * time.Second})
			if err == ErrNoCompiler {
				t.Skip(err)
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.Requests < 2000 {
				t.Errorf("window ended after %d requests, want >= 2000", s.Requests)
			}
			if s.SrvUsReq <= 0 || s.SrvUsReq > 10000 {
				t.Errorf("server CPU per request = %v µs, want a positive, plausible figure", s.SrvUsReq)
			}
			if s.P50us <= 0 || s.P99us < s.P50us || s.P999us < s.P99us {
				t.Errorf("latency quantiles out of order: p50 %v p99 %v p99.9 %v", s.P50us, s.P99us, s.P999us)
			}
			if s.RSSKB <= 0 {
				t.Errorf("server RSS = %d KiB", s.RSSKB)
			}
			if s.OtherThreads < 0 || s.OtherThreads >= 1 || (server == Floor && s.OtherThreads != 0) {
				t.Errorf("share of CPU on other threads = %v, want in [0, 1), and 0 for the single-threaded floor", s.OtherThreads)
			}
			if server == "epoll" && s.AllocsReq > 0.5 {
				t.Errorf("epoll server allocates %.2f objects per request, want about 0", s.AllocsReq)
			}
			t.Logf("%s: %.0f req/s, %.2f µs CPU/req, %.3f allocs/req, p99 %v µs", server, s.ReqPerSec, s.SrvUsReq, s.AllocsReq, s.P99us)
		})
	}
}

// TestMeasurePaced runs one short partial-load cell: the load generator
// paces the echo to a rate far below what the server can do, the window
// ends after a number of round trips, and the rate they came at must be the
// target's.
func TestMeasurePaced(t *testing.T) {
	const rate = 2000
	w := Workload{Protocol: Echo, Size: 64, Conns: 8, Rate: rate}
	s, err := Measure("epoll", w, Window{Warmup: 20 * time.Millisecond, Requests: 600, Duration: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if s.Requests < 600 {
		t.Errorf("window ended after %d requests, want >= 600", s.Requests)
	}
	if math.Abs(s.ReqPerSec-rate)/rate > 0.1 {
		t.Errorf("paced at %.0f req/s, want %d ± 10%%", s.ReqPerSec, rate)
	}
	if s.SrvUsReq <= 0 || s.SrvUsReq > 10000 {
		t.Errorf("server CPU per request = %v µs, want a positive, plausible figure", s.SrvUsReq)
	}
	if s.P50us <= 0 || s.P99us < s.P50us {
		t.Errorf("latency quantiles out of order: p50 %v p99 %v", s.P50us, s.P99us)
	}
	if s.OtherThreads < 0 || s.OtherThreads >= 1 {
		t.Errorf("share of CPU on other threads = %v, want in [0, 1)", s.OtherThreads)
	}
	t.Logf("%s: %.0f req/s, %.2f µs CPU/req, p50 %v µs, %.0f%% on other threads", w.Name(), s.ReqPerSec, s.SrvUsReq, s.P50us, 100*s.OtherThreads)
}

// TestPacerHitsTargetRate drives the pacer directly, at rates where it deals
// out less than one send per tick and several, and checks the rate, that
// the sends are spread over every connection, and that the pacer sleeps
// between ticks rather than spinning.
func TestPacerHitsTargetRate(t *testing.T) {
	for _, tc := range []struct {
		name  string
		rate  float64
		conns int
		n     int64 // round trips to wait for
	}{
		{"below one send per tick", 1500, 4, 600},
		{"several sends per tick", 10000, 32, 4000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, err := StartServer("epoll")
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Stop()
			g, err := startLoad(srv.Addr, tc.conns, 64, tc.rate)
			if err != nil {
				t.Fatal(err)
			}
			defer g.close()
			if err := g.waitOpen(tc.conns, 10*time.Second); err != nil {
				t.Fatal(err)
			}
			n0 := g.done.Load() // the first request of each connection, unpaced
			per0 := perPinger(g)
			if err := g.startPacer(); err != nil {
				t.Fatal(err)
			}
			t0, ticks0 := time.Now(), g.ticks.Load()
			deadline := t0.Add(20 * time.Second)
			for g.done.Load()-n0 < tc.n {
				if err := g.err(); err != nil {
					t.Fatal(err)
				}
				if time.Now().After(deadline) {
					t.Fatalf("%d of %d paced round trips after 20s", g.done.Load()-n0, tc.n)
				}
				time.Sleep(time.Millisecond) // polling a counter, with a deadline
			}
			elapsed, ticks := time.Since(t0), g.ticks.Load()-ticks0
			got := float64(g.done.Load()-n0) / elapsed.Seconds()
			if math.Abs(got-tc.rate)/tc.rate > 0.1 {
				t.Errorf("paced at %.0f round trips/s, want %.0f ± 10%%", got, tc.rate)
			}
			if most := int64(elapsed/paceTick) + 10; ticks > most {
				t.Errorf("the pacer woke %d times in %v, more than once per %v: it spins", ticks, elapsed, paceTick)
			}
			// Every connection got its share of the round trips.
			fair := float64(tc.n) / float64(tc.conns)
			for i, n := range perPinger(g) {
				if d := n - per0[i]; float64(d) < fair/2 {
					t.Errorf("connection %d made %d round trips, want about %.0f: the pacer deals unevenly", i, d, fair)
				}
			}
			t.Logf("%.0f round trips/s (want %.0f), %d ticks in %v", got, tc.rate, ticks, elapsed)
		})
	}
}

// TestMeasureFairness runs one short fairness cell: bulk peers echo large
// messages at full speed beside a probe, and both must get their echo.
func TestMeasureFairness(t *testing.T) {
	w := Workload{Protocol: Fairness, Size: 1 << 10, Conns: 2, Bulk: 256 << 10}
	for _, server := range []string{Floor, "epoll"} {
		t.Run(server, func(t *testing.T) {
			s, err := Measure(server, w, Window{Warmup: 20 * time.Millisecond, Requests: 200, Duration: 20 * time.Second})
			if err == ErrNoCompiler {
				t.Skip(err)
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.Requests < 200 {
				t.Errorf("window ended after %d probe round trips, want >= 200", s.Requests)
			}
			if s.MBps <= 0 {
				t.Errorf("bulk peers got %v MB/s back", s.MBps)
			}
			if s.SrvUsReq <= 0 {
				t.Errorf("server CPU per MiB = %v µs, want > 0", s.SrvUsReq)
			}
			if s.P50us <= 0 || s.P99us < s.P50us {
				t.Errorf("probe latency quantiles out of order: p50 %v p99 %v", s.P50us, s.P99us)
			}
			if s.OtherThreads < 0 || s.OtherThreads >= 1 {
				t.Errorf("share of CPU on other threads = %v, want in [0, 1)", s.OtherThreads)
			}
			t.Logf("%s on %s: probe p50 %v µs p99 %v µs, bulk %.0f MB/s, %.0f µs CPU/MiB", w.Name(), server, s.P50us, s.P99us, s.MBps, s.SrvUsReq)
		})
	}
}

// perPinger reads each load connection's completed round trips on the
// load's loop goroutine.
func perPinger(g *load) []int64 {
	ch := make(chan []int64, 1)
	g.l.Post(func() {
		var n []int64
		for _, p := range g.pingers {
			n = append(n, p.n)
		}
		ch <- n
	})
	return <-ch
}
