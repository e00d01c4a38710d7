package benchkit

import (
	"image/color"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/recorder"
)

// chartRows is a full table, the shape of the README's: five servers, the
// three default workloads (the last with the longest label), three
// repetitions per cell with some spread.
func chartRows() []Row {
	servers := []string{Floor, "epoll", "gnet", "gnetpoll", "net"}
	var rows []Row
	for wi, w := range DefaultWorkloads {
		if w.Protocol != Echo || w.Rate > 0 {
			continue // only the saturated rows are charted
		}
		row := Row{Workload: w.Name()}
		for si, srv := range servers {
			base := 3 + float64(wi) + float64(si)/2
			var ss []Sample
			for _, f := range []float64{1, 0.9, 1.2} {
				ss = append(ss, Sample{SrvUsReq: base * f, ReqPerSec: 3e5 / (base * f)})
			}
			row.Cells = append(row.Cells, aggregate(w, srv, ss))
		}
		rows = append(rows, row)
	}
	return rows
}

// drawChart lays out ch on a recording canvas of the real size.
func drawChart(t *testing.T, ch chart, rows []Row) (*recorder.Canvas, chartLayout) {
	t.Helper()
	rec := new(recorder.Canvas)
	l, err := layoutChart(ch, rows, draw.NewCanvas(rec, chartWidth, chartHeight))
	if err != nil {
		t.Fatal(err)
	}
	return rec, l
}

func TestChartLegendDoesNotCoverTheBars(t *testing.T) {
	for _, ch := range charts {
		_, l := drawChart(t, ch, chartRows())
		if l.legend.Min.X < l.data.Max.X {
			t.Errorf("%s: legend starts at x=%v, inside the data area (up to x=%v)", ch.file, l.legend.Min.X, l.data.Max.X)
		}
		if l.legend.Max.X > chartWidth {
			t.Errorf("%s: legend ends at x=%v, past the chart's width %v", ch.file, l.legend.Max.X, chartWidth)
		}
	}
}

// fontSlack is how much wider than Liberation Serif's metrics a label may
// render: an SVG names its font, and a viewer without Liberation Serif
// substitutes another (DejaVu Serif is about a fifth wider).
const fontSlack = 1.3

// TestChartLastLabelNotCutOff: "size=16384/conns=64" used to end exactly at
// the chart's right edge, so any wider substitute font cut it off.
func TestChartLastLabelNotCutOff(t *testing.T) {
	for _, ch := range charts {
		rows := chartRows()
		_, l := drawChart(t, ch, rows)
		trX, _ := l.plot.Transforms(&l.data)
		for i, r := range rows {
			name := strings.TrimPrefix(r.Workload, "echo/")
			half := l.plot.X.Tick.Label.Width(name) * fontSlack / 2
			if lo, hi := trX(float64(i))-half, trX(float64(i))+half; lo < l.area.Min.X || hi > l.area.Max.X {
				t.Errorf("%s: label %q, %v wider, spans x=%v..%v, outside the plot's %v..%v",
					ch.file, name, fontSlack, lo, hi, l.area.Min.X, l.area.Max.X)
			}
		}
	}
}

// TestChartWhiskersSpanTheRepetitions: each cell with more than one
// repetition has a whisker from its lowest to its highest, in the order of
// the bars, with a cap at each end; a cell with one repetition has none.
func TestChartWhiskersSpanTheRepetitions(t *testing.T) {
	for _, ch := range charts {
		rows := chartRows()
		rows[1].Cells[2].Samples = rows[1].Cells[2].Samples[:1] // no spread to draw
		rec, l := drawChart(t, ch, rows)
		_, trY := l.plot.Transforms(&l.data)
		type span struct{ x, lo, hi vg.Length }
		var want []span
		for _, r := range rows {
			for _, c := range r.Cells {
				if len(c.Samples) < 2 {
					continue
				}
				lo, hi := math.Inf(1), math.Inf(-1)
				for _, s := range c.Samples {
					lo, hi = min(lo, ch.sample(s)), max(hi, ch.sample(s))
				}
				want = append(want, span{lo: min(trY(lo), trY(hi)), hi: max(trY(lo), trY(hi))})
			}
		}
		// Whiskers and their caps are the black single lines drawn inside
		// the data area (the axes lie on its edges).
		var got []span
		caps := 0
		var col color.Color
		for _, a := range rec.Actions {
			switch a := a.(type) {
			case *recorder.SetColor:
				col = a.Color
			case *recorder.Stroke:
				if len(a.Path) != 2 || col != color.Black {
					continue
				}
				p0, p1 := a.Path[0].Pos, a.Path[1].Pos
				inside := func(p vg.Point) bool { return p.X > l.data.Min.X+1 && p.X < l.data.Max.X-1 }
				switch {
				case !inside(p0) || !inside(p1):
				case p0.X == p1.X:
					got = append(got, span{x: p0.X, lo: min(p0.Y, p1.Y), hi: max(p0.Y, p1.Y)})
				case p0.Y == p1.Y:
					caps++
				}
			}
		}
		slices.SortFunc(got, func(a, b span) int { return int(a.x - b.x) })
		if len(got) != len(want) || caps != 2*len(want) {
			t.Fatalf("%s: %d whiskers and %d caps, want %d and %d (one per cell with more than one repetition)",
				ch.file, len(got), caps, len(want), 2*len(want))
		}
		for i := range want {
			if math.Abs(float64(got[i].lo-want[i].lo)) > 0.01 || math.Abs(float64(got[i].hi-want[i].hi)) > 0.01 {
				t.Errorf("%s: whisker %d spans y=%v..%v, want %v..%v", ch.file, i, got[i].lo, got[i].hi, want[i].lo, want[i].hi)
			}
		}
	}
}

func TestWriteCharts(t *testing.T) {
	dir := t.TempDir()
	paths, err := WriteCharts(dir, chartRows())
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) != len(charts) {
		t.Errorf("WriteCharts says it wrote %q, want the %d charts", paths, len(charts))
	}
	for _, ch := range charts {
		b, err := os.ReadFile(filepath.Join(dir, ch.file))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(b), "<?xml") || !strings.Contains(string(b), "whiskers: lowest to highest") {
			t.Errorf("%s is not the SVG chart with its note:\n%.300s", ch.file, b)
		}
	}
}
