package benchkit

import (
	"bufio"
	"embed"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Floor is the name of the C reference server in results.
const Floor = "floor"

// The C programs: the floor servers (floor.c for TCP echo and time,
// udpfloor.c for UDP echo, arrayfloor.c for NPY array round trips), and the
// fairness row's probe.
//
//go:embed floor/floor.c floor/udpfloor.c floor/arrayfloor.c floor/probe.c
var cSources embed.FS

// ErrNoCompiler means the floor or the probe could not be built: no C
// compiler here.
var ErrNoCompiler = errors.New("benchkit: no C compiler (cc) to build the floor")

// Server is one server process under test.
type Server struct {
	Name string // backend name, or Floor
	Addr string
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *bufio.Scanner
}

// Stats is what a server says about itself.
type Stats struct {
	CPUMicros int64  // user+system CPU time of the whole process
	Mallocs   uint64 // heap objects allocated (0 for the floor)
	RSSKB     int64  // resident set, read from /proc
	PeakRSSKB int64  // peak resident set over the process's life (VmHWM), from /proc
	// Threads is each thread's user+system CPU time in clock ticks, by
	// thread id, read from /proc/PID/task/*/stat (nil where there is none).
	Threads map[int]int64
}

var (
	ccMu    sync.Mutex
	ccBuilt = map[string]string{} // program name to binary path
)

// buildC compiles floor/NAME.c once per process into a temporary directory
// and returns the binary's path.
func buildC(name string) (string, error) {
	ccMu.Lock()
	defer ccMu.Unlock()
	if path, ok := ccBuilt[name]; ok {
		return path, nil
	}
	cc, err := exec.LookPath("cc")
	if err != nil {
		return "", ErrNoCompiler
	}
	src, err := cSources.ReadFile("floor/" + name + ".c")
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "edgeloop-"+name+"-")
	if err != nil {
		return "", err
	}
	srcPath := filepath.Join(dir, name+".c")
	if err := os.WriteFile(srcPath, src, 0o644); err != nil {
		return "", err
	}
	path := filepath.Join(dir, name)
	if out, err := exec.Command(cc, "-O2", "-o", path, srcPath).CombinedOutput(); err != nil {
		return "", fmt.Errorf("benchkit: cc %s.c: %v: %s", name, err, out)
	}
	ccBuilt[name] = path
	return path, nil
}

// StartServer starts the server called name (a backend, or Floor) serving
// TCP echo in its own process, pinned to ServerCPU when the machine has
// CPUs to spare, and waits for its "listening" line.
func StartServer(name string) (*Server, error) { return startService(name, serviceEcho) }

// startService starts the server called name serving service (see
// EnvService) as StartServer does. A server that cannot serve it returns
// an error that wraps ErrUnsupported.
func startService(name, service string) (*Server, error) {
	return startServiceLoops(name, service, 1)
}

// startServiceLoops is startService with loops event loops (0 is 1): a Go
// server runs them with GOMAXPROCS=loops, pinned to CPUs 0..loops-1
// (serverCPUs). The floor has one thread: more loops are n/a for it.
func startServiceLoops(name, service string, loops int) (*Server, error) {
	loops = max(loops, 1)
	var cmd *exec.Cmd
	if name == Floor && loops > 1 {
		return nil, &unsupportedError{Floor, "the floor is one thread, one loop"}
	}
	if name == Floor {
		var prog string
		var args []string
		switch service {
		case serviceEcho, serviceTime:
			prog, args = "floor", []string{"127.0.0.1", service}
		case serviceUDP:
			prog, args = "udpfloor", []string{"127.0.0.1"}
		case serviceArray:
			prog, args = "arrayfloor", []string{"127.0.0.1"}
		default:
			return nil, &unsupportedError{Floor, "the floor has no " + service}
		}
		path, err := buildC(prog)
		if err != nil {
			return nil, err
		}
		cmd = exec.Command(path, args...)
	} else {
		self, err := os.Executable()
		if err != nil {
			return nil, err
		}
		cmd = exec.Command(self)
		cmd.Env = append(os.Environ(), EnvServer+"="+name, EnvService+"="+service,
			fmt.Sprintf("GOMAXPROCS=%d", loops), fmt.Sprintf("%s=%d", EnvLoops, loops))
	}
	return serve(name, cmd, serverCPUs(loops))
}

// serve starts the server process cmd, waits for its first line and pins
// it to cpus. The line is "listening ADDR", or "unsupported WHY" from a
// server that cannot serve what it was asked for.
func serve(name string, cmd *exec.Cmd, cpus []int) (*Server, error) {
	s, err := startChild(name, cmd)
	if err != nil {
		return nil, err
	}
	line, err := s.readLine(10 * time.Second)
	if why, ok := strings.CutPrefix(line, "unsupported "); ok && err == nil {
		s.Stop()
		return nil, &unsupportedError{name, why}
	}
	if err != nil || !strings.HasPrefix(line, "listening ") {
		s.Stop()
		return nil, fmt.Errorf("benchkit: server %s did not start: %q %v", name, line, err)
	}
	s.Addr = strings.TrimSpace(strings.TrimPrefix(line, "listening "))
	if CanPin() {
		if err := pin(cmd.Process.Pid, cpus); err != nil {
			s.Stop()
			return nil, err
		}
	}
	return s, nil
}

// startChild starts cmd with its stdin and stdout as the line protocol's
// pipes and its stderr shared with this process.
func startChild(name string, cmd *exec.Cmd) (*Server, error) {
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	outp, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return &Server{Name: name, cmd: cmd, in: in, out: bufio.NewScanner(outp)}, nil
}

// readLine reads one line of the server's stdout, with a deadline.
func (s *Server) readLine(timeout time.Duration) (string, error) {
	type res struct {
		line string
		ok   bool
	}
	ch := make(chan res, 1)
	go func() {
		ok := s.out.Scan()
		ch <- res{s.out.Text(), ok}
	}()
	select {
	case r := <-ch:
		if !r.ok {
			return "", fmt.Errorf("benchkit: server %s closed stdout: %v", s.Name, s.out.Err())
		}
		return r.line, nil
	case <-time.After(timeout):
		return "", fmt.Errorf("benchkit: server %s: no answer in %v", s.Name, timeout)
	}
}

// Stats asks the server for its CPU time and allocation count.
func (s *Server) Stats() (Stats, error) {
	if _, err := io.WriteString(s.in, "stats\n"); err != nil {
		return Stats{}, err
	}
	line, err := s.readLine(10 * time.Second)
	if err != nil {
		return Stats{}, err
	}
	var st Stats
	if _, err := fmt.Sscanf(line, "stats cpu_us=%d mallocs=%d", &st.CPUMicros, &st.Mallocs); err != nil {
		return Stats{}, fmt.Errorf("benchkit: server %s: bad stats line %q: %w", s.Name, line, err)
	}
	// Read here rather than in the child, right after it answered: the
	// floor gets the same figures without a change to floor.c.
	st.RSSKB = statusKB(s.cmd.Process.Pid, "VmRSS")
	st.PeakRSSKB = statusKB(s.cmd.Process.Pid, "VmHWM")
	st.Threads = threadTicks(s.cmd.Process.Pid)
	return st, nil
}

// roundStats is what a server says about one round of timers.
type roundStats struct {
	n         int64 // timers fired
	cpuMicros int64 // the process's CPU time over the round
	mallocs   uint64
	elapsed   time.Duration // from the first timer armed to the last fired
}

// Timers asks the server for one round of timers: arm n, their deadlines
// spread over spread, and wait for all to fire.
func (s *Server) Timers(n int, spread time.Duration) (roundStats, error) {
	if _, err := fmt.Fprintf(s.in, "timers %d %d\n", n, spread.Microseconds()); err != nil {
		return roundStats{}, err
	}
	line, err := s.readLine(spread + timerGrace + 10*time.Second)
	if err != nil {
		return roundStats{}, err
	}
	if why, ok := strings.CutPrefix(line, "timers error "); ok {
		return roundStats{}, fmt.Errorf("benchkit: server %s: timers: %s", s.Name, why)
	}
	var r roundStats
	var us int64
	if _, err := fmt.Sscanf(line, "timers n=%d cpu_us=%d mallocs=%d elapsed_us=%d", &r.n, &r.cpuMicros, &r.mallocs, &us); err != nil {
		return roundStats{}, fmt.Errorf("benchkit: server %s: bad timers line %q: %w", s.Name, line, err)
	}
	r.elapsed = time.Duration(us) * time.Microsecond
	return r, nil
}

// Stop closes the server's stdin, which makes it exit, and waits for it.
func (s *Server) Stop() error {
	s.in.Close()
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(5 * time.Second):
		s.cmd.Process.Kill()
		return <-done
	}
}
