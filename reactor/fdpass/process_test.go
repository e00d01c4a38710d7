package fdpass_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgeloop/edgeloop/reactor"
	"github.com/edgeloop/edgeloop/reactor/fdpass"
)

// helperEnv switches the test binary into a helper process of
// TestHandoffProcesses: "acceptor N" or "worker".
const helperEnv = "EDGELOOP_FDPASS_HELPER"

func TestMain(m *testing.M) {
	switch role := os.Getenv(helperEnv); {
	case role == "worker":
		os.Exit(runWorker())
	case strings.HasPrefix(role, "acceptor "):
		n, _ := strconv.Atoi(strings.TrimPrefix(role, "acceptor "))
		os.Exit(runAcceptor(n))
	}
	os.Exit(m.Run())
}

// runWorker serves the connections its acceptor sends on descriptor 3,
// each tagged with the worker's pid, on a Loop of two event loops, until
// the acceptor closes its end.
func runWorker() int {
	from, err := unixConnAt(3)
	if err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		return 1
	}
	l, err := reactor.New(reactor.WithLoops(2))
	if err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		return 1
	}
	err = fdpass.Serve(l, from, tagged(strconv.Itoa(os.Getpid())))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	l.Shutdown(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		return 1
	}
	return 0
}

// runAcceptor listens on 127.0.0.1:0, prints the address on stdout and
// hands every connection to its n workers (descriptors 3 to 3+n-1) until
// its stdin closes. It logs to stderr.
func runAcceptor(n int) int {
	var workers []*net.UnixConn
	for i := 0; i < n; i++ {
		c, err := unixConnAt(3 + i)
		if err != nil {
			fmt.Fprintln(os.Stderr, "acceptor:", err)
			return 1
		}
		workers = append(workers, c)
	}
	l, err := reactor.New(reactor.WithLoops(1))
	if err != nil {
		fmt.Fprintln(os.Stderr, "acceptor:", err)
		return 1
	}
	d := fdpass.NewDispatcher(workers, slog.New(slog.NewTextHandler(os.Stderr, nil)))
	addr, err := l.Listen("tcp", "127.0.0.1:0", d.Factory)
	if err != nil {
		fmt.Fprintln(os.Stderr, "acceptor:", err)
		return 1
	}
	fmt.Println(addr)
	io.Copy(io.Discard, os.Stdin)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	l.Shutdown(ctx)
	d.Close()
	return 0
}

// unixConnAt makes a *net.UnixConn of the inherited descriptor fd.
func unixConnAt(fd int) (*net.UnixConn, error) {
	f := os.NewFile(uintptr(fd), "inherited")
	defer f.Close()
	c, err := net.FileConn(f)
	if err != nil {
		return nil, err
	}
	uc, ok := c.(*net.UnixConn)
	if !ok {
		c.Close()
		return nil, fmt.Errorf("descriptor %d is a %T, not a Unix socket", fd, c)
	}
	return uc, nil
}

// filePair returns both ends of a Unix stream socket pair as files.
func filePair(t *testing.T) (*os.File, *os.File) {
	t.Helper()
	fds, err := socketpair()
	if err != nil {
		t.Fatal(err)
	}
	return os.NewFile(uintptr(fds[0]), "acceptor-end"), os.NewFile(uintptr(fds[1]), "worker-end")
}

// TestHandoffProcesses runs the hand-off with real processes: this test
// binary re-executed as an acceptor and two workers, each worker with its
// own Loop. Clients' echo exchanges must all succeed and reach both
// workers (each tags its connections with its pid); after one worker is
// killed, every exchange must still succeed, on the other, and the
// acceptor must log the failure.
func TestHandoffProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	const nWorkers = 2
	var accEnds []*os.File
	var workers []*exec.Cmd
	pids := map[string]int{} // tag (pid) -> index in workers
	for i := 0; i < nWorkers; i++ {
		a, w := filePair(t)
		cmd := exec.Command(self, "-test.run=^$")
		cmd.Env = append(os.Environ(), helperEnv+"=worker")
		cmd.ExtraFiles = []*os.File{w}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		w.Close() // the worker's now
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		workers = append(workers, cmd)
		pids[strconv.Itoa(cmd.Process.Pid)] = i
		accEnds = append(accEnds, a)
	}
	acc := exec.Command(self, "-test.run=^$")
	acc.Env = append(os.Environ(), fmt.Sprintf("%s=acceptor %d", helperEnv, nWorkers))
	acc.ExtraFiles = accEnds
	logPath := t.TempDir() + "/acceptor.log"
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	acc.Stderr = logFile
	stdin, err := acc.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := acc.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := acc.Start(); err != nil {
		t.Fatal(err)
	}
	for _, a := range accEnds {
		a.Close() // the acceptor's now: a worker's Serve ends when it exits
	}
	t.Cleanup(func() { stdin.Close(); acc.Process.Kill(); acc.Wait() })

	addrc := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		addrc <- strings.TrimSpace(line)
	}()
	var addr string
	select {
	case addr = <-addrc:
	case <-time.After(30 * time.Second):
		t.Fatal("the acceptor printed no address")
	}
	if addr == "" {
		t.Fatal("the acceptor failed to start (see its log above)")
	}

	// round runs n exchanges, concurrently, and counts them per worker.
	round := func(what string, n int) []int {
		t.Helper()
		type result struct {
			tag string
			err error
		}
		res := make(chan result, n)
		for i := 0; i < n; i++ {
			go func() {
				tag, err := exchange(addr, fmt.Sprintf("%s %d: %s", what, i, strings.Repeat("x", i*100)))
				res <- result{tag, err}
			}()
		}
		per := make([]int, nWorkers)
		for i := 0; i < n; i++ {
			r := <-res
			if r.err != nil {
				t.Errorf("%s: exchange failed: %v", what, r.err)
				continue
			}
			w, ok := pids[r.tag]
			if !ok {
				t.Errorf("%s: served by %q, not a worker's pid", what, r.tag)
				continue
			}
			per[w]++
		}
		return per
	}

	if per := round("both alive", 20); per[0] == 0 || per[1] == 0 {
		t.Errorf("served per worker %v: each must serve some", per)
	}
	workers[0].Process.Kill()
	workers[0].Wait() // dead, its end of the socket closed
	if per := round("one killed", 20); per[0] != 0 || per[1] != 20 {
		t.Errorf("served per worker after the first was killed %v, want [0 20]", per)
	}

	stdin.Close()
	if err := acc.Wait(); err != nil {
		t.Errorf("acceptor: %v", err)
	}
	log, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(log), "worker failed") {
		t.Errorf("the acceptor did not log the dead worker; its log:\n%s", log)
	}
	if err := workers[1].Wait(); err != nil {
		t.Errorf("surviving worker: %v (its Serve must end when the acceptor does)", err)
	}
}
