package benchkit

import (
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
