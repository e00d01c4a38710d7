package benchkit

import (
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want float64
	}{
		{[]float64{3}, 3},
		{[]float64{5, 1, 3}, 3},
		{[]float64{4, 1, 3, 2}, 2.5},
	} {
		if got := median(tc.in); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestAggregateSpreadAndXFloor(t *testing.T) {
	w := Workload{Protocol: "echo", Size: 64, Conns: 1}
	c := aggregate(w, "epoll", []Sample{{SrvUsReq: 4}, {SrvUsReq: 5}, {SrvUsReq: 6}})
	if c.SrvUsReq != 5 {
		t.Errorf("median srv-us = %v, want 5", c.SrvUsReq)
	}
	if c.Spread != 0.4 {
		t.Errorf("spread = %v, want (6-4)/5 = 0.4", c.Spread)
	}
}

// TestAggregateIdleAndCrowd: an idle row's figures are the medians of the
// bytes per connection, its spread theirs; a crowd row's ratio is the
// median of each repetition's own ratio, not the ratio of the medians.
func TestAggregateIdleAndCrowd(t *testing.T) {
	idle := aggregate(Workload{Protocol: Idle, Idle: 100}, "epoll", []Sample{
		{IdleB: 300, IdleGCB: 150, HeapB: 110, SrvUsReq: 50},
		{IdleB: 400, IdleGCB: 170, HeapB: 120, SrvUsReq: 60},
		{IdleB: 320, IdleGCB: 160, HeapB: 100, SrvUsReq: 70},
	})
	if idle.IdleB != 320 || idle.IdleGCB != 160 || idle.HeapB != 110 {
		t.Errorf("idle medians = %v, %v, %v B; want 320, 160, 110", idle.IdleB, idle.IdleGCB, idle.HeapB)
	}
	if idle.Spread != 0.3125 {
		t.Errorf("idle spread = %v, want (400-300)/320 = 0.3125, of the bytes per connection", idle.Spread)
	}
	crowd := aggregate(Workload{Protocol: Crowd, Size: 64, Conns: 64, Idle: 100}, "epoll", []Sample{
		{SrvUsReq: 9, AloneUsReq: 3}, // 3.0
		{SrvUsReq: 4, AloneUsReq: 4}, // 1.0
		{SrvUsReq: 6, AloneUsReq: 5}, // 1.2
	})
	if crowd.CrowdX != 1.2 {
		t.Errorf("crowd ratio = %v, want the median of the repetitions' ratios, 1.2, not the medians' ratio 6/4", crowd.CrowdX)
	}
	if crowd.AloneUsReq != 4 || crowd.SrvUsReq != 6 {
		t.Errorf("crowd medians = %v with, %v alone; want 6, 4", crowd.SrvUsReq, crowd.AloneUsReq)
	}
	if r := crowdRatio(Sample{SrvUsReq: 3}); r != 0 {
		t.Errorf("crowdRatio without an alone figure = %v, want 0", r)
	}
	if g := idleGrowth(1000, 1300, 1024); g != 300 {
		t.Errorf("idleGrowth(1000 KiB, 1300 KiB, 1024 conns) = %v B, want 300", g)
	}
}

func TestMarkdownTable(t *testing.T) {
	rows := []Row{{Workload: "echo/size=64/conns=64", Cells: []Cell{
		{Server: Floor, SrvUsReq: 4, ReqPerSec: 250000, P99us: 500},
		{Server: "epoll", SrvUsReq: 4.2, XFloor: 1.05, ReqPerSec: 240000, P99us: 1500, OtherThreadsPct: 9.4},
		{Server: "gnet", Skipped: "no reason"},
	}}, {Workload: "echo/size=64/conns=64/rate=80000", Cells: []Cell{
		{Workload: Workload{Protocol: Echo, Size: 64, Conns: 64, Rate: 80000}, Server: Floor, SrvUsReq: 4, ReqPerSec: 79900},
		{Workload: Workload{Protocol: Echo, Size: 64, Conns: 64, Rate: 80000}, Server: "net", SrvUsReq: 9, ReqPerSec: 70000},
	}}, {Workload: FairnessWorkload.Name(), Cells: []Cell{
		{Workload: FairnessWorkload, Server: Floor, SrvUsReq: 300, P50us: 700, P99us: 2100, MBps: 1500},
		{Workload: FairnessWorkload, Server: "epoll", SrvUsReq: 330, XFloor: 1.1, P50us: 4600, P99us: 9000, MBps: 1450},
		{Workload: FairnessWorkload, Server: "gnet", Skipped: "no reason"},
	}}, {Workload: UDPWorkload.Name(), Cells: []Cell{
		{Workload: UDPWorkload, Server: Floor, SrvUsReq: 2.5, ReqPerSec: 150000, P99us: 800},
		{Workload: UDPWorkload, Server: "epoll", SrvUsReq: 2, XFloor: 0.8, ReqPerSec: 160000, P99us: 700, Lost: 3},
		{Workload: UDPWorkload, Server: "gnet", Unsupported: "this backend serves no datagrams"},
	}}, {Workload: ChurnWorkload.Name(), Cells: []Cell{
		{Workload: ChurnWorkload, Server: Floor, SrvUsReq: 20, ReqPerSec: 30000, P99us: 900},
		{Workload: ChurnWorkload, Server: "epoll", SrvUsReq: 30, XFloor: 1.5, ReqPerSec: 25000, P99us: 1200, AllocsReq: 7, Lost: 2},
	}}, {Workload: TimersWorkload.Name(), Cells: []Cell{
		{Workload: TimersWorkload, Server: Floor, Unsupported: "the floor has no timers"},
		{Workload: TimersWorkload, Server: "epoll", SrvUsReq: 0.25, AllocsReq: 1, RoundUs: 101500},
	}}, {Workload: ArrayWorkloads[1].Name(), Cells: []Cell{
		{Workload: ArrayWorkloads[1], Server: Floor, MBps: 3500, SrvUsReq: 250000, P50us: 150000, PeakRSSKB: 256<<10 + 1536},
		{Workload: ArrayWorkloads[1], Server: "epoll", MBps: 2100, SrvUsReq: 400000, XFloor: 1.6, P50us: 250000, AllocsReq: 4, PeakRSSKB: 256<<10 + 6144},
	}}}
	idle := Workload{Protocol: Idle, Idle: 15000}
	crowd := Workload{Protocol: Crowd, Size: 64, Conns: 64, Idle: 15000}
	loops := Workload{Protocol: Echo, Size: 64, Conns: 64, Loops: 2}
	rows = append(rows, Row{Workload: AcceptWorkload.Name(), Cells: []Cell{
		{Workload: AcceptWorkload, Server: Floor, SrvUsReq: 12, ReqPerSec: 40000, P99us: 700},
		{Workload: AcceptWorkload, Server: "epoll", SrvUsReq: 18, XFloor: 1.5, ReqPerSec: 35000, P99us: 900, AllocsReq: 5, Lost: 1},
		{Workload: AcceptWorkload, Server: "gnet", Skipped: "no reason"},
	}}, Row{Workload: idle.Name(), Cells: []Cell{
		{Workload: idle, Server: Floor, SrvUsReq: 50, RSSKB: 1434},
		{Workload: idle, Server: "epoll", IdleB: 328, IdleGCB: 172, HeapB: 109, Spread: 0.05, RSSKB: 17408},
		{Workload: idle, Server: "gnet", Skipped: "no reason"},
	}}, Row{Workload: crowd.Name(), Cells: []Cell{
		{Workload: crowd, Server: Floor, CrowdX: 1.03, SrvUsReq: 10.3, AloneUsReq: 10, ReqPerSec: 40000},
		{Workload: crowd, Server: "epoll", CrowdX: 0.97, SrvUsReq: 9.7, AloneUsReq: 10, ReqPerSec: 40000},
		{Workload: crowd, Server: "gnet", Skipped: "no reason"},
	}}, Row{Workload: loops.Name(), Cells: []Cell{
		{Workload: loops, Server: Floor, Unsupported: "the floor is one thread, one loop"},
		{Workload: loops, Server: "epoll", SrvUsReq: 8.22, ReqPerSec: 54000},
		{Workload: loops, Server: "gnet", Skipped: "no reason"},
	}})
	var b strings.Builder
	Markdown(&b, rows)
	out := b.String()
	for _, want := range []string{"| workload | floor | epoll | gnet |", "**4.20 µs** (1.05×)", "240k req/s", "p99 1.5 ms", "9% other threads", "skipped: no reason",
		"**4.00 µs** ±0% · 80k req/s (server 32% busy) · p99",
		"70k req/s (server 63% busy, missed the 80k target)",
		"| fairness/bulk=4x1MiB/probe=1KiB | probe **p50 700 µs** · p99 2.1 ms · bulk 1500 MB/s · 300 µs/MiB ±0% ·",
		"probe **p50 4.6 ms** · p99 9.0 ms · bulk 1450 MB/s · 330 µs/MiB (1.10×)",
		"| udp/size=64/socks=64 | **2.50 µs**/datagram ±0% · 150k datagrams/s · p99 800 µs ·",
		"**2.00 µs**/datagram (0.80×) ±0% · 160k datagrams/s · p99 700 µs · 0.00 allocs · 0% other threads · 0.0 MiB RSS · **3 lost** |",
		"| n/a: this backend serves no datagrams |",
		"| churn/time/conns=16 | **20.00 µs**/conn ±0% · 30k conns/s · p99 900 µs",
		"**30.00 µs**/conn (1.50×) ±0% · 25k conns/s · p99 1.2 ms · 7.00 allocs · 0% other threads · 0.0 MiB RSS · **2 failed** |",
		"| timers/n=100000/spread=100ms | n/a: the floor has no timers | **0.250 µs**/timer ±0% · 1.00 allocs · rounds of 101.5 ms ·",
		"| array/size=256MiB | **3.50 GB/s** · 250 ms/GiB ±0% · round trip p50 150.0 ms · 0.0 allocs/GiB · 0% other threads · peak 257.5 MiB RSS (array + 1.5 MiB) |",
		"**2.10 GB/s** · 400 ms/GiB (1.60×) ±0% · round trip p50 250.0 ms · 4.0 allocs/GiB · 0% other threads · peak 262.0 MiB RSS (array + 6.0 MiB) |",
		"\nArray rows: ", "each byte counted once",
		"\nUDP rows: ", "\nChurn rows: ", "\nTimer rows: ", "\nFairness rows: ", "\nRows with rate=N are paced",
		"| idle/conns=15000 | **0 B**/conn ±0% · after GC 0 B/conn · live heap 0 B/conn · 1.4 MiB RSS with the crowd · 50.00 µs, 0.0 allocs per conn accepted |",
		"**328 B**/conn ±5% · after GC 172 B/conn · live heap 109 B/conn · 17.0 MiB RSS with the crowd",
		"| crowd/size=64/conns=64/idle=15000 | **1.03×** alone · 10.30 µs/req with the crowd, 10.00 alone ±0% · 40k req/s",
		"| echo/size=64/conns=64/loops=2 | n/a: the floor is one thread, one loop | **8.22 µs** ±0% · 54k req/s",
		"| accept/echo/size=64/conns=16 | **12.00 µs**/conn ±0% · 40k conns/s · p99 700 µs",
		"**18.00 µs**/conn (1.50×) ±0% · 35k conns/s · p99 900 µs · 5.00 allocs · 0% other threads · 0.0 MiB RSS · **1 failed** |",
		"\nAccept rows, the accept rate: ", "\nIdle rows: ", "\nCrowd rows: ", "\nRows with loops=N: ", "This machine has "} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

func TestWorkloadNameIsBenchstatStyle(t *testing.T) {
	for _, tc := range []struct {
		w    Workload
		want string
	}{
		{Workload{Protocol: Echo, Size: 16384, Conns: 64}, "echo/size=16384/conns=64"},
		{Workload{Protocol: Echo, Size: 64, Conns: 1000, Rate: 80000}, "echo/size=64/conns=1000/rate=80000"},
		{Workload{Protocol: Echo, Size: 64, Conns: 2, Rate: 2.5}, "echo/size=64/conns=2/rate=2.5"},
		{FairnessWorkload, "fairness/bulk=4x1MiB/probe=1KiB"},
		{Workload{Protocol: Fairness, Size: 100, Conns: 2, Bulk: 256 << 10}, "fairness/bulk=2x256KiB/probe=100B"},
		{UDPWorkload, "udp/size=64/socks=64"},
		{ChurnWorkload, "churn/time/conns=16"},
		{TimersWorkload, "timers/n=100000/spread=100ms"},
		{Workload{Protocol: Timers, Timers: 500, Spread: 1500 * time.Microsecond}, "timers/n=500/spread=1.5ms"},
		{ArrayWorkloads[0], "array/size=64MiB"},
		{ArrayWorkloads[1], "array/size=256MiB"},
		{Workload{Protocol: Array, Size: 3<<20 + 1}, "array/size=3145729B"},
		{Workload{Protocol: Idle, Idle: 15000}, "idle/conns=15000"},
		{AcceptWorkload, "accept/echo/size=64/conns=16"},
		{Workload{Protocol: Crowd, Size: 64, Conns: 64, Idle: 15000}, "crowd/size=64/conns=64/idle=15000"},
		{Workload{Protocol: Echo, Size: 64, Conns: 64, Loops: 2}, "echo/size=64/conns=64/loops=2"},
	} {
		if got := tc.w.Name(); got != tc.want {
			t.Errorf("%+v: Name() = %q, want %q", tc.w, got, tc.want)
		}
	}
}

func TestStatTicks(t *testing.T) {
	for _, tc := range []struct {
		name, line string
		want       int64
		ok         bool
	}{
		{"plain", "4242 (edgeloop) S 1 4242 4242 0 -1 4194560 1013 0 0 0 150 37 0 0 20 0 5 0 1234 0 0", 187, true},
		{"name with spaces and parens", "77 (a) b (c) R 1 77 77 0 -1 0 0 0 0 0 3 4 0 0 20 0 1 0 5", 7, true},
		{"truncated", "77 (x) R 1 2 3", 0, false},
		{"no name", "garbage", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := statTicks(tc.line)
			if got != tc.want || ok != tc.ok {
				t.Errorf("statTicks = %d, %v; want %d, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestOtherThreadsShare(t *testing.T) {
	for _, tc := range []struct {
		name          string
		before, after map[int]int64
		want          float64
	}{
		{"one thread", map[int]int64{1: 10}, map[int]int64{1: 110}, 0},
		{"loop and a helper", map[int]int64{1: 10, 2: 5}, map[int]int64{1: 100, 2: 15}, 0.1},
		{"thread started in the window", map[int]int64{1: 0}, map[int]int64{1: 75, 3: 25}, 0.25},
		{"thread exited in the window", map[int]int64{1: 0, 2: 50}, map[int]int64{1: 80}, 0},
		{"no time counted", map[int]int64{1: 4}, map[int]int64{1: 4}, 0},
		{"no /proc", nil, nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := otherThreadsShare(tc.before, tc.after); got != tc.want {
				t.Errorf("otherThreadsShare = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestWindowNeedsABound(t *testing.T) {
	if _, err := Measure(Floor, DefaultWorkloads[0], Window{Warmup: time.Millisecond}); err == nil {
		t.Fatal("Measure accepted a window with neither a duration nor a request count")
	}
}

func TestChartsDrawTheSaturatedRows(t *testing.T) {
	var rows []Row
	for _, w := range append(slices.Clone(DefaultWorkloads), ExtraWorkloads()...) {
		rows = append(rows, Row{Workload: w.Name(), Cells: []Cell{{Workload: w, Server: Floor, SrvUsReq: 4, ReqPerSec: 1e5}}})
	}
	rows = append(rows, Row{Workload: "legacy", Cells: []Cell{{Server: Floor}}}, Row{Workload: "empty"})
	var got []string
	for _, r := range chartable(rows) {
		got = append(got, r.Workload)
	}
	want := []string{"echo/size=64/conns=64", "echo/size=64/conns=1000", "echo/size=16384/conns=64", "legacy"}
	if !slices.Equal(got, want) {
		t.Errorf("charted rows %q, want %q", got, want)
	}
	if _, err := WriteCharts(t.TempDir(), rows); err != nil {
		t.Fatal(err)
	}
	// A table of rows none of which is charted draws nothing.
	paths, err := WriteCharts(t.TempDir(), rows[len(DefaultWorkloads)-3:len(DefaultWorkloads)])
	if err != nil || len(paths) != 0 {
		t.Errorf("charts of the UDP, churn and timer rows: %q, %v; want none", paths, err)
	}
	// Nor does one of issue 11's rows: idle, crowd, accept and loops=N.
	n := len(DefaultWorkloads)
	paths, err = WriteCharts(t.TempDir(), rows[n:n+len(ExtraWorkloads())])
	if err != nil || len(paths) != 0 {
		t.Errorf("charts of the idle, crowd, accept and scaling rows: %q, %v; want none", paths, err)
	}
}

// TestMarkdownExplainsOnlyItsRows: the lines under the table explain the
// kinds of row it has, and no others.
func TestMarkdownExplainsOnlyItsRows(t *testing.T) {
	rows := []Row{{Workload: "echo/size=64/conns=64", Cells: []Cell{
		{Workload: Workload{Protocol: Echo, Size: 64, Conns: 64}, Server: Floor, SrvUsReq: 4, ReqPerSec: 250000},
	}}}
	var b strings.Builder
	Markdown(&b, rows)
	for _, unwanted := range []string{"paced", "Fairness rows", "UDP rows", "Churn rows", "Timer rows", "Array rows", "Accept rows", "Idle rows", "Crowd rows", "loops=N"} {
		if strings.Contains(b.String(), unwanted) {
			t.Errorf("a table of saturated echo explains %q:\n%s", unwanted, &b)
		}
	}
	if !strings.Contains(b.String(), "\nEach cell: ") {
		t.Errorf("table lacks the line that explains a cell:\n%s", &b)
	}
}

func TestScalingLoops(t *testing.T) {
	loops := ScalingLoops()
	if len(loops) != min(runtime.NumCPU(), MaxScalingLoops) || loops[0] != 1 || loops[len(loops)-1] != len(loops) {
		t.Errorf("ScalingLoops() = %v on %d CPUs, want 1 to min(CPUs, %d)", loops, runtime.NumCPU(), MaxScalingLoops)
	}
}
