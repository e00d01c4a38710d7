package benchkit

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// Markdown writes the table: one row per workload, one column per server,
// each cell "CPU µs per request (× floor) · requests/s · p99 · ..."; a
// fairness row's cells lead with the probe's round trip instead.
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
	for _, r := range rows {
		fmt.Fprintf(w, "| %s |", r.Workload)
		for _, c := range r.Cells {
			if c.Skipped != "" {
				fmt.Fprintf(w, " skipped: %s |", c.Skipped)
				continue
			}
			x := ""
			if c.XFloor > 0 && c.Server != Floor {
				x = fmt.Sprintf(" (%.2f×)", c.XFloor)
			}
			if c.Workload.Protocol == Fairness {
				fmt.Fprintf(w, " probe **p50 %s** · p99 %s · bulk %.0f MB/s · %.0f µs/MiB%s ±%.0f%% · %.0f%% other threads · %s |",
					micros(c.P50us), micros(c.P99us), c.MBps, c.SrvUsReq, x, 100*c.Spread, c.OtherThreadsPct, kib(c.RSSKB))
				continue
			}
			fmt.Fprintf(w, " **%.2f µs**%s ±%.0f%% · %s req/s%s · p99 %s · %.2f allocs · %.0f%% other threads · %s |",
				c.SrvUsReq, x, 100*c.Spread, si(c.ReqPerSec), paced(c), micros(c.P99us), c.AllocsReq, c.OtherThreadsPct, kib(c.RSSKB))
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w, "\nEach cell: server CPU per request (user+sys, median of the repetitions; × the floor's in the same run; ± the spread, max-min over median), requests per second, p99 round trip, server heap allocations per request, the share of the server's CPU time on threads other than its busiest (the loop's; from /proc/PID/task/*/stat, in 10 ms ticks), server RSS.")
	fmt.Fprintln(w, "Rows with rate=N are paced: the load generator sends N requests per second in all, spread over the connections, so the server is not saturated; their cells add how busy the server was (CPU time over wall time) and flag a rate that was not met.")
	fmt.Fprintln(w, "Fairness rows: one server loop, bulk peers each echoing their message at full speed (write it, read it back, repeat) and one probe connection echoing its own, one at a time: the probe's median and p99 round trip, the bulk peers' echoed MB/s in all, server CPU per MiB echoed to them (× the floor's).")
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

// chartable keeps the rows the charts draw: the saturated ones. A paced
// row's req/s is its target, the same for every server by design, and a
// fairness row counts per MiB and times a probe; both stay in the table.
// A row whose cells do not say their workload is kept.
func chartable(rows []Row) []Row {
	return slices.DeleteFunc(slices.Clone(rows), func(r Row) bool {
		if len(r.Cells) == 0 {
			return true
		}
		w := r.Cells[0].Workload
		return w.Protocol == Fairness || w.Rate > 0
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

// WriteCharts draws two grouped bar charts into dir: cpu.svg (server CPU per
// request, with the floor) and throughput.svg (requests per second), of the
// saturated rows (chartable).
func WriteCharts(dir string, rows []Row) error {
	rows = chartable(rows)
	if len(rows) == 0 {
		return nil
	}
	charts := []struct {
		file, title, ylabel string
		value               func(Cell) float64
	}{
		{"cpu.svg", "Server CPU per request (lower is better)", "µs per request", func(c Cell) float64 { return c.SrvUsReq }},
		{"throughput.svg", "Requests per second (higher is better)", "requests/s", func(c Cell) float64 { return c.ReqPerSec }},
	}
	for _, ch := range charts {
		p := plot.New()
		p.Title.Text = ch.title
		p.Y.Label.Text = ch.ylabel
		names := make([]string, len(rows))
		for i, r := range rows {
			names[i] = strings.TrimPrefix(r.Workload, "echo/")
		}
		servers := rows[0].Cells
		width := vg.Points(60 / float64(len(servers)))
		for si, s := range servers {
			vals := make(plotter.Values, len(rows))
			for ri, r := range rows {
				vals[ri] = ch.value(r.Cells[si])
			}
			bars, err := plotter.NewBarChart(vals, width)
			if err != nil {
				return err
			}
			bars.LineStyle.Width = 0
			bars.Color = plotutil.Color(si)
			bars.Offset = width * vg.Length(float64(si)-float64(len(servers)-1)/2)
			p.Add(bars)
			p.Legend.Add(s.Server, bars)
		}
		p.Legend.Top = true
		p.NominalX(names...)
		if err := p.Save(8*vg.Inch, 4*vg.Inch, filepath.Join(dir, ch.file)); err != nil {
			return err
		}
	}
	return nil
}
