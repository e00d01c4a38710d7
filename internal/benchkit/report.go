package benchkit

import (
	"encoding/json"
	"fmt"
	"image/color"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Markdown writes the table: one row per workload, one column per server,
// each cell "CPU µs per request (× floor) · requests/s · p99 · ..."; a
// fairness row's cells lead with the probe's round trip instead, the UDP,
// churn and timer rows count datagrams, connections and timers, and the
// array rows lead with GB/s and count per GiB. Under the table, a line
// explains each kind of row it holds.
func Markdown(w io.Writer, rows []Row) {
	if len(rows) == 0 {
		return
	}
	fmt.Fprint(w, "| workload |")
	for _, c := range rows[0].Cells {
		fmt.Fprintf(w, " %s |", c.Server)
	}
	fmt.Fprint(w, "\n|---|")
	for range rows[0].Cells {
		fmt.Fprint(w, "---|")
	}
	fmt.Fprintln(w)
	kinds := map[string]bool{}
	for _, r := range rows {
		fmt.Fprintf(w, "| %s |", r.Workload)
		for _, c := range r.Cells {
			fmt.Fprintf(w, " %s |", cellText(c))
			kinds[c.Workload.Protocol] = true
			if c.Workload.Rate > 0 {
				kinds["paced"] = true
			}
			if c.Workload.Loops > 0 {
				kinds["loops"] = true
			}
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w, "\nEach cell: server CPU per request (user+sys, median of the repetitions; × the floor's in the same run; ± the spread, max-min over median), requests per second, p99 round trip, server heap allocations per request, the share of the server's CPU time on threads other than its busiest (the loop's; from /proc/PID/task/*/stat, in 10 ms ticks), server RSS.")
	if kinds["paced"] {
		fmt.Fprintln(w, "Rows with rate=N are paced: the load generator sends N requests per second in all, spread over the connections, so the server is not saturated; their cells add how busy the server was (CPU time over wall time) and flag a rate that was not met.")
	}
	if kinds[Fairness] {
		fmt.Fprintln(w, "Fairness rows: one server loop, bulk peers each echoing their message at full speed (write it, read it back, repeat) and a probe echoing its message every millisecond from a process of its own (C, real-time priority): the probe's median and p99 round trip, the bulk peers' echoed MB/s in all, server CPU per MiB echoed to them (× the floor's).")
	}
	if kinds[UDP] {
		fmt.Fprintf(w, "UDP rows: UDP echo; socks=N client sockets (connected, on the load generator's loop) each keep one datagram of the size in flight and send the next when its echo is back: server CPU per datagram echoed (× the floor's: a C loop of one recvfrom and one sendto per datagram), datagrams per second, p99 round trip. A datagram not back in %v is counted lost and sent again; a cell says how many were, over all repetitions. n/a: the backend serves no datagrams.\n", lossTimeout)
	}
	if kinds[Churn] {
		fmt.Fprintln(w, "Churn rows: the TCP time service (RFC 868); conns=N clients at a time each connect, read the 4 bytes until the server closes, reset the connection (SO_LINGER 0, so that no TIME_WAIT piles up) and connect again: server CPU per connection, accept to close (× the floor's: a C accept, write, close loop), connections per second, p99 from the dial to the server's close. A cell says how many connections failed, if any.")
	}
	if kinds[Accept] {
		fmt.Fprintln(w, "Accept rows, the accept rate: TCP echo; conns=N clients at a time each connect, echo one message of the size, reset the connection (SO_LINGER 0: the server reads its peer's end, and no TIME_WAIT piles up) and connect again: server CPU per connection, accept to the peer's close (× the floor's: the C epoll echo server), connections per second, p99 from the dial to the echo. Unlike churn, the server reads a request and registers the connection with its poller on the floor too, and the peer closes. A cell says how many connections failed, if any.")
	}
	if kinds[Timers] {
		fmt.Fprintln(w, "Timer rows: no load; the server arms n=N timers with deadlines spread over the span (Loop.AfterFunc; on the native loop armed on the loop goroutine, on gnet and net runtime timers) and waits until all have fired, round after round until the window ends: server CPU and heap allocations per timer, and the median round from the first timer armed to the last fired (the spread plus how late the last one was). The floor has no timers: n/a.")
	}
	if kinds[Idle] {
		fmt.Fprintf(w, "Idle rows: TCP echo; conns=N connections (from %d source addresses, 127.0.0.2 and up) each echo one %d B message and then stay open, doing nothing: the server's RSS grown per idle connection, in bytes, once the RSS is steady, then after the server ran a GC and returned free memory to the OS (debug.FreeOSMemory; RSS otherwise keeps the heap's peak, garbage included), and its live Go heap grown per connection after that GC; the baseline is read after a GC with one connection open. The server's socket buffers are kernel memory, not in its RSS: the floor (a C epoll echo server) shows the rest is about 0. Then the server's RSS with the crowd, and its CPU per connection accepted and served while the crowd came.\n", idleSources, idleMsgSize)
	}
	if kinds[Crowd] {
		fmt.Fprintln(w, "Crowd rows: in one server process, conns=N connections ping-pong 64 B messages alone for a window and leave; then idle=M idle connections come (each echoes one message), and N new connections ping-pong beside them for another window: the ratio of server CPU per request with the crowd to without (median of each repetition's ratio; the issue's goal is at most 1.10×), the two figures, then the crowd window's requests per second, p99, allocations and RSS.")
	}
	if kinds["loops"] {
		fmt.Fprintf(w, "Rows with loops=N: the server runs N event loops with GOMAXPROCS=N, pinned to CPUs 0..N-1 (as many as there are); the load generator, one loop, stays on CPUs 1 and up, so for N > 1 it shares the server's CPUs 1..N-1. This machine has %d CPUs (runtime.NumCPU). The floor is one thread: n/a for N > 1.\n", runtime.NumCPU())
	}
	if kinds[Array] {
		fmt.Fprintln(w, "Array rows: the NPY round-trip service (protocols/array); one client connection (a blocking Go net.Conn) writes a 1-d |u1 array of the size and reads its echo, again and again, each round trip timed, the window starting and ending between round trips: GB/s is array data round-tripped per second, each byte counted once though it crosses the socket twice (10^9 bytes; the NPY header not counted), then server CPU per GiB round-tripped (received and sent back; × the floor's: a C server of blocking recv and writev into one buffer reused for every array), the median round trip, server heap allocations per GiB, and the server's peak RSS over its life (VmHWM: a fresh server per cell, read after the window) as the array's size plus the rest.")
	}
}

// cellText is one cell of the table.
func cellText(c Cell) string {
	switch {
	case c.Skipped != "":
		return "skipped: " + c.Skipped
	case c.Unsupported != "":
		return "n/a: " + c.Unsupported
	}
	x := ""
	if c.XFloor > 0 && c.Server != Floor {
		x = fmt.Sprintf(" (%.2f×)", c.XFloor)
	}
	switch c.Workload.Protocol {
	case Fairness:
		return fmt.Sprintf("probe **p50 %s** · p99 %s · bulk %.0f MB/s · %.0f µs/MiB%s ±%.0f%% · %.0f%% other threads · %s",
			micros(c.P50us), micros(c.P99us), c.MBps, c.SrvUsReq, x, 100*c.Spread, c.OtherThreadsPct, kib(c.RSSKB))
	case UDP:
		return fmt.Sprintf("**%.2f µs**/datagram%s ±%.0f%% · %s datagrams/s · p99 %s · %.2f allocs · %.0f%% other threads · %s%s",
			c.SrvUsReq, x, 100*c.Spread, si(c.ReqPerSec), micros(c.P99us), c.AllocsReq, c.OtherThreadsPct, kib(c.RSSKB), count(c.Lost, "lost"))
	case Churn, Accept:
		return fmt.Sprintf("**%.2f µs**/conn%s ±%.0f%% · %s conns/s · p99 %s · %.2f allocs · %.0f%% other threads · %s%s",
			c.SrvUsReq, x, 100*c.Spread, si(c.ReqPerSec), micros(c.P99us), c.AllocsReq, c.OtherThreadsPct, kib(c.RSSKB), count(c.Lost, "failed"))
	case Array:
		return fmt.Sprintf("**%.2f GB/s** · %.0f ms/GiB%s ±%.0f%% · round trip p50 %s · %.1f allocs/GiB · %.0f%% other threads · peak %s (array + %s)",
			c.MBps/1e3, c.SrvUsReq/1e3, x, 100*c.Spread, micros(c.P50us), c.AllocsReq, c.OtherThreadsPct, kib(c.PeakRSSKB), mib(c.PeakRSSKB*1024-int64(c.Workload.Size)))
	case Idle:
		return fmt.Sprintf("**%.0f B**/conn ±%.0f%% · after GC %.0f B/conn · live heap %.0f B/conn · %s with the crowd · %.2f µs, %.1f allocs per conn accepted",
			c.IdleB, 100*c.Spread, c.IdleGCB, c.HeapB, kib(c.RSSKB), c.SrvUsReq, c.AllocsReq)
	case Crowd:
		return fmt.Sprintf("**%.2f×** alone · %.2f µs/req with the crowd, %.2f alone ±%.0f%% · %s req/s · p99 %s · %.2f allocs · %s",
			c.CrowdX, c.SrvUsReq, c.AloneUsReq, 100*c.Spread, si(c.ReqPerSec), micros(c.P99us), c.AllocsReq, kib(c.RSSKB))
	case Timers:
		return fmt.Sprintf("**%.3f µs**/timer%s ±%.0f%% · %.2f allocs · rounds of %s · %.0f%% other threads · %s",
			c.SrvUsReq, x, 100*c.Spread, c.AllocsReq, micros(c.RoundUs), c.OtherThreadsPct, kib(c.RSSKB))
	}
	return fmt.Sprintf("**%.2f µs**%s ±%.0f%% · %s req/s%s · p99 %s · %.2f allocs · %.0f%% other threads · %s",
		c.SrvUsReq, x, 100*c.Spread, si(c.ReqPerSec), paced(c), micros(c.P99us), c.AllocsReq, c.OtherThreadsPct, kib(c.RSSKB))
}

// count says " · N what" for a count of losses or failures, or nothing for
// none.
func count(n int64, what string) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf(" · **%d %s**", n, what)
}

// paced says, for a paced cell, how busy the server was (its CPU time over
// the window's) and whether the load met the target rate. A missed rate
// means the server, or the load generator with one request out per
// connection, could not keep up: the row is not the partial load it names.
func paced(c Cell) string {
	if c.Workload.Rate <= 0 {
		return ""
	}
	s := fmt.Sprintf(" (server %.0f%% busy", c.SrvUsReq*c.ReqPerSec/1e4)
	if c.ReqPerSec < 0.95*c.Workload.Rate {
		s += ", missed the " + si(c.Workload.Rate) + " target"
	}
	return s + ")"
}

// chartable keeps the rows the charts draw: the saturated TCP echo ones. A
// paced row's req/s is its target, the same for every server by design; a
// fairness row counts per MiB and times a probe; and the UDP, churn, timer
// and array rows count other things, at other scales (a connection costs
// several requests' CPU, a timer a fraction of one, an array millions):
// all stay in the table, as do the scaling rows (loops=N), which compare
// loop counts rather than servers. A row whose cells do not say their
// workload is kept.
func chartable(rows []Row) []Row {
	return slices.DeleteFunc(slices.Clone(rows), func(r Row) bool {
		if len(r.Cells) == 0 {
			return true
		}
		w := r.Cells[0].Workload
		return (w.Protocol != Echo && w.Protocol != "") || w.Rate > 0 || w.Loops > 0
	})
}

func si(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.0fk", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}

func micros(us float64) string {
	if us >= 1000 {
		return fmt.Sprintf("%.1f ms", us/1000)
	}
	return fmt.Sprintf("%.0f µs", us)
}

func kib(kb int64) string { return fmt.Sprintf("%.1f MiB RSS", float64(kb)/1024) }

// mib writes a byte count in MiB.
func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// Meta describes where and how the results were measured.
type Meta struct {
	Command   string `json:"command"`
	CPU       string `json:"cpu"`
	CPUs      int    `json:"cpus"`
	GoVersion string `json:"go_version"`
	Pinned    string `json:"pinned"`
	Date      string `json:"date"`
	Duration  string `json:"window"`
	Reps      int    `json:"reps"`
}

// WriteJSON writes results.json.
func WriteJSON(path string, meta Meta, rows []Row) error {
	b, err := json.MarshalIndent(struct {
		Meta Meta  `json:"meta"`
		Rows []Row `json:"rows"`
	}{meta, rows}, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// Chart sizes, and the margin around the plot and its legend.
const (
	chartWidth  = 8 * vg.Inch
	chartHeight = 4 * vg.Inch
	chartMargin = 6 * vg.Millimeter
)

// chart is one of the charts that WriteCharts draws: a bar per server and
// workload at the median of the repetitions, with whiskers from the lowest
// to the highest repetition.
type chart struct {
	file, title, ylabel string
	median              func(Cell) float64
	sample              func(Sample) float64
}

var charts = []chart{
	{"cpu.svg", "Server CPU per request (lower is better)", "µs per request",
		func(c Cell) float64 { return c.SrvUsReq }, func(s Sample) float64 { return s.SrvUsReq }},
	{"throughput.svg", "Requests per second (higher is better)", "requests/s",
		func(c Cell) float64 { return c.ReqPerSec }, func(s Sample) float64 { return s.ReqPerSec }},
}

// WriteCharts draws two grouped bar charts into dir: cpu.svg (server CPU per
// request, with the floor) and throughput.svg (requests per second), of the
// saturated rows (chartable). Each bar is the median of the repetitions; its
// whisker spans the lowest to the highest repetition. It returns the paths
// it wrote: none when no row is chartable.
func WriteCharts(dir string, rows []Row) ([]string, error) {
	rows = chartable(rows)
	if len(rows) == 0 {
		return nil, nil
	}
	var paths []string
	for _, ch := range charts {
		path := filepath.Join(dir, ch.file)
		if err := saveChart(path, ch, rows); err != nil {
			return paths, err
		}
		paths = append(paths, path)
	}
	return paths, nil
}

// saveChart draws ch to path, in the format its extension names (.svg,
// .png, ...).
func saveChart(path string, ch chart, rows []Row) error {
	c, err := draw.NewFormattedCanvas(chartWidth, chartHeight, strings.TrimPrefix(filepath.Ext(path), "."))
	if err != nil {
		return err
	}
	if _, err := layoutChart(ch, rows, draw.New(c)); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := c.WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// chartLayout is where layoutChart put things, for tests.
type chartLayout struct {
	plot   *plot.Plot
	area   draw.Canvas // the plot: title, axes and data
	data   draw.Canvas // the plot's data area
	legend vg.Rectangle
}

// layoutChart draws ch on c: the plot on the left, the legend in a column
// of its own on the right, where it cannot cover a bar.
func layoutChart(ch chart, rows []Row, c draw.Canvas) (chartLayout, error) {
	c = draw.Crop(c, chartMargin, -chartMargin, chartMargin, -chartMargin)
	p := plot.New()
	p.Title.Text = ch.title
	p.Title.Padding = 2 * vg.Millimeter
	p.Y.Label.Text = ch.ylabel
	p.X.Label.Text = spreadNote(rows)
	names := make([]string, len(rows))
	for i, r := range rows {
		names[i] = strings.TrimPrefix(r.Workload, "echo/")
	}
	p.NominalX(names...)
	// Each workload gets a full unit of the X axis, so the first and last
	// labels are as wide as the others (NominalX alone pads only the first).
	p.X.Min, p.X.Max = -0.5, float64(len(rows))-0.5
	p.Y.Padding = 0

	legend := plot.NewLegend()
	legend.Top, legend.Left = true, true
	servers := rows[0].Cells
	var bars []*plotter.BarChart
	var marks []*whiskers
	for si, s := range servers {
		vals := make(plotter.Values, len(rows))
		w := &whiskers{lo: make([]float64, len(rows)), hi: make([]float64, len(rows))}
		w.style = draw.LineStyle{Color: color.Black, Width: vg.Points(0.8)}
		for ri, r := range rows {
			vals[ri] = ch.median(r.Cells[si])
			w.lo[ri], w.hi[ri] = spread(r.Cells[si], ch.sample)
		}
		b, err := plotter.NewBarChart(vals, 1)
		if err != nil {
			return chartLayout{}, err
		}
		b.LineStyle.Width = 0
		b.Color = plotutil.Color(si)
		p.Add(b, w)
		legend.Add(s.Server, b)
		bars, marks = append(bars, b), append(marks, w)
	}

	p.Y.Max *= 1.05 // room above the highest whisker
	legendWidth := legend.Rectangle(c).Size().X + 4*vg.Millimeter
	area := draw.Crop(c, 0, -legendWidth, 0, 0)
	data := p.DataCanvas(area)
	// The bars of one workload fill 3/4 of its unit, side by side, each at
	// most half an inch wide.
	unit := data.Size().X / vg.Length(len(rows))
	width := min(unit*3/4/vg.Length(len(servers)), vg.Inch/2)
	for si := range bars {
		off := width * vg.Length(float64(si)-float64(len(servers)-1)/2)
		bars[si].Width, bars[si].Offset = width, off
		marks[si].offset, marks[si].cap = off, width/4
	}
	p.Draw(area)
	data = p.DataCanvas(area) // as drawn
	lc := draw.Crop(c, c.Size().X-legendWidth+4*vg.Millimeter, 0, 0, 0)
	lc.Max.Y = data.Max.Y // level with the top of the data area
	legend.Draw(lc)
	return chartLayout{plot: p, area: area, data: data, legend: legend.Rectangle(lc)}, nil
}

// spreadNote says what the bars and whiskers mean.
func spreadNote(rows []Row) string {
	n := 0
	for _, r := range rows {
		for _, c := range r.Cells {
			n = max(n, len(c.Samples))
		}
	}
	if n < 2 {
		return "one repetition: no spread measured"
	}
	return fmt.Sprintf("bars: median of %d repetitions; whiskers: lowest to highest", n)
}

// spread returns the lowest and highest of f over c's repetitions (0, 0
// for a cell without samples).
func spread(c Cell, f func(Sample) float64) (lo, hi float64) {
	for i, s := range c.Samples {
		v := f(s)
		if i == 0 {
			lo, hi = v, v
		}
		lo, hi = min(lo, v), max(hi, v)
	}
	return lo, hi
}

// whiskers draws, for each workload i, a vertical line from lo[i] to hi[i]
// with a cap at each end, at x = i shifted by offset, the offset of the bar
// it belongs to. A whisker whose ends meet (one repetition) is not drawn.
type whiskers struct {
	lo, hi      []float64
	offset, cap vg.Length
	style       draw.LineStyle
}

// Plot implements plot.Plotter.
func (w *whiskers) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	for i := range w.lo {
		if w.lo[i] == w.hi[i] {
			continue
		}
		x, lo, hi := trX(float64(i))+w.offset, trY(w.lo[i]), trY(w.hi[i])
		c.StrokeLine2(w.style, x, lo, x, hi)
		c.StrokeLine2(w.style, x-w.cap, lo, x+w.cap, lo)
		c.StrokeLine2(w.style, x-w.cap, hi, x+w.cap, hi)
	}
}

// DataRange implements plot.DataRanger, so that the Y axis reaches the
// highest whisker.
func (w *whiskers) DataRange() (xmin, xmax, ymin, ymax float64) {
	ymin, ymax = math.Inf(1), math.Inf(-1)
	for i := range w.lo {
		ymin, ymax = min(ymin, w.lo[i]), max(ymax, w.hi[i])
	}
	return 0, float64(len(w.lo) - 1), ymin, ymax
}
