package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/edgeloop/edgeloop/backend"
	"github.com/edgeloop/edgeloop/protocols/array"
	"github.com/edgeloop/edgeloop/protocols/timeproto"
)

// bin is the edgeloop binary built for these tests.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "edgeloop-cmd-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "edgeloop")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// needTool skips when an external client is missing, except in CI, where
// .ci/run installs it and its absence is a failure.
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not installed; .ci/run should install it", name)
		}
		t.Skipf("%s is not installed (apt-get install netcat-openbsd); CI runs this test", name)
	}
	return p
}

// served is a running `edgeloop serve`.
type served struct {
	cmd    *exec.Cmd
	addrs  map[string]string // service -> address
	stderr *logBuffer
	waited chan error
}

// logBuffer collects a child's stderr; it may be read while the child writes.
type logBuffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	changed chan struct{} // closed and replaced on every Write
}

func newLogBuffer() *logBuffer { return &logBuffer{changed: make(chan struct{})} }

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	close(l.changed)
	l.changed = make(chan struct{})
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// waitFor waits until the output holds s, and fails the test if it does not
// within d.
func (l *logBuffer) waitFor(t *testing.T, s string, d time.Duration) {
	t.Helper()
	deadline := time.After(d)
	for {
		l.mu.Lock()
		found, changed := strings.Contains(l.b.String(), s), l.changed
		l.mu.Unlock()
		if found {
			return
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("stderr did not show %q within %v:\n%s", s, d, l)
		}
	}
}

// startServe runs edgeloop serve with args and waits for want "listening" lines.
func startServe(t *testing.T, want int, args ...string) *served {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve"}, args...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	s := &served{cmd: cmd, addrs: map[string]string{}, stderr: newLogBuffer(), waited: make(chan error, 1)}
	cmd.Stderr = s.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.waited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-s.waited
	})
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	deadline := time.After(20 * time.Second)
	for len(s.addrs) < want {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("serve exited before listening; stderr:\n%s", s.stderr)
			}
			var svc, netw, addr string
			if n, _ := fmt.Sscanf(line, "listening %s %s %s", &svc, &netw, &addr); n != 3 || (netw != "tcp" && netw != "udp" && netw != "unix") {
				t.Fatalf("unexpected line %q", line)
			}
			if netw != "tcp" {
				svc += "/" + netw // addrs: "echo" is TCP, "echo/udp" UDP, "echo/unix" a Unix socket
			}
			s.addrs[svc] = addr
		case <-deadline:
			t.Fatalf("serve did not print %d listening lines; stderr:\n%s", want, s.stderr)
		}
	}
	return s
}

// stop sends sig and returns the exit code and how long the exit took.
func (s *served) stop(t *testing.T, sig os.Signal) (int, time.Duration) {
	t.Helper()
	start := time.Now()
	s.cmd.Process.Signal(sig)
	select {
	case err := <-s.waited:
		s.waited <- err // for Cleanup
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return code, time.Since(start)
	case <-time.After(10 * time.Second):
		t.Fatalf("serve did not exit on %v; stderr:\n%s", sig, s.stderr)
	}
	return -1, 0
}

func echoRoundTrip(t *testing.T, addr string, payload []byte) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	go func() {
		c.Write(payload)
		c.(*net.TCPConn).CloseWrite()
	}()
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if !bytes.Equal(got, payload) {
		t.Fatalf("echo returned %d bytes, want %d byte-exact", len(got), len(payload))
	}
}

func randomBytes(t *testing.T, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// TestServeEveryBackend is the "done when": every backend that
// `edgeloop backends` lists serves byte-exact echo.
func TestServeEveryBackend(t *testing.T) {
	out, err := exec.Command(bin, "backends").Output()
	if err != nil {
		t.Fatal(err)
	}
	listed := strings.Fields(string(out))
	if strings.Join(listed, ",") != strings.Join(backend.Names(), ",") {
		t.Fatalf("edgeloop backends printed %q, want %q", listed, backend.Names())
	}
	for _, want := range []string{"epoll", "gnetpoll", "gnet", "net"} {
		if !contains(listed, want) {
			t.Errorf("backend %s is missing from %q", want, listed)
		}
	}
	payload := randomBytes(t, 1<<20)
	for _, b := range listed {
		t.Run(b, func(t *testing.T) {
			s := startServe(t, 1, "--backend", b, "--loops", "1", "--echo", "127.0.0.1:0")
			echoRoundTrip(t, s.addrs["echo"], payload)
			if code, _ := s.stop(t, syscall.SIGTERM); code != 0 {
				t.Fatalf("exit code %d after SIGTERM; stderr:\n%s", code, s.stderr)
			}
		})
	}
}

// TestServeBalanceFlagsEveryBackend: --balance and --lock-os-thread start
// every backend (the engines ignore them) and the echo service answers,
// with several loops so that the native loop hands connections over.
func TestServeBalanceFlagsEveryBackend(t *testing.T) {
	payload := randomBytes(t, 64<<10)
	for _, b := range backend.Names() {
		for _, mode := range []string{"round-robin", "least-conns"} {
			t.Run(b+"/"+mode, func(t *testing.T) {
				s := startServe(t, 1, "--backend", b, "--loops", "2", "--balance", mode, "--lock-os-thread", "--echo", "127.0.0.1:0")
				for range 4 { // some land on each loop
					echoRoundTrip(t, s.addrs["echo"], payload)
				}
				if code, _ := s.stop(t, syscall.SIGTERM); code != 0 {
					t.Fatalf("exit code %d after SIGTERM; stderr:\n%s", code, s.stderr)
				}
			})
		}
	}
}

// TestServeWithNC checks a client nobody here wrote: OpenBSD nc, which
// with -N shuts its write side at the end of stdin.
func TestServeWithNC(t *testing.T) {
	nc := needTool(t, "nc")
	s := startServe(t, 1, "--echo", "127.0.0.1:0")
	host, port, _ := net.SplitHostPort(s.addrs["echo"])
	payload := randomBytes(t, 256<<10)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, nc, "-N", host, port)
	cmd.Stdin = bytes.NewReader(payload)
	got, err := cmd.Output()
	if err != nil {
		t.Fatalf("nc: %v", err)
	}
	if !bytes.Equal(got, payload) {
		t.Fatalf("nc got %d bytes back, want %d byte-exact", len(got), len(payload))
	}
}

// TestServeSignalExitsFast: SIGINT with nothing pending exits 0 within
// milliseconds, even with an idle client connected.
func TestServeSignalExitsFast(t *testing.T) {
	s := startServe(t, 1, "--echo", "127.0.0.1:0", "--loops", "2")
	c, err := net.Dial("tcp", s.addrs["echo"])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	echoRoundTrip(t, s.addrs["echo"], []byte("ping"))
	code, took := s.stop(t, syscall.SIGINT)
	if code != 0 {
		t.Fatalf("exit code %d; stderr:\n%s", code, s.stderr)
	}
	t.Logf("exit after SIGINT took %v", took)
	if took > time.Second {
		t.Fatalf("exit took %v, want milliseconds", took)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("idle client: read %d, %v; want EOF after shutdown", n, err)
	}
}

// runCmd runs the edgeloop binary to its end and returns its exit code,
// stdout and stderr.
func runCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var o, e bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, o.String(), e.String()
}

func TestServeFlags(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		code     int
		inOutput string
	}{
		{"help", []string{"serve", "--help"}, 0, "--echo"},
		{"top help", []string{"--help"}, 0, "edgeloop serve"},
		{"unknown command", []string{"frobnicate"}, 2, "unknown command"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCmd(t, tc.args...)
			if code != tc.code {
				t.Errorf("exit code %d, want %d; output:\n%s%s", code, tc.code, stdout, stderr)
			}
			if !strings.Contains(stdout+stderr, tc.inOutput) {
				t.Errorf("output lacks %q:\n%s%s", tc.inOutput, stdout, stderr)
			}
		})
	}
}

// TestServeHelpSaysWhatIsRefused: each flag's help says what it does with
// values out of range, and the exit statuses are listed.
func TestServeHelpSaysWhatIsRefused(t *testing.T) {
	_, help, _ := runCmd(t, "serve", "--help")
	for _, flag := range []string{"--echo", "--backend", "--loops", "--balance"} {
		i := strings.Index(help, "\n  "+flag+" ")
		if i < 0 {
			t.Fatalf("help lacks %s:\n%s", flag, help)
		}
		text := help[i+1:]
		if j := strings.Index(text, "\n  --"); j >= 0 {
			text = text[:j]
		}
		if !strings.Contains(text, "Refused (exit 2)") {
			t.Errorf("help of %s does not say what is refused:\n%s", flag, text)
		}
	}
	for _, want := range []string{"second SIGINT or SIGTERM", "3 if a second signal"} {
		if !strings.Contains(help, want) {
			t.Errorf("help lacks %q:\n%s", want, help)
		}
	}
}

// TestServeRefusesBadFlags: every nonsense value is refused before anything
// starts, with exit 2 and one line "edgeloop serve: ..." on stderr, the
// style of all serve's errors.
func TestServeRefusesBadFlags(t *testing.T) {
	backends := strings.Join(backend.Names(), ", ")
	tests := []struct {
		name string
		args []string
		want string // in the message
	}{
		{"loops 0", []string{"--loops", "0"}, "--loops 0 is out of range: give 1 to 1024"},
		{"loops negative", []string{"--loops", "-3"}, "--loops -3 is out of range"},
		{"loops too many", []string{"--loops", "1025"}, "--loops 1025 is out of range"},
		{"loops not a number", []string{"--loops", "x"}, `invalid value "x" for flag -loops`},
		{"unknown backend", []string{"--backend", "nosuch"}, `unknown backend "nosuch": the backends are ` + backends},
		{"address without port", []string{"--echo", "nonsense"}, `--echo "nonsense": want HOST:PORT`},
		{"port too large", []string{"--echo", "127.0.0.1:65536"}, `port "65536" is neither 0-65535`},
		{"port negative", []string{"--echo", "127.0.0.1:-1"}, `port "-1" is neither 0-65535`},
		{"only service disabled", []string{"--echo", ""}, "no service to run"},
		{"unknown flag", []string{"--frob"}, "flag provided but not defined: -frob"},
		{"stray argument", []string{"extra"}, `unexpected argument "extra"`},
		{"idle timeout negative", []string{"--idle-timeout", "-1s"}, "--idle-timeout -1s is out of range"},
		{"drain timeout negative", []string{"--drain-timeout", "-1s"}, "--drain-timeout -1s is out of range"},
		{"idle timeout too long", []string{"--idle-timeout", "1200h"}, "--idle-timeout 1200h0m0s is out of range"},
		{"datagram size 0", []string{"--datagram-size", "0"}, "--datagram-size 0 is out of range: give 1 to 65507"},
		{"max array 0", []string{"--max-array", "0"}, "--max-array 0 is out of range"},
		{"max array over memory", []string{"--max-array", "100", "--array-memory", "50"}, "--max-array 100 is out of range: give 1 to --array-memory (50) bytes"},
		{"array memory 0", []string{"--array-memory", "0"}, "--array-memory 0 is out of range"},
		{"datagram size too large", []string{"--datagram-size", "65508"}, "--datagram-size 65508 is out of range"},
		{"refid at stratum 2 not an address", []string{"--sntp-stratum", "2", "--sntp-refid", "LOCL"}, `--sntp-refid "LOCL": at stratum 2, give the upstream server's IPv4 address`},
		{"refid missing at stratum 3", []string{"--sntp-stratum", "3"}, `--sntp-refid "": at stratum 3`},
		{"stratum 0", []string{"--sntp-stratum", "0"}, "--sntp-stratum 0 is out of range: give 1 to 15"},
		{"stratum 16", []string{"--sntp-stratum", "16"}, "--sntp-stratum 16 is out of range"},
		{"refid too long", []string{"--sntp-refid", "ABCDE"}, `--sntp-refid "ABCDE": at stratum 1, give up to 4 printable ASCII`},
		{"daytime without port", []string{"--daytime", "localhost"}, `--daytime "localhost": want HOST:PORT`},
		{"unknown balance", []string{"--balance", "random"}, `unknown balance "random": give reuseport, round-robin, least-conns`},
		{"balance by number", []string{"--balance", "1"}, `unknown balance "1"`},
		{"lock-os-thread with a value", []string{"--lock-os-thread=maybe"}, `invalid boolean value "maybe" for -lock-os-thread`},
		{"unknown scheme", []string{"--echo", "sctp://127.0.0.1:0"}, `unknown scheme "sctp://": give HOST:PORT, tcp://HOST:PORT, udp://HOST:PORT or unix:///PATH`},
		{"udp for a TCP service", []string{"--qa", "udp://127.0.0.1:0"}, `qa has no UDP service: give HOST:PORT, tcp://HOST:PORT or unix:///PATH`},
		{"unix for a UDP service", []string{"--sntp", "unix:///tmp/sntp.sock"}, `sntp has no stream service to serve on a Unix socket: give HOST:PORT or udp://HOST:PORT`},
		{"tcp for a UDP service", []string{"--sntp", "tcp://127.0.0.1:0"}, `sntp has no TCP service`},
		{"unix without a path", []string{"--lines", "unix://"}, `want unix:///PATH`},
		{"unix path too long", []string{"--echo", "unix:///" + strings.Repeat("p", 120)}, `a Unix socket's path holds at most 103`},
		{"one bad address in a list", []string{"--echo", "127.0.0.1:0,nonsense"}, `--echo "nonsense": want HOST:PORT`},
		{"empty entry in a list", []string{"--echo", "127.0.0.1:0,"}, `--echo "": an empty address in the list`},
		{"tcp without a port", []string{"--echo", "tcp://127.0.0.1"}, `--echo "tcp://127.0.0.1": want HOST:PORT`},
		{"max line 0", []string{"--max-line", "0"}, "--max-line 0 is out of range: give 1 to 16777216 bytes"},
		{"max question too large", []string{"--max-question", "16777217"}, "--max-question 16777217 is out of range"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// A good address, so that only the flag under test is wrong.
			args := append([]string{"serve", "--echo", "127.0.0.1:0"}, tc.args...)
			code, stdout, stderr := runCmd(t, args...)
			if code != 2 {
				t.Errorf("exit code %d, want 2; stderr:\n%s", code, stderr)
			}
			if stdout != "" {
				t.Errorf("stdout %q, want nothing: no service may start", stdout)
			}
			checkOneLineError(t, "edgeloop serve: ", stderr, tc.want)
		})
	}
}

// TestServeListenErrorIsOneLine: a failure after start-up (here the port is
// taken) is reported in the same style, with exit 1.
func TestServeListenErrorIsOneLine(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	code, _, stderr := runCmd(t, "serve", "--loops", "1", "--echo", taken.Addr().String())
	if code != 1 {
		t.Errorf("exit code %d, want 1; stderr:\n%s", code, stderr)
	}
	if !strings.HasPrefix(stderr, "edgeloop serve: echo: ") || strings.Count(stderr, "\n") != 1 ||
		!strings.Contains(stderr, "address already in use") {
		t.Errorf("stderr is not one line \"edgeloop serve: echo: ... address already in use\":\n%s", stderr)
	}
}

// TestServeSecondSignalForcesExit: a second SIGINT or SIGTERM during the
// graceful shutdown exits at once, with status 3, instead of waiting for
// the shutdown's bound.
func TestServeSecondSignalForcesExit(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			s := startServe(t, 1, "--echo", "127.0.0.1:0", "--loops", "1")
			defer fillUnread(t, s.addrs["echo"]).Close()
			s.cmd.Process.Signal(sig)
			s.stderr.waitFor(t, `msg="shutting down"`, 10*time.Second)
			code, took := s.stop(t, sig)
			t.Logf("exit %d %v after the second %v", code, took, sig)
			if code != 3 {
				t.Errorf("exit code %d, want 3; stderr:\n%s", code, s.stderr)
			}
			if took > shutdownGrace/2 {
				t.Errorf("exit took %v after the second signal, want at once (the bound is %v)", took, shutdownGrace)
			}
			if !strings.Contains(s.stderr.String(), "edgeloop serve: second signal") {
				t.Errorf("stderr does not say why it exited:\n%s", s.stderr)
			}
		})
	}
}

// TestBenchNonTerminalHasNoCarriageReturn: with its output going to pipes,
// as in CI or `edgeloop bench 2>log`, bench writes plain lines, one per
// cell, and no carriage-return frames.
func TestBenchNonTerminalHasNoCarriageReturn(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "bench", "--duration", "200ms", "--warmup", "50ms", "--reps", "1",
		"--backends", "epoll", "--protocols", "echo", "--conns", "8", "--out", t.TempDir())
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("edgeloop bench: %v; stderr:\n%s", err, &stderr)
	}
	for name, out := range map[string][]byte{"stdout": stdout.Bytes(), "stderr": stderr.Bytes()} {
		if i := bytes.IndexByte(out, '\r'); i >= 0 {
			t.Errorf("%s has a carriage return at byte %d:\n%q", name, i, out)
		}
	}
	if !strings.Contains(stderr.String(), "cell 2/2: echo/size=64/conns=8 epoll\n") {
		t.Errorf("stderr lacks a plain line per cell:\n%s", &stderr)
	}
}

// TestBenchRefusesBadFlags: every nonsense value is refused before anything
// runs, with exit 2 and one line "edgeloop bench: ...".
func TestBenchRefusesBadFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string // in the message
	}{
		{"duration 0", []string{"--duration", "0"}, "--duration 0s is too short: give at least 10ms"},
		{"duration negative", []string{"--duration", "-1s"}, "--duration -1s is too short"},
		{"duration too short", []string{"--duration", "1ms"}, "--duration 1ms is too short"},
		{"warmup negative", []string{"--warmup", "-1ms"}, "--warmup -1ms is negative"},
		{"reps 0", []string{"--reps", "0"}, "--reps 0 is out of range: give 1 or more"},
		{"reps negative", []string{"--reps", "-2"}, "--reps -2 is out of range"},
		{"conns 0", []string{"--conns", "0"}, "--conns 0 is out of range: give 1 to"},
		{"conns negative", []string{"--conns", "64,-5"}, "--conns -5 is out of range"},
		{"conns past the fd limit", []string{"--conns", "99999999"}, "--conns 99999999 is out of range"},
		{"conns not a number", []string{"--conns", "x"}, `--conns "x" is not a number`},
		{"conns repeated", []string{"--conns", "8,8"}, `--conns lists "8" twice`},
		{"no protocol", []string{"--protocols", ""}, "--protocols is empty"},
		{"unknown protocol", []string{"--protocols", "nosuch"}, `unknown protocol "nosuch": the protocols are echo, echo16k`},
		{"protocol repeated", []string{"--protocols", "echo,echo"}, `--protocols lists "echo" twice`},
		{"unknown backend", []string{"--backends", "nosuch"}, `unknown backend "nosuch"`},
		{"backend repeated", []string{"--backends", "epoll,epoll"}, `--backends lists "epoll" twice`},
		{"no out dir", []string{"--out", ""}, "--out is empty"},
		{"not a duration", []string{"--warmup", "soon"}, `invalid value "soon" for flag -warmup`},
		{"unknown flag", []string{"--frob"}, "flag provided but not defined: -frob"},
		{"stray argument", []string{"extra"}, `unexpected argument "extra"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// The smallest run, should the value under test (given last,
			// so it wins) be taken after all.
			out := filepath.Join(t.TempDir(), "out")
			args := append([]string{"bench", "--backends", "epoll", "--protocols", "echo", "--conns", "8",
				"--duration", "10ms", "--warmup", "0", "--reps", "1", "--out", out}, tc.args...)
			code, stdout, stderr := runCmd(t, args...)
			if code != 2 {
				t.Errorf("exit code %d, want 2; stderr:\n%s", code, stderr)
			}
			if stdout != "" {
				t.Errorf("stdout %q, want nothing: no benchmark may run", stdout)
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("%s was made: no benchmark may run", out)
			}
			checkOneLineError(t, "edgeloop bench: ", stderr, tc.want)
		})
	}
}

// TestBenchHelpSaysWhatIsRefused: each flag's help says what it refuses.
func TestBenchHelpSaysWhatIsRefused(t *testing.T) {
	code, help, _ := runCmd(t, "bench", "--help")
	if code != 0 {
		t.Fatalf("exit code %d, want 0", code)
	}
	for _, flag := range []string{"--backends", "--protocols", "--conns", "--duration", "--warmup", "--reps", "--out"} {
		i := strings.Index(help, "\n  "+flag+" ")
		if i < 0 {
			t.Fatalf("help lacks %s:\n%s", flag, help)
		}
		text := help[i+1:]
		if j := strings.Index(text, "\n  --"); j >= 0 {
			text = text[:j]
		}
		if !strings.Contains(text, "Refused (exit 2)") {
			t.Errorf("help of %s does not say what is refused:\n%s", flag, text)
		}
	}
}

// TestServeShutdownCutShortExitsFailed is the regression test for serve
// exiting 0 when its shutdown bound cut the flush short: output was dropped,
// and a supervisor must be able to tell that from a clean stop.
func TestServeShutdownCutShortExitsFailed(t *testing.T) {
	if testing.Short() {
		t.Skipf("waits out serve's %v shutdown bound", shutdownGrace)
	}
	s := startServe(t, 1, "--echo", "127.0.0.1:0", "--loops", "1")
	defer fillUnread(t, s.addrs["echo"]).Close()
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.waited:
		s.waited <- err // for Cleanup
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		if code != 1 {
			t.Errorf("exit code %d after a shutdown cut short, want 1; stderr:\n%s", code, s.stderr)
		}
		if !strings.Contains(s.stderr.String(), "shutdown cut short") {
			t.Errorf("stderr does not say the shutdown was cut short:\n%s", s.stderr)
		}
	case <-time.After(shutdownGrace + 10*time.Second):
		t.Fatalf("serve had not exited %v after SIGTERM; stderr:\n%s", shutdownGrace+10*time.Second, s.stderr)
	}
}

// TestBackendsRefusesArguments: `edgeloop backends extra` is a mistake, and
// says so with exit 2 instead of listing the backends.
func TestBackendsRefusesArguments(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"backends", "extra"}, &stdout, &stderr); code != 2 {
		t.Fatalf("exit %d, want 2; stdout %q stderr %q", code, &stdout, &stderr)
	}
	if !strings.Contains(stderr.String(), `unexpected argument "extra"`) {
		t.Fatalf("stderr %q does not name the argument", &stderr)
	}
}

// fillUnread connects to an echo at addr as a peer that sends and never
// reads the echo, and fills the pipe: it writes until a write makes no
// progress for 200 ms. The server then holds echo output it cannot send (at
// its output cap it stopped reading), so a graceful shutdown waits for this
// peer until its bound. The caller closes the connection.
func fillUnread(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64<<10)
	for deadline := time.Now().Add(20 * time.Second); ; {
		if time.Now().After(deadline) {
			c.Close()
			t.Fatal("the connection still took data after 20s without reading")
		}
		c.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
		if _, err := c.Write(buf); errors.Is(err, os.ErrDeadlineExceeded) {
			return c
		} else if err != nil {
			c.Close()
			t.Fatal(err)
		}
	}
}

// checkOneLineError checks that stderr is one line, "PREFIX...", naming want.
func checkOneLineError(t *testing.T, prefix, stderr, want string) {
	t.Helper()
	if !strings.HasPrefix(stderr, prefix) || strings.Count(stderr, "\n") != 1 {
		t.Errorf("stderr is not one line \"%s...\":\n%s", prefix, stderr)
	}
	if !strings.Contains(stderr, want) {
		t.Errorf("stderr lacks %q:\n%s", want, stderr)
	}
}

// TestServeTimeServices: `edgeloop serve` runs daytime, time and SNTP on
// every backend, and clients nobody here wrote read the time from them:
// rdate (RFC 868 over TCP and UDP, SNTP) and socat (UDP daytime, UDP echo).
// The time they report must be the clock's, within the seconds the test
// takes.
func TestServeTimeServices(t *testing.T) {
	rdate := needTool(t, "rdate")
	socat := needTool(t, "socat")
	for _, b := range backend.Names() {
		t.Run(b, func(t *testing.T) {
			s := startServe(t, 7, "--backend", b, "--loops", "1", "--echo", "127.0.0.1:0",
				"--daytime", "127.0.0.1:0", "--time", "127.0.0.1:0", "--sntp", "127.0.0.1:0")
			run := func(stdin string, name string, args ...string) string {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				cmd := exec.CommandContext(ctx, name, args...)
				cmd.Env = []string{"TZ=UTC"}
				cmd.Stdin = strings.NewReader(stdin)
				out, err := cmd.Output()
				if err != nil {
					t.Fatalf("%s %v: %v", name, args, err)
				}
				return string(out)
			}
			port := func(key string) string {
				_, p, _ := net.SplitHostPort(s.addrs[key])
				return p
			}
			near := func(what, out, layout string) {
				t.Helper()
				got, err := time.Parse(layout, strings.TrimSpace(out))
				if err != nil {
					t.Fatalf("%s printed %q: %v", what, out, err)
				}
				if d := time.Since(got); d < -2*time.Second || d > 5*time.Second {
					t.Errorf("%s reports %v, %v from the clock", what, got, d)
				}
			}
			const rdateLayout = "Mon Jan _2 15:04:05 MST 2006"
			near("rdate (time over TCP)", run("", rdate, "-p", "-o", port("time"), "127.0.0.1"), rdateLayout)
			near("rdate -u (time over UDP)", run("", rdate, "-p", "-u", "-o", port("time/udp"), "127.0.0.1"), rdateLayout)
			near("rdate -n (SNTP)", run("", rdate, "-p", "-n", "-o", port("sntp/udp"), "127.0.0.1"), rdateLayout)
			near("socat (daytime over UDP)", run("now?\n", socat, "-T", "5", "-", "UDP:"+s.addrs["daytime/udp"]), time.ANSIC)
			if got := run("ping", socat, "-T", "5", "-", "UDP:"+s.addrs["echo/udp"]); got != "ping" {
				t.Errorf("socat over UDP echo got %q, want %q", got, "ping")
			}
			if code, _ := s.stop(t, syscall.SIGTERM); code != 0 {
				t.Fatalf("exit code %d after SIGTERM; stderr:\n%s", code, s.stderr)
			}
		})
	}
}

// TestServeSNTPIdentity: --sntp-stratum and --sntp-refid reach the replies;
// above stratum 1 the reference ID is the upstream server's IPv4 address.
func TestServeSNTPIdentity(t *testing.T) {
	s := startServe(t, 1, "--loops", "1", "--sntp", "127.0.0.1:0", "--sntp-stratum", "2", "--sntp-refid", "10.1.2.3")
	uc, err := net.Dial("udp", s.addrs["sntp/udp"])
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	uc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := uc.Write(timeproto.SNTPRequest(nil, 4, time.Now())); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 100)
	n, err := uc.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	p, err := timeproto.ParseSNTPReply(buf[:n])
	if err != nil {
		t.Fatal(err)
	}
	if p.Stratum != 2 || p.RefID != [4]byte{10, 1, 2, 3} {
		t.Errorf("stratum %d, reference ID %v; want 2 and 10.1.2.3", p.Stratum, p.RefID)
	}
}

// TestServeArrayMemoryReturns: a client that sends the header of a 256 MiB
// array and 200 MiB of it, then resets the connection or stalls until the
// idle timeout closes it, leaves no buffer behind: the server's resident
// memory returns to near where it started.
func TestServeArrayMemoryReturns(t *testing.T) {
	for _, tc := range []struct {
		name  string
		end   func(nc *net.TCPConn)
		extra []string
	}{
		{"reset", func(nc *net.TCPConn) { nc.SetLinger(0); nc.Close() }, nil},
		{"stall", func(*net.TCPConn) {}, []string{"--idle-timeout", "2s"}}, // loose: 200 MiB on a loaded machine
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startServe(t, 1, append([]string{"--loops", "1", "--array", "127.0.0.1:0"}, tc.extra...)...)
			pid := s.cmd.Process.Pid
			base := rssKB(t, pid)
			u1, err := array.ParseDType("|u1")
			if err != nil {
				t.Fatal(err)
			}
			hdr, err := array.AppendHeader(nil, array.Header{Descr: u1, Shape: []int{256 << 20}})
			if err != nil {
				t.Fatal(err)
			}
			// Made before the dial: under -race on a loaded machine,
			// filling 200 MiB took longer than the stall case's idle
			// timeout, and the server rightly closed the silent client.
			data := make([]byte, 200<<20)
			for i := range data {
				data[i] = byte(i)
			}
			c, err := net.Dial("tcp", s.addrs["array"])
			if err != nil {
				t.Fatal(err)
			}
			nc := c.(*net.TCPConn)
			defer nc.Close()
			nc.SetDeadline(time.Now().Add(60 * time.Second))
			if _, err := nc.Write(hdr); err != nil {
				t.Fatal(err)
			}
			if _, err := nc.Write(data); err != nil {
				t.Fatal(err)
			}
			waitRSS(t, pid, "the array to fill", func(kb int64) bool { return kb > base+150<<10 })
			tc.end(nc)
			waitRSS(t, pid, "the array's memory to be returned", func(kb int64) bool { return kb < base+32<<10 })
			t.Logf("RSS %d KiB at start, back to %d KiB", base, rssKB(t, pid))
		})
	}
}

// rssKB reads a process's resident set size.
func rssKB(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("/proc", fmt.Sprint(pid), "status"))
	if err != nil {
		t.Skipf("no /proc here: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		var kb int64
		if n, _ := fmt.Sscanf(line, "VmRSS: %d kB", &kb); n == 1 {
			return kb
		}
	}
	t.Fatal("no VmRSS in /proc/PID/status")
	return 0
}

// waitRSS waits up to 30 s for the process's RSS to satisfy ok.
func waitRSS(t *testing.T, pid int, what string, ok func(kb int64) bool) {
	t.Helper()
	end := time.Now().Add(30 * time.Second)
	for {
		kb := rssKB(t, pid)
		if ok(kb) {
			return
		}
		if time.Now().After(end) {
			fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
			t.Fatalf("waited 30 s for %s; RSS is %d KiB, the process has %d descriptors open", what, kb, len(fds))
		}
		time.Sleep(10 * time.Millisecond) // polling /proc, with a deadline
	}
}
