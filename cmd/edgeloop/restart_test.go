package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/edgeloop/edgeloop/internal/conformance"
)

// process is an `edgeloop serve` whose output goes to pipes this test
// reads itself, so that a replacement that inherits them outlives no
// exec.Cmd.Wait: Wait returns when the first process exits.
type process struct {
	cmd            *exec.Cmd
	stdout, stderr *logBuffer
	waited         chan error
}

// startProcess runs binary with args, env added to the environment and
// extra as fds 3 and on.
func startProcess(t *testing.T, binary string, env []string, extra []*os.File, args ...string) *process {
	t.Helper()
	p := &process{stdout: newLogBuffer(), stderr: newLogBuffer(), waited: make(chan error, 1)}
	p.cmd = exec.Command(binary, args...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.ExtraFiles = extra
	for _, out := range []struct {
		set *io.Writer
		buf *logBuffer
	}{{&p.cmd.Stdout, p.stdout}, {&p.cmd.Stderr, p.stderr}} {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		*out.set = w
		defer w.Close()
		go func() {
			io.Copy(out.buf, r)
			r.Close()
		}()
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.waited <- p.cmd.Wait() }()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.waited
		p.waited <- nil
	})
	return p
}

// exit waits for p to exit and returns its status.
func (p *process) exit(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case err := <-p.waited:
		p.waited <- err
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(d):
		t.Fatalf("pid %d did not exit within %v; stderr:\n%s", p.cmd.Process.Pid, d, p.stderr)
	}
	return -1
}

// addr returns the address of a "listening SERVICE NETWORK ADDR" line.
func (p *process) addr(t *testing.T, service, network string) string {
	t.Helper()
	prefix := "listening " + service + " " + network + " "
	p.stdout.waitFor(t, prefix, 20*time.Second)
	for _, line := range strings.Split(p.stdout.String(), "\n") {
		if a, ok := strings.CutPrefix(line, prefix); ok {
			return a
		}
	}
	t.Fatalf("no %q line", prefix)
	return ""
}

// successor returns the pid of the replacement the old process reported
// ready, and kills it when the test ends.
func (p *process) successor(t *testing.T) int {
	t.Helper()
	p.stderr.waitFor(t, `msg="restart: replacement ready"`, 40*time.Second)
	m := regexp.MustCompile(`msg="restart: replacement ready" pid=(\d+)`).FindStringSubmatch(p.stderr.String())
	pid, _ := strconv.Atoi(m[1])
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
	return pid
}

// exchange connects to network/addr and has msg echoed.
func exchange(network, addr, msg string) (dialErr, err error) {
	c, err := net.DialTimeout(network, addr, 10*time.Second)
	if err != nil {
		return err, nil
	}
	defer c.Close()
	if tc, ok := c.(*net.TCPConn); ok {
		// Close with an RST once done: tens of thousands of connections
		// in TIME_WAIT would use up the ephemeral ports of a busy machine.
		tc.SetLinger(0)
	}
	return nil, echoOver(c, msg)
}

// echoOver sends msg over c and reads it back.
func echoOver(c net.Conn, msg string) error {
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, msg); err != nil {
		return err
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		return err
	}
	if string(got) != msg {
		return fmt.Errorf("echoed %q, want %q", got, msg)
	}
	return nil
}

// load connects and exchanges over and over from several goroutines,
// counting what failed.
type load struct {
	ok, dialFailed, failed atomic.Int64
	mu                     sync.Mutex
	errs                   []string
	stop                   chan struct{}
	wg                     sync.WaitGroup
}

func startLoad(targets [][2]string, workers int) *load {
	ld := &load{stop: make(chan struct{})}
	for w := 0; w < workers; w++ {
		ld.wg.Add(1)
		go func() {
			defer ld.wg.Done()
			for i := 0; ; i++ {
				select {
				case <-ld.stop:
					return
				default:
				}
				tg := targets[(w+i)%len(targets)]
				dialErr, err := exchange(tg[0], tg[1], fmt.Sprintf("worker %d exchange %d\n", w, i))
				switch {
				case dialErr != nil:
					ld.dialFailed.Add(1)
					ld.note(fmt.Sprintf("connect %s %s: %v", tg[0], tg[1], dialErr))
				case err != nil:
					ld.failed.Add(1)
					ld.note(fmt.Sprintf("exchange %s %s: %v", tg[0], tg[1], err))
				default:
					ld.ok.Add(1)
				}
			}
		}()
	}
	return ld
}

func (ld *load) note(s string) {
	ld.mu.Lock()
	defer ld.mu.Unlock()
	if len(ld.errs) < 5 {
		ld.errs = append(ld.errs, s)
	}
}

// waitOK waits until n more exchanges have worked.
func (ld *load) waitOK(t *testing.T, n int64, what string) {
	t.Helper()
	want := ld.ok.Load() + n
	deadline := time.Now().Add(40 * time.Second)
	for ld.ok.Load() < want {
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d exchanges worked, want %d", what, ld.ok.Load(), want)
		}
		time.Sleep(5 * time.Millisecond) // polling a counter, not waiting for time to pass
	}
}

func (ld *load) end() {
	close(ld.stop)
	ld.wg.Wait()
}

// socketInodes returns the inodes of the sockets pid holds.
func socketInodes(t *testing.T, pid int) map[string]bool {
	t.Helper()
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, e := range ents {
		if l, err := os.Readlink(filepath.Join(dir, e.Name())); err == nil {
			if ino, ok := strings.CutPrefix(l, "socket:["); ok {
				out[strings.TrimSuffix(ino, "]")] = true
			}
		}
	}
	return out
}

// listenInodes returns the inodes of the TCP sockets listening on port
// (/proc/net/tcp: state 0A) and of the UDP sockets bound to it.
func listenInodes(t *testing.T, port int) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	hexPort := fmt.Sprintf(":%04X", port)
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6", "/proc/net/udp", "/proc/net/udp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(strings.NewReader(string(b)))
		for sc.Scan() {
			fs := strings.Fields(sc.Text())
			if len(fs) < 10 || !strings.HasSuffix(fs[1], hexPort) {
				continue
			}
			if strings.Contains(f, "tcp") && fs[3] != "0A" {
				continue
			}
			out[fs[9]] = true
		}
	}
	return out
}

// gone waits for pid to be gone (or a zombie nobody reaps).
func gone(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return syscall.Kill(pid, 0) != nil
	}
	f := strings.Fields(string(b))
	return len(f) > 2 && f[2] == "Z"
}

// TestServeRestartUnderLoad sends SIGHUP to a serve with several loops
// while clients connect and exchange over TCP and a Unix socket without a
// pause, and checks that not one connect or exchange fails; that the new
// process holds every socket the old listened on (each loop's SO_REUSEPORT
// socket); that the old exits 0 once its open connection is done (closed
// by the client, or by --drain-timeout); that the Unix socket's file stays;
// that the new process serves TCP, UDP and the Unix socket; and that it
// removes the Unix socket's file when it shuts down.
func TestServeRestartUnderLoad(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	for _, tc := range []struct {
		name    string
		backend string
		drain   string
		closeIt bool // the client ends the long connection; else the drain timeout does
	}{
		{"long connection ends", "epoll", "60s", true},
		{"drain timeout ends the long connection", "epoll", "1s", false},
		{"net backend", "net", "60s", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, err := os.MkdirTemp("", "el")
			if err != nil {
				t.Fatal(err)
			}
			defer os.RemoveAll(dir)
			path := filepath.Join(dir, "e.sock")
			const loops = 3
			old := startProcess(t, bin, nil, nil, "serve", "--echo", "127.0.0.1:0,unix://"+path,
				"--loops", strconv.Itoa(loops), "--drain-timeout", tc.drain, "--backend", tc.backend)
			tcp := old.addr(t, "echo", "tcp")
			udp := old.addr(t, "echo", "udp")
			old.addr(t, "echo", "unix")
			old.stderr.waitFor(t, "msg=serving", 20*time.Second)
			_, portStr, _ := net.SplitHostPort(tcp)
			port, _ := strconv.Atoi(portStr)
			listening := listenInodes(t, port)
			mine := socketInodes(t, old.cmd.Process.Pid)
			var oldSockets []string
			for ino := range listening {
				if mine[ino] {
					oldSockets = append(oldSockets, ino)
				}
			}
			perAddr := loops // a SO_REUSEPORT socket per loop
			if tc.backend == "net" {
				perAddr = 1
			}
			if len(oldSockets) != 2*perAddr {
				t.Fatalf("the old process holds %d TCP and UDP sockets on port %d, want %d", len(oldSockets), port, 2*perAddr)
			}

			long, err := net.DialTimeout("tcp", tcp, 10*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer long.Close()
			if err := echoOver(long, "before the restart\n"); err != nil {
				t.Fatal(err)
			}

			ld := startLoad([][2]string{{"tcp", tcp}, {"unix", path}}, 8)
			defer ld.end()
			ld.waitOK(t, 200, "before SIGHUP")
			old.cmd.Process.Signal(syscall.SIGHUP)
			pid := old.successor(t)
			old.stderr.waitFor(t, `msg="restart: handed over; draining"`, 20*time.Second)
			ld.waitOK(t, 300, "after the hand-over")

			held := socketInodes(t, pid)
			for _, ino := range oldSockets {
				if !held[ino] {
					t.Errorf("the new process does not hold socket inode %s, one of the old's on port %d", ino, port)
				}
			}
			if tc.closeIt {
				if err := echoOver(long, "during the drain\n"); err != nil {
					t.Fatalf("the connection opened before the restart, during the drain: %v", err)
				}
				long.Close()
			} else {
				// The drain timeout closes it: the client reads EOF.
				long.SetReadDeadline(time.Now().Add(20 * time.Second))
				if n, err := long.Read(make([]byte, 1)); err != io.EOF {
					t.Fatalf("long connection after the drain timeout: read %d, %v; want EOF", n, err)
				}
			}
			if code := old.exit(t, 40*time.Second); code != 0 {
				t.Fatalf("the old process exited %d, want 0; stderr:\n%s", code, old.stderr)
			}
			ld.waitOK(t, 300, "after the old process exited")
			ld.end()
			ld.stop = make(chan struct{}) // for the deferred end
			t.Logf("%d exchanges worked through the restart", ld.ok.Load())
			if n, m := ld.dialFailed.Load(), ld.failed.Load(); n != 0 || m != 0 {
				t.Errorf("%d connects and %d exchanges failed of %d (first: %q); stderr:\n%s",
					n, m, ld.ok.Load()+n+m, ld.errs, old.stderr)
			}
			if _, err := os.Lstat(path); err != nil {
				t.Errorf("the Unix socket's file after the old process exited: %v", err)
			}
			if err := conformance.UDPEchoes(udp); err != nil {
				t.Errorf("UDP after the restart: %v", err)
			}
			syscall.Kill(pid, syscall.SIGTERM)
			deadline := time.Now().Add(20 * time.Second)
			for !gone(pid) {
				if time.Now().After(deadline) {
					t.Fatalf("the new process (pid %d) did not exit on SIGTERM", pid)
				}
				time.Sleep(10 * time.Millisecond) // polling for the exit
			}
			if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the Unix socket's file after the new process's own shutdown: %v, want it removed", err)
			}
		})
	}
}

// TestServeRestartFailedReplacementServesOn replaces the binary with one
// that exits at once (a broken upgrade) and sends SIGHUP: the old process
// must say why, keep serving on every socket, and, at its own shutdown,
// still remove its Unix socket's file.
func TestServeRestartFailedReplacementServesOn(t *testing.T) {
	dir, err := os.MkdirTemp("", "el")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	exe := filepath.Join(dir, "edgeloop")
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(exe, b, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "e.sock")
	old := startProcess(t, exe, nil, nil, "serve", "--echo", "127.0.0.1:0,unix://"+path, "--loops", "2")
	tcp := old.addr(t, "echo", "tcp")
	udp := old.addr(t, "echo", "udp")
	old.stderr.waitFor(t, "msg=serving", 20*time.Second)
	broken := filepath.Join(dir, "broken")
	if err := os.WriteFile(broken, []byte("#!/bin/sh\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(broken, exe); err != nil {
		t.Fatal(err)
	}
	old.cmd.Process.Signal(syscall.SIGHUP)
	old.stderr.waitFor(t, "exited before it was ready; serving on", 40*time.Second)
	for i := 0; i < 50; i++ {
		for _, tg := range [][2]string{{"tcp", tcp}, {"unix", path}} {
			if dialErr, err := exchange(tg[0], tg[1], fmt.Sprintf("exchange %d\n", i)); dialErr != nil || err != nil {
				t.Fatalf("%s after the failed restart: connect %v, exchange %v; stderr:\n%s", tg[0], dialErr, err, old.stderr)
			}
		}
	}
	if err := conformance.UDPEchoes(udp); err != nil {
		t.Fatalf("UDP after the failed restart: %v", err)
	}
	old.cmd.Process.Signal(syscall.SIGTERM)
	if code := old.exit(t, 20*time.Second); code != 0 {
		t.Fatalf("exit %d after SIGTERM, want 0; stderr:\n%s", code, old.stderr)
	}
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the Unix socket's file after a shutdown with no hand-over: %v, want it removed", err)
	}
}

// TestServeRestartUnsupportedBackendServesOn sends SIGHUP to serve on gnet,
// which cannot hand its sockets over: serve says so and serves on.
func TestServeRestartUnsupportedBackendServesOn(t *testing.T) {
	p := startProcess(t, bin, nil, nil, "serve", "--echo", "tcp://127.0.0.1:0", "--backend", "gnet", "--loops", "2")
	tcp := p.addr(t, "echo", "tcp")
	p.stderr.waitFor(t, "msg=serving", 20*time.Second)
	p.cmd.Process.Signal(syscall.SIGHUP)
	p.stderr.waitFor(t, "cannot hand over the listening sockets; serving on", 20*time.Second)
	if dialErr, err := exchange("tcp", tcp, "still here\n"); dialErr != nil || err != nil {
		t.Fatalf("after SIGHUP: connect %v, exchange %v", dialErr, err)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.exit(t, 20*time.Second); code != 0 {
		t.Fatalf("exit %d after SIGTERM; stderr:\n%s", code, p.stderr)
	}
}

// TestServeRestartTwice restarts a process that itself took its sockets
// from a predecessor: it hands them on in turn, leaves the Unix socket's
// file to its own successor, and the third process serves.
func TestServeRestartTwice(t *testing.T) {
	dir, err := os.MkdirTemp("", "el")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "e.sock")
	first := startProcess(t, bin, nil, nil, "serve", "--echo", "127.0.0.1:0,unix://"+path, "--loops", "2")
	tcp := first.addr(t, "echo", "tcp")
	first.stderr.waitFor(t, "msg=serving", 20*time.Second)
	first.cmd.Process.Signal(syscall.SIGHUP)
	second := first.successor(t)
	if code := first.exit(t, 40*time.Second); code != 0 {
		t.Fatalf("the first process exited %d; stderr:\n%s", code, first.stderr)
	}
	syscall.Kill(second, syscall.SIGHUP) // its log goes to the same stderr
	deadline := time.Now().Add(40 * time.Second)
	for !gone(second) {
		if time.Now().After(deadline) {
			t.Fatalf("the second process (pid %d) did not exit after handing over; stderr:\n%s", second, first.stderr)
		}
		time.Sleep(10 * time.Millisecond) // polling for the exit
	}
	ms := regexp.MustCompile(`msg="restart: replacement ready" pid=(\d+)`).FindAllStringSubmatch(first.stderr.String(), -1)
	if len(ms) != 2 {
		t.Fatalf("want two replacements ready; stderr:\n%s", first.stderr)
	}
	third, _ := strconv.Atoi(ms[1][1])
	defer syscall.Kill(third, syscall.SIGKILL)
	for _, tg := range [][2]string{{"tcp", tcp}, {"unix", path}} {
		if dialErr, err := exchange(tg[0], tg[1], "third\n"); dialErr != nil || err != nil {
			t.Fatalf("%s served by the third process: connect %v, exchange %v; stderr:\n%s", tg[0], dialErr, err, first.stderr)
		}
	}
}
