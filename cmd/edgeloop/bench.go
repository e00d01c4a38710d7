package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/edgeloop/edgeloop/internal/benchkit"
	"github.com/edgeloop/edgeloop/reactor"
)

// protocols maps a --protocols name to its rows: the workload, and the
// connection counts it has unless --conns gives others.
var protocols = map[string]struct {
	w     benchkit.Workload
	conns []int // nil: --conns does not apply
}{
	"echo":     {benchkit.Workload{Protocol: benchkit.Echo, Size: 64}, []int{64, 1000}},
	"echo16k":  {benchkit.Workload{Protocol: benchkit.Echo, Size: 16 << 10}, []int{64}},
	"partial":  {benchkit.Workload{Protocol: benchkit.Echo, Size: 64, Rate: benchkit.PartialRate}, []int{64, 1000}},
	"fairness": {benchkit.FairnessWorkload, nil},
}

// defaultProtocols are the rows of a default run, the same as go test
// -bench ./bench runs (benchkit.DefaultWorkloads).
const defaultProtocols = "echo,echo16k,partial,fairness"

// benchWorkloads turns --protocols, --conns and --rate into table rows, in
// the order the protocols are listed.
func benchWorkloads(protos, conns string, rate float64) ([]benchkit.Workload, error) {
	if rate <= 0 {
		return nil, fmt.Errorf("--rate must be positive, not %v", rate)
	}
	var counts []int
	for _, c := range split(conns) {
		n, err := strconv.Atoi(c)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("bad connection count %q", c)
		}
		counts = append(counts, n)
	}
	var workloads []benchkit.Workload
	for _, p := range split(protos) {
		proto, ok := protocols[p]
		if !ok {
			return nil, fmt.Errorf("unknown protocol %q", p)
		}
		if proto.conns == nil {
			workloads = append(workloads, proto.w)
			continue
		}
		cs := proto.conns
		if counts != nil {
			cs = counts
		}
		for _, n := range cs {
			w := proto.w
			w.Conns = n
			if w.Rate > 0 {
				w.Rate = rate
			}
			workloads = append(workloads, w)
		}
	}
	return workloads, nil
}

// benchCmd runs the benchmark matrix and writes the table, results.json and
// the charts.
func benchCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	backends := fs.String("backends", strings.Join(reactor.Backends(), ","), "comma-separated `LIST` of backends (the C floor is always added)")
	protos := fs.String("protocols", defaultProtocols, "comma-separated `LIST`: echo (64 B ping-pong), echo16k (16 KiB ping-pong),\n"+
		"partial (64 B ping-pong paced to --rate), fairness (4 peers echoing 1 MiB beside a 1 KiB probe)")
	conns := fs.String("conns", "", "comma-separated connection counts for echo, echo16k and partial (default: 64,1000; 64 for echo16k)")
	rate := fs.Float64("rate", benchkit.PartialRate, "`N` requests per second in all for the partial rows, paced by the load generator")
	duration := fs.Duration("duration", 2*time.Second, "measured window per cell")
	warmup := fs.Duration("warmup", 300*time.Millisecond, "load before each window")
	reps := fs.Int("reps", 3, "interleaved repetitions per cell; the median is reported")
	out := fs.String("out", "bench-results", "`DIR` for results.json, table.md, cpu.svg and throughput.svg")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: edgeloop bench [flags]\n\n"+
			"Measures every backend and a minimal C epoll server (the floor) on the same\n"+
			"workloads in one run, interleaved (A B C A B C ...). Each server runs in its\n"+
			"own process on CPU 0 with GOMAXPROCS=1 and one loop; the load generator runs\n"+
			"here on the other CPUs. Prints a markdown table and writes DIR/results.json,\n"+
			"DIR/table.md and the charts DIR/cpu.svg and DIR/throughput.svg.\n\n"+
			"Saturated rows (echo, echo16k) keep every connection busy; partial rows pace\n"+
			"the same echo to --rate requests per second so that the server mostly waits;\n"+
			"the fairness row times a small request beside bulk peers on the same loop.\n\nFlags:\n")
		printFlags(fs)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	workloads, err := benchWorkloads(*protos, *conns, *rate)
	if err != nil {
		fmt.Fprintln(stderr, "edgeloop bench:", err)
		return 2
	}
	servers := split(*backends)
	for _, b := range servers {
		if !contains(reactor.Backends(), b) {
			fmt.Fprintf(stderr, "edgeloop bench: unknown backend %q (have %s)\n", b, strings.Join(reactor.Backends(), ", "))
			return 2
		}
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		fmt.Fprintln(stderr, "edgeloop bench:", err)
		return 1
	}
	pinned := "server on CPU 0 (GOMAXPROCS=1, one loop), load generator on the other CPUs"
	if !benchkit.CanPin() {
		pinned = "not pinned: fewer than 2 CPUs, server and load generator share them"
	} else if err := benchkit.PinSelf(); err != nil {
		fmt.Fprintln(stderr, "edgeloop bench: pinning the load generator:", err)
		return 1
	}
	fmt.Fprintf(stderr, "edgeloop bench: %s\n", pinned)
	rows, err := benchkit.RunMatrix(benchkit.Config{
		Servers:   servers,
		Workloads: workloads,
		Window:    benchkit.Window{Warmup: *warmup, Duration: *duration},
		Reps:      *reps,
		Progress:  progressBar(stderr),
	})
	if err != nil {
		fmt.Fprintln(stderr, "\nedgeloop bench:", err)
		return 1
	}
	meta := benchkit.Meta{
		Command:   "edgeloop bench " + strings.Join(args, " "),
		CPU:       cpuModel(),
		CPUs:      runtime.NumCPU(),
		GoVersion: runtime.Version(),
		Pinned:    pinned,
		Date:      time.Now().UTC().Format(time.RFC3339),
		Duration:  duration.String(),
		Reps:      *reps,
	}
	var table strings.Builder
	fmt.Fprintf(&table, "`%s` on %s (%d CPUs), %s, %s; window %s, %d interleaved repetitions, median.\n\n",
		strings.TrimSpace(meta.Command), meta.CPU, meta.CPUs, meta.GoVersion, pinned, meta.Duration, meta.Reps)
	benchkit.Markdown(&table, rows)
	fmt.Fprint(stdout, table.String())
	for _, err := range []error{
		os.WriteFile(filepath.Join(*out, "table.md"), []byte(table.String()), 0o644),
		benchkit.WriteJSON(filepath.Join(*out, "results.json"), meta, rows),
		benchkit.WriteCharts(*out, rows),
	} {
		if err != nil {
			fmt.Fprintln(stderr, "edgeloop bench:", err)
			return 1
		}
	}
	fmt.Fprintf(stderr, "wrote %s\n", strings.Join([]string{
		filepath.Join(*out, "table.md"), filepath.Join(*out, "results.json"),
		filepath.Join(*out, "cpu.svg"), filepath.Join(*out, "throughput.svg")}, ", "))
	return 0
}

// progressBar draws "[#####.....] 12/45 echo/size=64/conns=64 epoll".
func progressBar(w io.Writer) func(done, total int, wl benchkit.Workload, server string) {
	return func(done, total int, wl benchkit.Workload, server string) {
		const width = 30
		filled := width * done / max(total, 1)
		label := ""
		if server != "" {
			label = wl.Name() + " " + server
		}
		fmt.Fprintf(w, "\r[%s%s] %d/%d %-40s", strings.Repeat("#", filled), strings.Repeat(".", width-filled), done, total, label)
		if done == total {
			fmt.Fprintln(w)
		}
	}
}

func split(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// cpuModel reads the CPU's name from /proc/cpuinfo.
func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}
