package benchkit

import (
	"errors"
	"fmt"
	"slices"
	"sort"
)

// Config is one benchmark run.
type Config struct {
	Servers   []string   // backends to measure; the floor is added first unless NoFloor
	Workloads []Workload // table rows
	Window    Window     // per cell
	Reps      int        // interleaved repetitions (A B C A B C ...)
	NoFloor   bool
	// Progress, if set, is called before each cell.
	Progress func(done, total int, w Workload, server string)
}

// Cell is the aggregate of one server on one workload over the repetitions.
// For Fairness, UDP, Churn, Timers and Array rows the fields mean what
// Sample's do: for Fairness, probe latencies, bulk MB/s, server figures per
// MiB; for UDP, per datagram; for Churn, per connection; for Timers, per
// timer; for Array, per GiB of array data round-tripped, with MBps the
// array bytes round-tripped per second.
type Cell struct {
	Workload Workload `json:"-"`
	Server   string   `json:"server"`
	Samples  []Sample `json:"-"`
	// Medians over the repetitions.
	ReqPerSec float64 `json:"req_per_sec"`
	SrvUsReq  float64 `json:"srv_us_per_req"`
	XFloor    float64 `json:"x_floor,omitempty"` // SrvUsReq / the floor's; 0 when no floor
	AllocsReq float64 `json:"srv_allocs_per_req"`
	MBps      float64 `json:"mb_per_sec"`
	P50us     float64 `json:"p50_us"`
	P99us     float64 `json:"p99_us"`
	P999us    float64 `json:"p999_us"`
	RSSKB     int64   `json:"srv_rss_kb"`
	// PeakRSSKB is the median of the servers' peak RSS over their lives
	// (VmHWM), a fresh server per repetition.
	PeakRSSKB int64 `json:"srv_peak_rss_kb,omitempty"`
	// OtherThreadsPct is the share of the server's CPU time on threads other
	// than its busiest, in per cent.
	OtherThreadsPct float64 `json:"srv_other_threads_pct"`
	// Spread is (max-min)/median of SrvUsReq over the repetitions.
	Spread float64 `json:"srv_us_spread"`
	// Lost is, over all the repetitions, the UDP datagrams counted lost
	// (and sent again) or the Churn connections that failed.
	Lost int64 `json:"lost,omitempty"`
	// RoundUs is, for Timers, the median of the repetitions' median round,
	// from the first timer armed to the last fired.
	RoundUs float64 `json:"round_us,omitempty"`
	// Idle rows: the medians of Sample's IdleB, IdleGCB and HeapB, bytes
	// per idle connection.
	IdleB   float64 `json:"idle_rss_bytes_per_conn,omitempty"`
	IdleGCB float64 `json:"idle_rss_bytes_per_conn_after_gc,omitempty"`
	HeapB   float64 `json:"idle_heap_bytes_per_conn,omitempty"`
	// Crowd rows: the median of the alone windows' server CPU per request,
	// and the median over the repetitions of each one's ratio, crowd over
	// alone (the goal: at most 1.1).
	AloneUsReq float64 `json:"alone_srv_us_per_req,omitempty"`
	CrowdX     float64 `json:"crowd_x_alone,omitempty"`
	Skipped    string  `json:"skipped,omitempty"`
	// Unsupported says why the server cannot run the workload at all (a
	// backend without datagrams, the floor's timers); the cell has no
	// figures.
	Unsupported string `json:"unsupported,omitempty"`
}

// Row is one workload with a cell per server.
type Row struct {
	Workload string `json:"workload"`
	Cells    []Cell `json:"cells"`
}

// RunMatrix measures every server on every workload, interleaving the
// servers within each repetition so that drift on a shared machine hits
// them all alike.
func RunMatrix(cfg Config) ([]Row, error) {
	servers := slices.Clone(cfg.Servers)
	if !cfg.NoFloor && !slices.Contains(servers, Floor) {
		servers = append([]string{Floor}, servers...)
	}
	if cfg.Reps < 1 {
		cfg.Reps = 1
	}
	samples := map[string]map[string][]Sample{} // workload -> server -> samples
	skipped := map[string]string{}
	unsupported := map[[2]string]string{} // {workload, server} -> why
	total, done := cfg.Reps*len(cfg.Workloads)*len(servers), 0
	for rep := 0; rep < cfg.Reps; rep++ {
		for _, w := range cfg.Workloads {
			for _, srv := range servers {
				if cfg.Progress != nil {
					cfg.Progress(done, total, w, srv)
				}
				done++
				if _, ok := skipped[srv]; ok {
					continue
				}
				if _, ok := unsupported[[2]string{w.Name(), srv}]; ok {
					continue
				}
				s, err := Measure(srv, w, cfg.Window)
				if err == ErrNoCompiler {
					skipped[srv] = err.Error()
					continue
				}
				var ue *unsupportedError
				if errors.As(err, &ue) {
					unsupported[[2]string{w.Name(), srv}] = ue.why
					continue
				}
				if err != nil {
					return nil, fmt.Errorf("%s on %s: %w", srv, w.Name(), err)
				}
				if samples[w.Name()] == nil {
					samples[w.Name()] = map[string][]Sample{}
				}
				samples[w.Name()][srv] = append(samples[w.Name()][srv], s)
			}
		}
	}
	if cfg.Progress != nil {
		cfg.Progress(total, total, Workload{}, "")
	}
	var rows []Row
	for _, w := range cfg.Workloads {
		row := Row{Workload: w.Name()}
		for _, srv := range servers {
			if why, ok := skipped[srv]; ok {
				row.Cells = append(row.Cells, Cell{Workload: w, Server: srv, Skipped: why})
				continue
			}
			if why, ok := unsupported[[2]string{w.Name(), srv}]; ok {
				row.Cells = append(row.Cells, Cell{Workload: w, Server: srv, Unsupported: why})
				continue
			}
			row.Cells = append(row.Cells, aggregate(w, srv, samples[w.Name()][srv]))
		}
		var floor float64
		for _, c := range row.Cells {
			if c.Server == Floor && c.measured() {
				floor = c.SrvUsReq
			}
		}
		if floor > 0 {
			for i := range row.Cells {
				if row.Cells[i].measured() {
					row.Cells[i].XFloor = row.Cells[i].SrvUsReq / floor
				}
			}
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// measured reports whether the cell holds figures: neither skipped nor
// unsupported.
func (c Cell) measured() bool { return c.Skipped == "" && c.Unsupported == "" }

func aggregate(w Workload, srv string, ss []Sample) Cell {
	c := Cell{Workload: w, Server: srv, Samples: ss}
	if len(ss) == 0 {
		return c
	}
	med := func(f func(Sample) float64) float64 {
		v := make([]float64, len(ss))
		for i, s := range ss {
			v[i] = f(s)
		}
		return median(v)
	}
	c.ReqPerSec = med(func(s Sample) float64 { return s.ReqPerSec })
	c.SrvUsReq = med(func(s Sample) float64 { return s.SrvUsReq })
	c.AllocsReq = med(func(s Sample) float64 { return s.AllocsReq })
	c.MBps = med(func(s Sample) float64 { return s.MBps })
	c.P50us = med(func(s Sample) float64 { return s.P50us })
	c.P99us = med(func(s Sample) float64 { return s.P99us })
	c.P999us = med(func(s Sample) float64 { return s.P999us })
	c.RSSKB = int64(med(func(s Sample) float64 { return float64(s.RSSKB) }))
	c.PeakRSSKB = int64(med(func(s Sample) float64 { return float64(s.PeakRSSKB) }))
	c.OtherThreadsPct = 100 * med(func(s Sample) float64 { return s.OtherThreads })
	c.RoundUs = med(func(s Sample) float64 { return s.RoundUs })
	c.IdleB = med(func(s Sample) float64 { return s.IdleB })
	c.IdleGCB = med(func(s Sample) float64 { return s.IdleGCB })
	c.HeapB = med(func(s Sample) float64 { return s.HeapB })
	if w.Protocol == Crowd {
		c.AloneUsReq = med(func(s Sample) float64 { return s.AloneUsReq })
		c.CrowdX = med(func(s Sample) float64 { return crowdRatio(s) })
	}
	for _, s := range ss {
		c.Lost += s.Lost
	}
	// The spread is of the row's headline figure: for Idle, bytes per
	// connection; for the others, server CPU per request.
	key, mid := func(s Sample) float64 { return s.SrvUsReq }, c.SrvUsReq
	if w.Protocol == Idle {
		key, mid = func(s Sample) float64 { return s.IdleB }, c.IdleB
	}
	lo, hi := key(ss[0]), key(ss[0])
	for _, s := range ss {
		lo, hi = min(lo, key(s)), max(hi, key(s))
	}
	if mid > 0 {
		c.Spread = (hi - lo) / mid
	}
	return c
}

// crowdRatio is a Crowd sample's server CPU per request with the crowd over
// that without, or 0 when there is no figure without.
func crowdRatio(s Sample) float64 {
	if s.AloneUsReq <= 0 {
		return 0
	}
	return s.SrvUsReq / s.AloneUsReq
}

func median(v []float64) float64 {
	sort.Float64s(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}
