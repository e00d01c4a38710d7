package benchkit

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgeloop/edgeloop/protocols/array"
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
			// Over the rate by more than 10% is a pacer that deals too
			// much; under it is a pacer that deals too little, or a
			// machine too busy to keep up (CI under -race beside other
			// packages measured 13% under), so the bound there is looser.
			if got > tc.rate*1.1 || got < tc.rate*0.75 {
				t.Errorf("paced at %.0f round trips/s, want %.0f (-25%%, +10%%)", got, tc.rate)
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

// TestMeasureUDP runs one short UDP echo cell on the floor and the native
// loop: datagrams come back, the server's CPU is counted, and nothing is
// lost on loopback (a loss would be logged, not failed: it is the load's
// job to survive one, see TestUDPLoadResendsALostDatagram).
func TestMeasureUDP(t *testing.T) {
	w := Workload{Protocol: UDP, Size: 64, Conns: 8}
	for _, server := range []string{Floor, "epoll"} {
		t.Run(server, func(t *testing.T) {
			s, err := Measure(server, w, Window{Warmup: 10 * time.Millisecond, Requests: 2000, Duration: 20 * time.Second})
			if err == ErrNoCompiler {
				t.Skip(err)
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.Requests < 2000 {
				t.Errorf("window ended after %d datagrams, want >= 2000", s.Requests)
			}
			if s.SrvUsReq <= 0 || s.SrvUsReq > 10000 {
				t.Errorf("server CPU per datagram = %v µs, want a positive, plausible figure", s.SrvUsReq)
			}
			if s.P50us <= 0 || s.P99us < s.P50us {
				t.Errorf("latency quantiles out of order: p50 %v p99 %v", s.P50us, s.P99us)
			}
			if s.MBps <= 0 || s.RSSKB <= 0 {
				t.Errorf("%v MB/s echoed, server RSS %d KiB: want both positive", s.MBps, s.RSSKB)
			}
			if server == "epoll" && s.AllocsReq > 0.5 {
				t.Errorf("epoll server allocates %.2f objects per datagram, want about 0", s.AllocsReq)
			}
			t.Logf("%s on %s: %.0f datagrams/s, %.2f µs CPU/datagram, %.3f allocs, p99 %v µs, %d lost",
				w.Name(), server, s.ReqPerSec, s.SrvUsReq, s.AllocsReq, s.P99us, s.Lost)
		})
	}
}

// TestUnsupportedServiceIsNotApplicable: a child that answers
// "unsupported WHY" (a backend without datagrams) makes an error that
// wraps ErrUnsupported with its reason, not a failed start.
func TestUnsupportedServiceIsNotApplicable(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip(err)
	}
	_, err = serve("nodgram", exec.Command(sh, "-c", "echo unsupported this backend serves no datagrams; cat >/dev/null"), []int{ServerCPU})
	var ue *unsupportedError
	if !errors.Is(err, ErrUnsupported) || !errors.As(err, &ue) || ue.why != "this backend serves no datagrams" {
		t.Fatalf("err = %v, want ErrUnsupported saying why", err)
	}
}

// TestMatrixNotApplicableCell: a cell the server cannot run says so in the
// table and the run goes on.
func TestMatrixNotApplicableCell(t *testing.T) {
	w := Workload{Protocol: Timers, Timers: 1000, Spread: time.Millisecond}
	rows, err := RunMatrix(Config{Workloads: []Workload{w}, Window: Window{Requests: 1000, Duration: 20 * time.Second}, Reps: 3})
	if err != nil {
		t.Fatal(err)
	}
	c := rows[0].Cells[0]
	if c.Server != Floor || c.Unsupported != "the floor has no timers" || c.XFloor != 0 {
		t.Errorf("the floor's timer cell = %+v, want n/a", c)
	}
	var b strings.Builder
	Markdown(&b, rows)
	if !strings.Contains(b.String(), "| timers/n=1000/spread=1ms | n/a: the floor has no timers |") {
		t.Errorf("table lacks the n/a cell:\n%s", &b)
	}
}

// TestUDPOnGnetIsMeasuredOrNotApplicable: gnet's cell either has figures
// or says it is n/a; neither crashes the run.
func TestUDPOnGnetIsMeasuredOrNotApplicable(t *testing.T) {
	w := Workload{Protocol: UDP, Size: 64, Conns: 2}
	rows, err := RunMatrix(Config{Servers: []string{"gnet"}, NoFloor: true, Workloads: []Workload{w},
		Window: Window{Requests: 100, Duration: 20 * time.Second}, Reps: 2})
	if err != nil {
		t.Fatal(err)
	}
	c := rows[0].Cells[0]
	if c.Unsupported == "" && c.ReqPerSec <= 0 {
		t.Errorf("gnet's UDP cell is neither n/a nor measured: %+v", c)
	}
	t.Logf("gnet: %s", cellText(c))
}

// TestUDPLoadResendsALostDatagram runs the UDP load against a server that
// drops the first datagram of each socket, or holds it back and echoes it
// late, after the socket's next: each socket must count one loss, send
// again and go on; a late echo must not count as the next one's.
func TestUDPLoadResendsALostDatagram(t *testing.T) {
	const socks = 4
	for _, tc := range []struct {
		name string
		late bool
	}{
		{"dropped", false},
		{"echoed late", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr, stop := lossyEcho(t, tc.late)
			defer stop()
			g, err := startUDPLoad(addr, socks, 64)
			if err != nil {
				t.Fatal(err)
			}
			defer g.close()
			if err := g.waitOpen(10 * time.Second); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(20 * time.Second)
			for {
				if err := g.err(); err != nil {
					t.Fatal(err)
				}
				n := perSock(g)
				least := n[0]
				for _, k := range n {
					least = min(least, k)
				}
				if least >= 3 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("echoes per socket %v and %d lost after 20s: a lost datagram stalled its socket", n, g.lost.Load())
				}
				time.Sleep(time.Millisecond) // polling counters, with a deadline
			}
			if lost := g.lost.Load(); lost != socks {
				t.Errorf("%d datagrams counted lost, want %d: one per socket", lost, socks)
			}
			st, err := g.stats()
			if err != nil {
				t.Fatal(err)
			}
			if st.n < 3*socks || st.lost != socks {
				t.Errorf("stats say %d echoed and %d lost, want at least %d and %d", st.n, st.lost, 3*socks, socks)
			}
		})
	}
}

// lossyEcho is a UDP echo server that loses the first datagram of each
// sender: it drops it, or (late) holds it until the sender's second has
// come and echoes it just before that one.
func lossyEcho(t *testing.T, late bool) (addr string, stop func()) {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		seen := map[string]int{}
		held := map[string][]byte{}
		buf := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return // closed by stop
			}
			k := from.String()
			seen[k]++
			switch {
			case seen[k] == 1:
				if late {
					held[k] = append([]byte(nil), buf[:n]...)
				}
				continue
			case seen[k] == 2 && held[k] != nil:
				pc.WriteTo(held[k], from)
			}
			pc.WriteTo(buf[:n], from)
		}
	}()
	return pc.LocalAddr().String(), func() { pc.Close(); wg.Wait() }
}

// perSock reads each UDP load socket's echoes on the load's loop goroutine.
func perSock(g *udpLoad) []int64 {
	ch := make(chan []int64, 1)
	g.l.Post(func() {
		var n []int64
		for _, s := range g.all {
			n = append(n, s.n)
		}
		ch <- n
	})
	return <-ch
}

// TestMeasureChurn runs one short churn cell on the floor and the native
// loop: connections come and go, each with the time, and none fails.
func TestMeasureChurn(t *testing.T) {
	for _, w := range []Workload{{Protocol: Churn, Conns: 4}, {Protocol: Accept, Size: 64, Conns: 4}} {
		for _, server := range []string{Floor, "epoll"} {
			t.Run(w.Protocol+"/"+server, func(t *testing.T) { measureChurn(t, w, server) })
		}
	}
}

// measureChurn runs one small churn or accept cell on server.
func measureChurn(t *testing.T, w Workload, server string) {
	s, err := Measure(server, w, Window{Warmup: 10 * time.Millisecond, Requests: 500, Duration: 20 * time.Second})
	if err == ErrNoCompiler {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if s.Requests < 500 {
		t.Errorf("window ended after %d connections, want >= 500", s.Requests)
	}
	if s.SrvUsReq <= 0 || s.SrvUsReq > 100000 {
		t.Errorf("server CPU per connection = %v µs, want a positive, plausible figure", s.SrvUsReq)
	}
	if s.P50us <= 0 || s.P99us < s.P50us {
		t.Errorf("latency quantiles out of order: p50 %v p99 %v", s.P50us, s.P99us)
	}
	if s.Lost != 0 {
		t.Errorf("%d connections failed, want none", s.Lost)
	}
	t.Logf("%s on %s: %.0f conns/s, %.2f µs CPU/conn, %.2f allocs, p99 %v µs", w.Name(), server, s.ReqPerSec, s.SrvUsReq, s.AllocsReq, s.P99us)
}

// TestChurnCountsFailedConnections runs the churn against a server that
// closes every connection without the time, and the accept row's against
// one that reads the message and closes without the echo: each counts as
// failed, the slots dial again, none counts as done, and once failFast
// have failed the churn says why.
func TestChurnCountsFailedConnections(t *testing.T) {
	for _, tc := range []struct {
		name string
		size int // the accept row's message; 0: the time service's churn
		want string
	}{
		{"time", 0, "time service sent 0 bytes, want 4"},
		{"accept", 64, "echo closed after 0 of 64 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) { churnFails(t, tc.size, tc.want) })
	}
}

// churnFails runs TestChurnCountsFailedConnections' case for size.
func churnFails(t *testing.T, size int, want string) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return // closed
			}
			// Reading the message first, so that the close is a FIN: an
			// RST for unread input would fail the write or the read with
			// a reset instead.
			c.SetDeadline(time.Now().Add(10 * time.Second))
			io.ReadFull(c, make([]byte, size))
			c.Close()
		}
	}()
	defer func() { ln.Close(); wg.Wait() }()
	g, err := startChurn(ln.Addr().String(), 2, size)
	if err != nil {
		t.Fatal(err)
	}
	defer g.close()
	deadline := time.Now().Add(20 * time.Second)
	for g.failed.Load() < failFast {
		if time.Now().After(deadline) {
			t.Fatalf("%d failed connections after 20s, want %d: the slots stopped dialling", g.failed.Load(), failFast)
		}
		time.Sleep(time.Millisecond) // polling a counter, with a deadline
	}
	if n := g.done.Load(); n != 0 {
		t.Errorf("%d connections counted done without the time", n)
	}
	if err := g.err(); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("err = %v, want one saying %q", err, want)
	}
}

// TestMeasureTimers runs one small round of timers on the native loop and
// on an engine (runtime timers): all fire, their CPU and allocations are
// counted, and the round lasts at least the spread. The floor has none.
func TestMeasureTimers(t *testing.T) {
	const n, spread = 10000, 20 * time.Millisecond
	w := Workload{Protocol: Timers, Timers: n, Spread: spread}
	for _, server := range []string{"epoll", "gnet"} {
		t.Run(server, func(t *testing.T) {
			s, err := Measure(server, w, Window{Warmup: time.Millisecond, Requests: n, Duration: 20 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			if s.Requests != n {
				t.Errorf("%d timers fired, want one round of %d", s.Requests, n)
			}
			if s.SrvUsReq <= 0 || s.SrvUsReq > 1000 {
				t.Errorf("server CPU per timer = %v µs, want a positive, plausible figure", s.SrvUsReq)
			}
			if s.AllocsReq < 0.5 || s.AllocsReq > 50 {
				t.Errorf("%.2f allocations per timer, want about one (a Timer) or a few", s.AllocsReq)
			}
			if s.RoundUs < float64(spread.Microseconds()) {
				t.Errorf("round of %v µs, shorter than the %v spread: the timers fired early", s.RoundUs, spread)
			}
			t.Logf("%s on %s: %.3f µs CPU/timer, %.2f allocs/timer, round %.0f µs", w.Name(), server, s.SrvUsReq, s.AllocsReq, s.RoundUs)
		})
	}
	t.Run(Floor, func(t *testing.T) {
		if _, err := Measure(Floor, w, Window{Duration: time.Second}); !errors.Is(err, ErrUnsupported) {
			t.Errorf("the floor's timers: err = %v, want ErrUnsupported", err)
		}
	})
}

// TestMeasureArray runs one short array cell, 4 MiB arrays, on the floor
// and the native loop: arrays come back, at a positive rate and CPU cost,
// and the server's peak RSS holds at least one array.
func TestMeasureArray(t *testing.T) {
	w := Workload{Protocol: Array, Size: 4 << 20, Conns: 1}
	for _, server := range []string{Floor, "epoll"} {
		t.Run(server, func(t *testing.T) {
			s, err := Measure(server, w, Window{Warmup: 10 * time.Millisecond, Requests: 20, Duration: 20 * time.Second})
			if err == ErrNoCompiler {
				t.Skip(err)
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.Requests < 20 {
				t.Errorf("window ended after %d round trips, want >= 20", s.Requests)
			}
			if s.MBps <= 0 {
				t.Errorf("%v MB/s, want more than 0", s.MBps)
			}
			if want := float64(s.Requests) * float64(w.Size) / s.Elapsed.Seconds() / 1e6; math.Abs(s.MBps-want) > want*1e-9 {
				t.Errorf("%v MB/s, want the %v of %d arrays of %d bytes in %v", s.MBps, want, s.Requests, w.Size, s.Elapsed)
			}
			if s.SrvUsReq <= 0 {
				t.Errorf("server CPU per GiB = %v µs, want more than 0", s.SrvUsReq)
			}
			if s.PeakRSSKB*1024 < int64(w.Size) {
				t.Errorf("server peak RSS %d KiB, less than the %d KiB array it held", s.PeakRSSKB, w.Size>>10)
			}
			if s.PeakRSSKB < s.RSSKB {
				t.Errorf("server peak RSS %d KiB is below its RSS %d KiB", s.PeakRSSKB, s.RSSKB)
			}
			if s.P50us <= 0 || s.P99us < s.P50us {
				t.Errorf("round trip quantiles out of order: p50 %v p99 %v", s.P50us, s.P99us)
			}
			t.Logf("%s on %s: %.2f GB/s, %.1f ms CPU/GiB, %.1f allocs/GiB, p50 %v µs, peak RSS %d KiB", w.Name(), server, s.MBps/1e3, s.SrvUsReq/1e3, s.AllocsReq, s.P50us, s.PeakRSSKB)
		})
	}
}

// TestArrayFloorSizesOtherArrays: the floor sizes an array from its
// header's descr and whole shape, not only the 1-d |u1 arrays the rows
// send: a 2-d <f8 array, an empty one, and a 0-d one come back whole.
func TestArrayFloorSizesOtherArrays(t *testing.T) {
	srv, err := startService(Floor, serviceArray)
	if err == ErrNoCompiler {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	c, err := net.DialTimeout("tcp", srv.Addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(20 * time.Second)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		shape []int
		n     int
	}{
		{"2-d", []int{3, 5}, 15},
		{"empty", []int{0, 4}, 0},
		{"0-d", []int{}, 1},
	} {
		src := make([]float64, tc.n)
		for i := range src {
			src[i] = float64(i) + 0.5
		}
		if err := array.WriteArray(c, tc.shape, src); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		dst := make([]byte, 8*tc.n)
		h, data, err := array.ReadArrayInto(c, dst, array.Limits{})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !slices.Equal(h.Shape, tc.shape) || !bytes.Equal(data, array.BytesOf(src)) {
			t.Errorf("%s: echo of shape %v and %d bytes, want shape %v and the %d bytes sent", tc.name, h.Shape, len(data), tc.shape, 8*tc.n)
		}
	}
}

// TestMeasureIdle runs a tiny idle row on the floor and on epoll: the
// connections open, the readings come back, and the figures are in the
// range a few hundred idle connections can give.
func TestMeasureIdle(t *testing.T) {
	for _, server := range []string{Floor, "epoll"} {
		t.Run(server, func(t *testing.T) {
			w := Workload{Protocol: Idle, Idle: 200}
			s, err := Measure(server, w, Window{Duration: 100 * time.Millisecond})
			if err == ErrNoCompiler {
				t.Skip(err)
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.Requests != 200 {
				t.Errorf("opened %d idle connections, want 200", s.Requests)
			}
			// RSS moves in pages: 200 connections can grow it by a few
			// pages each at most, and never shrink it by much.
			for name, b := range map[string]float64{"steady": s.IdleB, "after GC": s.IdleGCB} {
				if b < -64<<10/200 || b > 64<<10 {
					t.Errorf("RSS per idle connection (%s) = %.0f B, want between -%d and 64 KiB", name, b, 64<<10/200)
				}
			}
			if server == Floor && s.HeapB != 0 {
				t.Errorf("the floor's heap grew %.0f B per connection; it has no Go heap", s.HeapB)
			}
			if server == "epoll" && (s.HeapB <= 0 || s.HeapB > 16<<10) {
				t.Errorf("epoll's live heap grew %.0f B per idle connection, want some, under 16 KiB", s.HeapB)
			}
			if s.RSSKB <= 0 {
				t.Errorf("server RSS = %d KiB", s.RSSKB)
			}
			t.Logf("%s: %.0f B/conn steady, %.0f B/conn after GC, heap %.0f B/conn", server, s.IdleB, s.IdleGCB, s.HeapB)
		})
	}
}

// TestMeasureCrowd runs a tiny crowd row on epoll: both windows measure,
// and the ratio of their CPU per request is a plausible one.
func TestMeasureCrowd(t *testing.T) {
	w := Workload{Protocol: Crowd, Size: 64, Conns: 4, Idle: 200}
	s, err := Measure("epoll", w, Window{Warmup: 10 * time.Millisecond, Duration: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if s.Requests <= 0 || s.SrvUsReq <= 0 || s.AloneUsReq <= 0 {
		t.Fatalf("crowd window %d requests at %.2f µs, alone %.2f µs: want both windows measured", s.Requests, s.SrvUsReq, s.AloneUsReq)
	}
	if r := crowdRatio(s); r < 0.1 || r > 10 {
		t.Errorf("crowd/alone CPU per request = %.2f, want a plausible ratio", r)
	}
	t.Logf("%s: %.2f µs/req with the crowd, %.2f alone", w.Name(), s.SrvUsReq, s.AloneUsReq)
}

// TestMeasureScaling runs a tiny echo row at two loops on epoll: the
// server takes the loop count, and the floor, one thread, is n/a.
func TestMeasureScaling(t *testing.T) {
	w := Workload{Protocol: Echo, Size: 64, Conns: 8, Loops: 2}
	s, err := Measure("epoll", w, Window{Warmup: 10 * time.Millisecond, Duration: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if s.Requests <= 0 || s.SrvUsReq <= 0 {
		t.Errorf("%d requests at %.2f µs: want a measured window", s.Requests, s.SrvUsReq)
	}
	if _, err := Measure(Floor, w, Window{Duration: 100 * time.Millisecond}); !errors.Is(err, ErrUnsupported) && err != ErrNoCompiler {
		t.Errorf("the floor at 2 loops: err = %v, want ErrUnsupported", err)
	}
}

// TestScalingServerHasItsLoops: a server started for loops=N runs N loops,
// each with its own listening socket (SO_REUSEPORT) on the one port, and
// is pinned to CPUs 0..N-1.
func TestScalingServerHasItsLoops(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc/net/tcp and /proc/PID/status: Linux only")
	}
	for _, loops := range []int{1, 2} {
		t.Run(fmt.Sprintf("loops=%d", loops), func(t *testing.T) {
			srv, err := startServiceLoops("epoll", serviceEcho, loops)
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Stop()
			_, port, err := net.SplitHostPort(srv.Addr)
			if err != nil {
				t.Fatal(err)
			}
			if n := listeners(t, port); n != loops {
				t.Errorf("%d sockets listen on port %s, want one per loop: %d", n, port, loops)
			}
			if !CanPin() {
				return
			}
			cpus := serverCPUs(loops)
			want := fmt.Sprint(cpus[0])
			if len(cpus) > 1 {
				want = fmt.Sprintf("%d-%d", cpus[0], cpus[len(cpus)-1])
			}
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", srv.cmd.Process.Pid))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(b), "Cpus_allowed_list:\t"+want+"\n") {
				t.Errorf("server not pinned to CPUs %s:\n%s", want, b)
			}
		})
	}
}

// listeners counts the IPv4 TCP sockets listening on port (decimal), from
// /proc/net/tcp.
func listeners(t *testing.T, port string) int {
	t.Helper()
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		t.Fatal(err)
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) > 3 && strings.HasSuffix(f[1], fmt.Sprintf(":%04X", p)) && f[3] == "0A" {
			n++
		}
	}
	return n
}
