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
	"syscall"
	"time"

	"github.com/edgeloop/edgeloop/backend"

	"github.com/edgeloop/edgeloop/internal/benchkit"
	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// protocols maps a --protocols name to its rows: the workload, the sizes
// it comes in, and the connection counts it has unless --conns gives
// others. The idle and crowd rows take their idle connections from --idle;
// the scaling rows come one per loop count (benchkit.ScalingLoops).
var protocols = map[string]struct {
	w     benchkit.Workload
	conns []int // nil: --conns does not apply
	sizes []int // a row per size, in this order; nil: w.Size alone
}{
	"echo":     {benchkit.Workload{Protocol: benchkit.Echo, Size: 64}, []int{64, 1000}, nil},
	"echo16k":  {benchkit.Workload{Protocol: benchkit.Echo, Size: 16 << 10}, []int{64}, nil},
	"partial":  {benchkit.Workload{Protocol: benchkit.Echo, Size: 64, Rate: benchkit.PartialRate}, []int{64, 1000}, nil},
	"fairness": {benchkit.FairnessWorkload, nil, nil},
	"udp":      {benchkit.Workload{Protocol: benchkit.UDP, Size: 64}, []int{benchkit.UDPWorkload.Conns}, nil},
	"churn":    {benchkit.ChurnWorkload, nil, nil},
	"timers":   {benchkit.TimersWorkload, nil, nil},
	"array":    {benchkit.ArrayWorkloads[0], nil, []int{benchkit.ArrayWorkloads[0].Size, benchkit.ArrayWorkloads[1].Size}},
	"idle":     {benchkit.Workload{Protocol: benchkit.Idle}, nil, nil},
	"crowd":    {benchkit.Workload{Protocol: benchkit.Crowd, Size: 64}, []int{64}, nil},
	"accept":   {benchkit.AcceptWorkload, nil, nil},
	"scaling":  {benchkit.Workload{Protocol: benchkit.Echo, Size: 64, Loops: 1}, []int{64}, nil},
}

// defaultProtocols are the rows of a default run, the same as go test
// -bench ./bench runs (benchkit.DefaultWorkloads): every protocol but
// extraProtocols, in the order the help lists them.
const defaultProtocols = "echo,echo16k,partial,fairness,udp,churn,timers,array"

// protocolList names the protocols for messages.
const protocolList = "echo, echo16k, partial, fairness, udp, churn, timers, array, idle, crowd, accept, scaling"

// extraProtocols are issue 11's protocols, which a default run leaves
// out, most for the time they take whatever --duration says: opening and
// closing 15 000 idle connections takes seconds per cell.
// benchkit.ExtraWorkloads are their rows.
const extraProtocols = "idle,crowd,accept,scaling"

// benchWorkloads turns --protocols, --conns, --rate and --idle into table
// rows, in the order the protocols are listed.
func benchWorkloads(protos, conns string, rate float64, idle int) ([]benchkit.Workload, error) {
	if rate <= 0 {
		return nil, fmt.Errorf("--rate %v is out of range: give more than 0", rate)
	}
	var counts []int
	for _, c := range split(conns) {
		n, err := strconv.Atoi(c)
		if err != nil {
			return nil, fmt.Errorf("--conns %q is not a number", c)
		}
		if n < 1 || n > maxConns() {
			return nil, fmt.Errorf("--conns %d is out of range: give 1 to %d connections", n, maxConns())
		}
		counts = append(counts, n)
	}
	var workloads []benchkit.Workload
	for _, p := range split(protos) {
		proto, ok := protocols[p]
		if !ok {
			return nil, fmt.Errorf("unknown protocol %q: the protocols are %s", p, protocolList)
		}
		if proto.sizes != nil {
			for _, size := range proto.sizes {
				w := proto.w
				w.Size = size
				workloads = append(workloads, w)
			}
			continue
		}
		if proto.conns == nil {
			workloads = append(workloads, proto.w)
			continue
		}
		cs := proto.conns
		if counts != nil {
			cs = counts
		}
		loops := []int{proto.w.Loops}
		if proto.w.Loops > 0 {
			loops = benchkit.ScalingLoops()
		}
		for _, n := range cs {
			for _, l := range loops {
				w := proto.w
				w.Conns, w.Loops = n, l
				if w.Rate > 0 {
					w.Rate = rate
				}
				workloads = append(workloads, w)
			}
		}
	}
	// The idle connections and the active ones beside them hold a
	// descriptor each in this process and in the server.
	for i, w := range workloads {
		if w.Protocol != benchkit.Idle && w.Protocol != benchkit.Crowd {
			continue
		}
		if idle < 1 || idle+w.Conns > maxConns() {
			return nil, fmt.Errorf("--idle %d is out of range: give 1 to %d idle connections, less the active ones beside them (%d)", idle, maxConns(), w.Conns)
		}
		workloads[i].Idle = idle
	}
	return workloads, nil
}

// minWindow is the shortest --duration: a shorter window holds too few
// round trips, and too little server CPU time, to measure.
const minWindow = 10 * time.Millisecond

// fdMargin is how many descriptors a process needs beside its connections.
const fdMargin = 64

// maxConns is the most connections a cell may have. Each holds a descriptor
// in the load generator (this process) and one in the server, and a process
// may open RLIMIT_NOFILE of them (Go raises the soft limit to the hard one).
func maxConns() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 1024 - fdMargin
	}
	return int(min(uint64(rl.Cur), 1<<20)) - fdMargin
}

// benchCmd runs the benchmark matrix and writes the table, results.json and
// the charts.
func benchCmd(args []string, stdout, stderr io.Writer) int {
	// Every error is one line, "edgeloop bench: ...", the flag package's
	// included; a bad command line exits 2 before anything runs.
	fail := func(code int, format string, a ...any) int {
		fmt.Fprintf(stderr, "edgeloop bench: "+format+"\n", a...)
		return code
	}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	backends := fs.String("backends", strings.Join(backend.Names(), ","), "comma-separated `LIST` of backends, each once; the C floor is always added,\n"+
		"and an empty LIST measures it alone. Refused (exit 2): an unknown or\n"+
		"repeated name.")
	protos := fs.String("protocols", defaultProtocols, "comma-separated `LIST`: echo (64 B ping-pong), echo16k (16 KiB ping-pong),\n"+
		"partial (64 B ping-pong paced to --rate), fairness (4 peers echoing 1 MiB beside\n"+
		"a 1 KiB probe), udp (64 B UDP echo, one datagram in flight per socket), churn\n"+
		"(16 clients at a time connecting to the TCP time service, RFC 868), timers\n"+
		"(rounds of 100000 timers spread over 100 ms on the server's loop), array\n"+
		"(64 MiB and 256 MiB NPY arrays round-tripped over one connection: GB/s, CPU\n"+
		"per GiB, the server's peak RSS; needs about 1.5 GiB of memory). Not in the\n"+
		"default, for their time: idle (server RSS per idle connection, --idle of them;\n"+
		"5-10 s a cell), crowd (64 B ping-pong alone, then beside --idle idle\n"+
		"connections, in one server: the CPU ratio; two windows and the crowd's opening\n"+
		"a cell), accept (16 clients at a time connecting, echoing 64 B and resetting:\n"+
		"the accept rate), scaling (64 B ping-pong at 1 to min(CPUs, 4) loops; the\n"+
		"server on CPUs 0..loops-1, sharing them with the load generator beyond CPU 0).\n"+
		"Default: every protocol but those four. Refused (exit 2): an empty LIST, an\n"+
		"unknown or repeated name.")
	idle := fs.Int("idle", benchkit.IdleConns, fmt.Sprintf("`N` idle connections for the idle and crowd rows, each a descriptor here and in\n"+
		"the server, so at most %d (the open-file limit less %d) less the crowd row's\n"+
		"active ones. Refused (exit 2): out of range.", maxConns(), fdMargin))
	conns := fs.String("conns", "", fmt.Sprintf("comma-separated `LIST` of connection counts for echo, echo16k, partial,\n"+
		"scaling and crowd (its active ones), and of sockets for udp, each from 1 to\n"+
		"%d (the open-file limit less %d). Default: 64,1000; 64 for echo16k, udp,\n"+
		"crowd and scaling. Refused (exit 2): a count out of range, not a number, or\n"+
		"repeated.", maxConns(), fdMargin))
	rate := fs.Float64("rate", benchkit.PartialRate, "`N` requests per second in all for the partial rows, paced by the load\n"+
		"generator. Refused (exit 2): 0 or less.")
	duration := fs.Duration("duration", 2*time.Second, fmt.Sprintf("measured window per cell, a `DURATION` of at least %v. Refused (exit 2): shorter.", minWindow))
	warmup := fs.Duration("warmup", 300*time.Millisecond, "load before each window, a `DURATION` of 0 or more. Refused (exit 2): negative.")
	reps := fs.Int("reps", 3, "`N` interleaved repetitions per cell, 1 or more; the median is reported.\n"+
		"Refused (exit 2): less than 1.")
	out := fs.String("out", "bench-results", "`DIR` for results.json, table.md, cpu.svg and throughput.svg, made if\n"+
		"missing. Refused (exit 2): empty.")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: edgeloop bench [flags]\n\n"+
			"Measures every backend and minimal C servers (the floor) on the same\n"+
			"workloads in one run, interleaved (A B C A B C ...). Each server runs in its\n"+
			"own process on CPU 0 with GOMAXPROCS=1 and one loop; the load generator runs\n"+
			"here on the other CPUs. Prints a markdown table and writes DIR/results.json,\n"+
			"DIR/table.md and, of the saturated echo rows, the charts DIR/cpu.svg and\n"+
			"DIR/throughput.svg. Progress goes to stderr: a bar when it is a terminal,\n"+
			"else one plain line per cell.\n\n"+
			"Saturated rows (echo, echo16k) keep every connection busy; partial rows pace\n"+
			"the same echo to --rate requests per second so that the server mostly waits;\n"+
			"the fairness row times a small request beside bulk peers on the same loop.\n"+
			"The udp row echoes datagrams (a backend without them gets n/a), the churn row\n"+
			"costs a whole connection (accept to close), the timers row a timer armed\n"+
			"and fired on the server's loop (the floor has none: n/a), and the array rows\n"+
			"a GiB of NPY array data received and sent back, and the server's peak memory.\n\nFlags:\n")
		printFlags(fs)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stdout)
			fs.Usage()
			return 0
		}
		return fail(2, "%v (see edgeloop bench --help)", err)
	}
	switch {
	case fs.NArg() > 0:
		return fail(2, "unexpected argument %q", fs.Arg(0))
	case *duration < minWindow:
		return fail(2, "--duration %v is too short: give at least %v", *duration, minWindow)
	case *warmup < 0:
		return fail(2, "--warmup %v is negative: give 0 or more", *warmup)
	case *reps < 1:
		return fail(2, "--reps %d is out of range: give 1 or more", *reps)
	case *out == "":
		return fail(2, "--out is empty: give a directory")
	}
	if d := repeated(split(*protos)); d != "" {
		return fail(2, "--protocols lists %q twice", d)
	}
	if d := repeated(split(*conns)); d != "" {
		return fail(2, "--conns lists %q twice", d)
	}
	if d := repeated(split(*backends)); d != "" {
		return fail(2, "--backends lists %q twice", d)
	}
	if len(split(*protos)) == 0 {
		return fail(2, "--protocols is empty: give one or more of %s", protocolList)
	}
	workloads, err := benchWorkloads(*protos, *conns, *rate, *idle)
	if err != nil {
		return fail(2, "%v", err)
	}
	servers := split(*backends)
	for _, b := range servers {
		if !contains(backend.Names(), b) {
			fmt.Fprintf(stderr, "edgeloop bench: unknown backend %q (have %s)\n", b, strings.Join(backend.Names(), ", "))
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
	update, endProgress := progress(stderr)
	rows, err := benchkit.RunMatrix(benchkit.Config{
		Servers:   servers,
		Workloads: workloads,
		Window:    benchkit.Window{Warmup: *warmup, Duration: *duration},
		Reps:      *reps,
		Progress:  update,
	})
	endProgress()
	if err != nil {
		fmt.Fprintln(stderr, "edgeloop bench:", err)
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
	wrote := []string{filepath.Join(*out, "table.md"), filepath.Join(*out, "results.json")}
	for _, err := range []error{
		os.WriteFile(wrote[0], []byte(table.String()), 0o644),
		benchkit.WriteJSON(wrote[1], meta, rows),
	} {
		if err != nil {
			fmt.Fprintln(stderr, "edgeloop bench:", err)
			return 1
		}
	}
	// Only the saturated echo rows are charted: a run of other rows has
	// no charts.
	charts, err := benchkit.WriteCharts(*out, rows)
	if err != nil {
		fmt.Fprintln(stderr, "edgeloop bench:", err)
		return 1
	}
	fmt.Fprintf(stderr, "wrote %s\n", strings.Join(append(wrote, charts...), ", "))
	return 0
}

// progress reports the matrix's progress on w. On a terminal it redraws one
// bar in place; anywhere else (a log, a pipe, a file) it writes one plain
// line per cell and never a carriage return, so logs hold no frames. done
// ends the report, finishing the bar's line if the run stopped half-way.
func progress(w io.Writer) (update func(done, total int, wl benchkit.Workload, server string), done func()) {
	if !isTerminal(w) {
		return func(done, total int, wl benchkit.Workload, server string) {
			if server != "" {
				fmt.Fprintf(w, "edgeloop bench: cell %d/%d: %s %s\n", done+1, total, wl.Name(), server)
			}
		}, func() {}
	}
	var bar *progressbar.ProgressBar
	finished := false
	update = func(done, total int, wl benchkit.Workload, server string) {
		if bar == nil {
			bar = progressbar.NewOptions(total,
				progressbar.OptionSetWriter(w),
				progressbar.OptionSetWidth(30),
				progressbar.OptionShowCount(),
				progressbar.OptionSetElapsedTime(true),
				progressbar.OptionSetPredictTime(true),
				progressbar.OptionOnCompletion(func() { fmt.Fprintln(w); finished = true }))
		}
		if server != "" {
			bar.Describe(fmt.Sprintf("%-28s %-8s", wl.Name(), server))
		} else {
			bar.Describe("")
		}
		bar.Set(done)
	}
	return update, func() {
		if bar != nil && !finished {
			fmt.Fprintln(w)
		}
	}
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
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

// repeated returns the first item that list holds twice, or "".
func repeated(list []string) string {
	seen := map[string]bool{}
	for _, x := range list {
		if seen[x] {
			return x
		}
		seen[x] = true
	}
	return ""
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
