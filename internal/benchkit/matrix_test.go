package benchkit

import (
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

func TestMarkdownTable(t *testing.T) {
	rows := []Row{{Workload: "echo/size=64/conns=64", Cells: []Cell{
		{Server: Floor, SrvUsReq: 4, ReqPerSec: 250000, P99us: 500},
		{Server: "epoll", SrvUsReq: 4.2, XFloor: 1.05, ReqPerSec: 240000, P99us: 1500},
		{Server: "gnet", Skipped: "no reason"},
	}}}
	var b strings.Builder
	Markdown(&b, rows)
	out := b.String()
	for _, want := range []string{"| workload | floor | epoll | gnet |", "**4.20 µs** (1.05×)", "240k req/s", "p99 1.5 ms", "skipped: no reason"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

func TestWorkloadNameIsBenchstatStyle(t *testing.T) {
	if got := (Workload{Protocol: "echo", Size: 16384, Conns: 64}).Name(); got != "echo/size=16384/conns=64" {
		t.Errorf("Name() = %q", got)
	}
}

func TestWindowNeedsABound(t *testing.T) {
	if _, err := Measure(Floor, DefaultWorkloads[0], Window{Warmup: time.Millisecond}); err == nil {
		t.Fatal("Measure accepted a window with neither a duration nor a request count")
	}
}
