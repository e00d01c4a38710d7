//go:build linux

package main

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// emfileLimit is the RLIMIT_NOFILE the test gives a running server: room
// for a few dozen connections beside what it holds at start.
const emfileLimit = 64

// emfileClients is how many clients connect: more than fit under
// emfileLimit, so that some wait in the listen backlog (SOMAXCONN, 4096 on
// Linux, holds them all).
const emfileClients = 100

// emfileWait bounds each wait for the server to serve what it should.
const emfileWait = 5 * time.Second

// emfileClient is one connection to the server under test, with a
// goroutine reading what the echo sends back.
type emfileClient struct {
	c      *net.TCPConn
	got    atomic.Int64 // bytes echoed back so far
	closed bool         // the test closed it
}

// served reports whether the server has answered the client: it accepted
// the connection.
func (c *emfileClient) served() bool { return c.got.Load() > 0 }

// TestServeEMFILE: `edgeloop serve` whose process runs out of descriptors
// (its RLIMIT_NOFILE lowered after start, as a tight ulimit does) must go
// on serving the connections it has, must not spin on the failing accept,
// must take the connections waiting in the backlog as soon as descriptors
// come free (with no new connection to make an edge), and must log the
// run of failures once when it starts and once when it ends, with the
// count, never once per attempt (issue 10). gnet's engine stops by design
// on such an error; there the test checks that serve exits and says why.
func TestServeEMFILE(t *testing.T) {
	for _, tc := range []struct {
		backend string
		loops   int
	}{
		{"epoll", 1},
		{"epoll", 2},
		{"gnetpoll", 1},
		{"net", 1},
		{"gnet", 1},
	} {
		t.Run(fmt.Sprintf("backend=%s/loops=%d", tc.backend, tc.loops), func(t *testing.T) {
			testServeEMFILE(t, tc.backend, tc.loops)
		})
	}
}

func testServeEMFILE(t *testing.T, backendName string, loops int) {
	s := startServe(t, 1, "--echo", "127.0.0.1:0", "--backend", backendName, "--loops", strconv.Itoa(loops))
	// The limit comes once serve has made everything it makes at start:
	// the TCP line comes before the UDP endpoint, and gnet's engine for it
	// needs descriptors of its own (epoll_create1 failed with EMFILE).
	s.stderr.waitFor(t, "msg=serving", 20*time.Second)
	addr, pid := s.addrs["echo"], s.cmd.Process.Pid
	start := openFDs(t, pid)
	if err := unix.Prlimit(pid, unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: emfileLimit, Max: emfileLimit}, nil); err != nil {
		t.Fatalf("prlimit: %v", err)
	}
	fit := min(emfileLimit-start, emfileClients) // connections the server can hold
	if fit <= 20 {
		t.Fatalf("the server holds %d descriptors at start: too many for a limit of %d", start, emfileLimit)
	}

	var clients []*emfileClient
	var dialErr error // a dial or write that failed: only a server that stopped may cause one
	for i := 0; i < emfileClients && dialErr == nil; i++ {
		c, err := net.DialTimeout("tcp", addr, emfileWait)
		if err != nil {
			dialErr = fmt.Errorf("client %d: %w", i, err)
			break
		}
		cl := &emfileClient{c: c.(*net.TCPConn)}
		clients = append(clients, cl)
		t.Cleanup(func() { cl.c.SetLinger(0); cl.c.Close() })
		go func() {
			buf := make([]byte, 64)
			for {
				n, err := cl.c.Read(buf)
				cl.got.Add(int64(n))
				if err != nil {
					return
				}
			}
		}()
		if _, err := c.Write([]byte("x")); err != nil {
			dialErr = fmt.Errorf("client %d: write: %w", i, err)
		}
	}
	count := func() (served, waiting int) {
		for _, c := range clients {
			switch {
			case c.served():
				served++
			case !c.closed:
				waiting++
			}
		}
		return served, waiting
	}

	// The server takes as many as fit; the rest wait in the backlog. gnet
	// stops instead.
	var exited error
	ok := poll(emfileWait, func() bool {
		select {
		case exited = <-s.waited:
			s.waited <- exited // for Cleanup
			return true
		default:
		}
		if backendName == "gnet" {
			return false // it stops once an accept meets the limit: wait for that, not for a count
		}
		served, _ := count()
		return dialErr == nil && served >= fit-2
	})
	if exited != nil || backendName == "gnet" {
		if exited == nil {
			served, _ := count()
			t.Fatalf("gnet served %d of %d connections past its descriptor limit and did not stop (%v): if gnet now survives EMFILE, drop this special case",
				served, emfileClients, dialErr)
		}
		if !strings.Contains(s.stderr.String(), "too many open files") || !strings.Contains(s.stderr.String(), "stopped unexpectedly") {
			t.Fatalf("serve exited (%v) without saying that the engine stopped for EMFILE; stderr:\n%s", exited, s.stderr)
		}
		// The documented outcome, checked: a pass, not a skip, since the
		// check ran and held.
		t.Logf("gnet's engine stops by design when accept fails (EMFILE): it closes every connection (clients saw %v) "+
			"and serve exits failed (%v), saying why; its live connections cannot be kept", dialErr, exited)
		return
	}
	if dialErr != nil {
		t.Fatalf("%v: the server reset a connection while it ran out of descriptors", dialErr)
	}
	if !ok {
		served, _ := count()
		t.Fatalf("the server answered %d of %d clients, want about %d (the connections that fit under RLIMIT_NOFILE %d with %d descriptors open at start)",
			served, emfileClients, fit, emfileLimit, start)
	}

	// No spin while the backlog waits. (The last of the connections that
	// fit may still be taken during the window.)
	_, waiting := count()
	cpu0 := cpuTime(t, pid)
	time.Sleep(time.Second) // a measurement window: it waits for nothing to happen
	used := cpuTime(t, pid) - cpu0
	if used > 200*time.Millisecond {
		t.Errorf("the server used %v of CPU in 1s while %d connections waited in the backlog: it spins on the failing accept", used, waiting)
	}
	servedBefore, waiting := count()
	t.Logf("%d clients served, %d waiting; the server used %v of CPU in the 1 s window", servedBefore, waiting, used)
	if waiting == 0 {
		t.Fatalf("all %d clients were served under a limit of %d descriptors: the test did not run the server out of them", emfileClients, emfileLimit)
	}

	// The live connections still echo.
	live := 0
	for _, c := range clients {
		if c.served() && live < 3 {
			live++
			before := c.got.Load()
			if _, err := c.c.Write([]byte("live")); err != nil {
				t.Fatalf("a live connection: write: %v", err)
			}
			if !poll(emfileWait, func() bool { return c.got.Load() >= before+4 }) {
				t.Fatalf("a live connection got %d of 4 bytes echoed while accept fails: the server stopped serving it", c.got.Load()-before)
			}
		}
	}

	// Closing 20 served clients frees 20 descriptors: as many waiting
	// clients are served, with no new connection attempt.
	closeServed := func(n int) int {
		closed := 0
		for _, c := range clients {
			if c.served() && !c.closed && closed < n {
				c.c.Close()
				c.closed = true
				closed++
			}
		}
		return closed
	}
	closedAt := time.Now()
	closed := closeServed(20)
	want := servedBefore + min(closed, waiting)
	if !poll(emfileWait, func() bool { served, _ := count(); return served >= want }) {
		served, _ := count()
		t.Fatalf("%d clients served %v after %d served ones closed, want %d: the waiting connections were not taken when descriptors came free",
			served, emfileWait, closed, want)
	}
	t.Logf("%d served clients closed: %d waiting ones served within %v", closed, min(closed, waiting), time.Since(closedAt).Round(time.Millisecond))

	// Closing all the served ones, round after round, serves every client.
	for round := 0; ; round++ {
		served, waiting := count()
		if waiting == 0 {
			break
		}
		if round == 10 {
			t.Fatalf("%d clients still wait after %d rounds of closing the served ones", waiting, round)
		}
		closed := closeServed(emfileClients)
		if !poll(emfileWait, func() bool { n, _ := count(); return n >= served+min(closed, waiting) }) {
			n, w := count()
			t.Fatalf("round %d: %d clients served, %d waiting, %v after %d served ones closed", round, n, w, emfileWait, closed)
		}
	}
	closeServed(emfileClients)

	// The log: each run of failures starts once (per event loop: each has
	// its own listening socket) and ends once the backlog is empty, with
	// the count.
	ended := func() int { return strings.Count(s.stderr.String(), ": accept works again") }
	if !poll(emfileWait, func() bool { return ended() >= 1 && ended() == strings.Count(s.stderr.String(), ": accept failed") }) {
		t.Fatalf("the log does not end each run of accept failures with a count once every client is served and closed; stderr:\n%s", s.stderr)
	}
	log := s.stderr.String()
	if started := strings.Count(log, ": accept failed"); started > loops {
		t.Errorf("%d runs of accept failures logged for one shortage with %d event loops, want at most %d: logged per attempt or per close; stderr:\n%s",
			started, loops, loops, log)
	}
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, ": accept works again") && !strings.Contains(line, "failures=") {
			t.Errorf("the end of a run does not give the count of failures: %s", line)
		}
		if strings.Contains(line, ": accept failed") && !strings.Contains(line, "too many open files") {
			t.Errorf("the start of a run does not give the error: %s", line)
		}
	}
	t.Logf("fit %d (descriptors at start %d); accept log:\n%s", fit, start, grepLines(log, "accept"))
}

// openFDs counts the descriptors process pid has open.
func openFDs(t *testing.T, pid int) int {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// cpuTime returns the user and system CPU time process pid has used.
func cpuTime(t *testing.T, pid int) time.Duration {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// Fields after the command name, which is in parentheses and may hold
	// spaces: state is the first, utime the 12th, stime the 13th.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		t.Fatalf("/proc/%d/stat: %q", pid, b)
	}
	const userHZ = 100 // the unit of /proc's times on Linux (USER_HZ), whatever the kernel's HZ
	return time.Duration(utime+stime) * time.Second / userHZ
}

// poll checks cond every millisecond until it holds or d has passed, and
// reports whether it held.
func poll(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(time.Millisecond)
	}
	return true
}

// grepLines returns the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		if strings.Contains(line, sub) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}
