package stdnet

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgeloop/edgeloop/internal/logtest"
	"github.com/edgeloop/edgeloop/protocols/echo"
	"github.com/edgeloop/edgeloop/reactor"
	"golang.org/x/sys/unix"
)

// These tests reach the accept loop's error branches through a listener
// whose Accept fails on demand: a real EMFILE needs the whole process out of
// descriptors, which the other tests running alongside would feel too
// (cmd/edgeloop's TestServeEMFILE does it to a child process).

// acceptWait bounds every wait in these tests.
const acceptWait = 10 * time.Second

// faultyListener is a TCP listener whose Accept returns fail's error, as
// package net would wrap it, whenever fail returns one. Once closed, it
// says so (net.ErrClosed) before asking fail, as a real listener would, so
// that Shutdown ends an accept loop that fail keeps failing.
type faultyListener struct {
	*net.TCPListener
	fail    func() error
	took    func()       // if set, called when the real Accept returns a connection
	blocked atomic.Int64 // calls that got past fail to the real Accept
	closed  atomic.Bool
}

func (l *faultyListener) Accept() (net.Conn, error) {
	if l.closed.Load() {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: l.Addr(), Err: net.ErrClosed}
	}
	if err := l.fail(); err != nil {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: l.Addr(), Err: os.NewSyscallError("accept4", err)}
	}
	l.blocked.Add(1)
	c, err := l.TCPListener.Accept()
	if err == nil && l.took != nil {
		l.took()
	}
	return c, err
}

func (l *faultyListener) Close() error {
	l.closed.Store(true)
	return l.TCPListener.Close()
}

// serveFaulty starts a net engine that logs to a recorder and serves echo
// on a faultyListener with fail and took, and returns its address.
func serveFaulty(t *testing.T, fail func() error, took func()) (string, *logtest.Recorder, *faultyListener) {
	t.Helper()
	_, logs, fl := startFaulty(t, fail, took)
	return fl.Addr().String(), logs, fl
}

// startFaulty starts a net engine that logs to a recorder and serves echo
// on a faultyListener whose Accept fails whenever fail returns an error and
// calls took, if not nil, whenever the real Accept takes a connection. The
// engine shuts down when the test ends.
func startFaulty(t *testing.T, fail func() error, took func()) (*netEngine, *logtest.Recorder, *faultyListener) {
	t.Helper()
	logs := &logtest.Recorder{}
	eng, err := Engine(reactor.Config{Logger: slog.New(logs), ReadBuffer: 4096})
	if err != nil {
		t.Fatal(err)
	}
	e := eng.(*netEngine)
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	fl := &faultyListener{TCPListener: ln, fail: fail, took: took}
	e.mu.Lock()
	e.lns = append(e.lns, fl)
	e.wg.Add(1)
	e.mu.Unlock()
	go e.acceptLoop(fl, echo.New)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), acceptWait)
		defer cancel()
		if err := e.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return e, logs, fl
}

// failNext makes the accept after the one the loop waits in fail: it waits
// for the loop to be in the real Accept, calls arm, and has a connection
// accepted and served.
func failNext(t *testing.T, addr string, fl *faultyListener, arm func()) {
	t.Helper()
	waitFor(t, "the accept loop to wait in Accept", func() bool { return fl.blocked.Load() > 0 })
	arm()
	if err := exchange(dial(t, addr), []byte("trigger"), acceptWait); err != nil {
		t.Fatalf("the connection the accept loop was waiting for: %v", err)
	}
}

// dial connects to addr; the connection closes when the test ends.
func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, acceptWait)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// exchange sends p on c and reads it back, within d.
func exchange(c net.Conn, p []byte, d time.Duration) error {
	c.SetDeadline(time.Now().Add(d))
	defer c.SetDeadline(time.Time{})
	if _, err := c.Write(p); err != nil {
		return err
	}
	got := make([]byte, len(p))
	if _, err := io.ReadFull(c, got); err != nil {
		return err
	}
	if !bytes.Equal(got, p) {
		return io.ErrUnexpectedEOF
	}
	return nil
}

// waitFor polls cond until it holds, and fails the test if it does not
// within wait.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(acceptWait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", acceptWait, what)
		}
		time.Sleep(time.Millisecond)
	}
}

// setPause changes acceptPause until the test ends; call it before serving.
func setPause(t *testing.T, d time.Duration) {
	old := acceptPause
	acceptPause = d
	t.Cleanup(func() { acceptPause = old })
}

// setBacklogQuiet changes backlogQuiet until the test ends; call it before
// serving.
func setBacklogQuiet(t *testing.T, d time.Duration) {
	old := backlogQuiet
	backlogQuiet = d
	t.Cleanup(func() { backlogQuiet = old })
}

// TestAcceptRetriesConnectionErrors: an accept error that concerns only
// the connection being taken (EPROTO, ENETDOWN, EPERM, ... as `man 2
// accept` lists them; Go retries ECONNABORTED and EINTR itself) is skipped
// at once: no pause, no log. The pause is made an hour long, so a loop that
// paused would leave the next connection unserved.
func TestAcceptRetriesConnectionErrors(t *testing.T) {
	for _, errno := range []unix.Errno{unix.ECONNABORTED, unix.EINTR, unix.EPERM, unix.EPROTO,
		unix.ENETDOWN, unix.ENETUNREACH, unix.EHOSTUNREACH, unix.EHOSTDOWN, unix.ENOPROTOOPT, unix.EOPNOTSUPP,
		unix.ETIMEDOUT, unix.ESOCKTNOSUPPORT, unix.EPROTONOSUPPORT} {
		t.Run("err="+unix.ErrnoName(errno), func(t *testing.T) {
			setPause(t, time.Hour)
			var fails atomic.Int64
			fails.Store(3)
			addr, logs, _ := serveFaulty(t, func() error {
				if fails.Add(-1) >= 0 {
					return errno
				}
				return nil
			}, nil)
			if err := exchange(dial(t, addr), []byte("behind failed connections"), acceptWait); err != nil {
				t.Fatalf("the connection behind three accepts that failed with %v: %v (the accept loop paused)", errno, err)
			}
			if recs := logs.Records(); len(recs) != 0 {
				t.Errorf("%d log records (first: %q): %v was treated as a failure of the listener", len(recs), recs[0].Msg, errno)
			}
		})
	}
}

// TestAcceptFailureLogsOncePerRun: while accept fails for want of a
// resource (or because the listener itself fails: EBADF), the accept loop
// pauses between attempts rather than spinning, live connections go on, and
// the run is logged once when it starts and once when the backlog is empty
// again, with the count of failed attempts. Before this, the net backend
// backed off but logged nothing at all.
func TestAcceptFailureLogsOncePerRun(t *testing.T) {
	const window = 300 * time.Millisecond
	for _, tc := range []struct {
		errno unix.Errno
		level slog.Level
	}{
		{unix.EMFILE, slog.LevelWarn},
		{unix.ENFILE, slog.LevelWarn},
		{unix.ENOBUFS, slog.LevelWarn},
		{unix.ENOMEM, slog.LevelWarn},
		{unix.EBADF, slog.LevelError},
	} {
		t.Run("err="+unix.ErrnoName(tc.errno), func(t *testing.T) {
			var failing atomic.Bool
			var failures atomic.Int64
			addr, logs, fl := serveFaulty(t, func() error {
				if failing.Load() {
					failures.Add(1)
					return tc.errno
				}
				return nil
			}, nil)
			live := dial(t, addr)
			if err := exchange(live, []byte("before"), acceptWait); err != nil {
				t.Fatalf("live connection: %v", err)
			}
			failNext(t, addr, fl, func() { failing.Store(true) })
			waitFor(t, "accept to fail", func() bool { return failures.Load() > 0 })
			waiting := dial(t, addr) // complete in the kernel, stuck in the backlog

			start := failures.Load()
			time.Sleep(window) // a measurement window: it waits for nothing to happen
			if n, most := failures.Load()-start, int64(window/(acceptPause/5))+2; n > most {
				t.Errorf("accept failed %d times in %v, want at most %d: the accept loop does not pause", n, window, most)
			}
			recs := logs.Records()
			if len(recs) != 1 {
				t.Fatalf("%d log records while accept failed %d times, want 1: a run of failures is logged once until it ends", len(recs), failures.Load())
			}
			if r := recs[0]; r.Level != tc.level || !strings.HasPrefix(r.Msg, "stdnet: accept fail") ||
				!strings.Contains(r.Attrs["err"].(error).Error(), "accept4") || r.Attrs["listener"] == nil {
				t.Errorf("the failure's record: %v %q %v; want level %v, \"stdnet: accept fail...\", the error with its system call, the listener", r.Level, r.Msg, r.Attrs, tc.level)
			}
			if err := exchange(live, []byte("while accept fails"), acceptWait); err != nil {
				t.Errorf("the live connection, while accept fails: %v", err)
			}

			failing.Store(false)
			if err := exchange(waiting, []byte("waited"), acceptWait); err != nil {
				t.Errorf("the connection that waited in the backlog, once accept works again: %v", err)
			}
			waitFor(t, "the end of the run to be logged", func() bool { return len(logs.Records()) >= 2 })
			recs = logs.Records()
			if r := recs[1]; len(recs) != 2 || r.Level != slog.LevelInfo || r.Msg != "stdnet: accept works again" ||
				r.Attrs["failures"] != failures.Load() || r.Attrs["lasted"] == nil {
				t.Errorf("records after accept worked again: %v; want one more, INFO \"stdnet: accept works again\" with failures=%d and lasted", recs, failures.Load())
			}
			if err := exchange(dial(t, addr), []byte("next"), acceptWait); err != nil {
				t.Errorf("a new connection, once accept works again: %v", err)
			}
			if recs := logs.Records(); len(recs) != 2 {
				t.Errorf("%d log records after the run ended, want 2", len(recs))
			}
		})
	}
}

// TestAcceptRunAtLimitLogsOnce: at its descriptor limit under load, a
// server accepts one connection per close and fails on the next while
// others wait. That is one run of failures, logged once when it starts and
// once when the backlog is empty, not twice per close.
func TestAcceptRunAtLimitLogsOnce(t *testing.T) {
	var free, failures atomic.Int64
	var limited atomic.Bool
	var charged atomic.Bool // the accept under way was let through under the limit
	// A descriptor is used up only by an accept that took a connection:
	// one that timed out (backlogQuiet) leaves it free for the next.
	addr, logs, fl := serveFaulty(t, func() error {
		charged.Store(limited.Load())
		if charged.Load() && free.Load() <= 0 {
			failures.Add(1)
			return unix.EMFILE
		}
		return nil
	}, func() {
		if charged.Load() {
			free.Add(-1)
		}
	})
	failNext(t, addr, fl, func() { limited.Store(true) })
	waitFor(t, "accept to fail", func() bool { return failures.Load() > 0 })
	var waiting []net.Conn
	for range 3 {
		waiting = append(waiting, dial(t, addr))
	}
	for _, c := range waiting[:2] {
		before := failures.Load()
		free.Add(1) // one descriptor came free: one accept works, the next fails
		if err := exchange(c, []byte("one per close"), acceptWait); err != nil {
			t.Fatalf("the first waiting connection, after one descriptor came free: %v", err)
		}
		waitFor(t, "accept to fail again", func() bool { return free.Load() == 0 && failures.Load() > before })
	}
	if recs := logs.Records(); len(recs) != 1 {
		t.Fatalf("%d log records for one run of failures with two accepts that worked in it, want 1: the run ended at an accept that worked, not when the backlog was empty", len(recs))
	}
	limited.Store(false)
	if err := exchange(waiting[2], []byte("all"), acceptWait); err != nil {
		t.Errorf("the last waiting connection, once accept works: %v", err)
	}
	waitFor(t, "the end of the run to be logged", func() bool { return len(logs.Records()) == 2 })
	if r := logs.Records()[1]; r.Msg != "stdnet: accept works again" || r.Attrs["failures"] != failures.Load() {
		t.Errorf("end record %q %v, want \"stdnet: accept works again\" with failures=%d", r.Msg, r.Attrs, failures.Load())
	}
}

// TestAcceptRunEndsUnderSteadyLoad: a run of failures ends once accepts have
// worked for runQuietPauses pauses since the last failure, even though the
// backlog is never empty for backlogQuiet, and a later shortage is logged as
// a run of its own. A busy server (50 connections a second or more) never
// waits backlogQuiet for nothing, so before this, after one failure it
// never logged "accept works again", nor any shortage after. backlogQuiet is
// made an hour long, so that only accepts that work can end a run.
func TestAcceptRunEndsUnderSteadyLoad(t *testing.T) {
	setPause(t, 20*time.Millisecond) // a run ends 200 ms after its last failure
	setBacklogQuiet(t, time.Hour)
	var failNow atomic.Int64
	addr, logs, _ := serveFaulty(t, func() error {
		if failNow.Add(-1) >= 0 {
			return unix.EMFILE
		}
		return nil
	}, nil)
	// stream serves a connection every 5 ms until the log holds n records,
	// for at most ten times as long as a run takes to end.
	stream := func(n int) {
		end := time.Now().Add(10 * runQuietPauses * acceptPause)
		for logs.Count() < n && time.Now().Before(end) {
			if err := exchange(dial(t, addr), []byte("x"), acceptWait); err != nil {
				t.Fatal(err)
			}
			time.Sleep(5 * time.Millisecond) // the load's pace, not a wait for something
		}
	}
	for i := range 2 {
		failNow.Store(1) // a shortage: the next accept fails, those after work
		stream(2*i + 2)
		if n := logs.Count(); n != 2*i+2 {
			t.Fatalf("shortage %d under steady load: %d log records, want %d: the run did not end while connections kept coming",
				i+1, n, 2*i+2)
		}
	}
	for i, r := range logs.Records() {
		if want := []string{"stdnet: accept failed", "stdnet: accept works again"}[i%2]; !strings.HasPrefix(r.Msg, want) {
			t.Errorf("record %d: %v %q %v, want %q...", i, r.Level, r.Msg, r.Attrs, want)
		}
	}
}

// TestShutdownDuringAcceptPause: Shutdown while the accept loop pauses after
// a failure (EMFILE) returns at once, not when the pause ends. Before this,
// the loop slept out its pause, and Shutdown, which waits for it, too.
func TestShutdownDuringAcceptPause(t *testing.T) {
	setPause(t, 10*time.Second) // the first pause is 2 s, plainly longer than Shutdown may take
	var failures atomic.Int64
	e, _, _ := startFaulty(t, func() error {
		failures.Add(1)
		return unix.EMFILE
	}, nil)
	waitFor(t, "accept to fail", func() bool { return failures.Load() > 0 })
	ctx, cancel := context.WithTimeout(context.Background(), acceptWait)
	defer cancel()
	start := time.Now()
	if err := e.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if took := time.Since(start); took > 500*time.Millisecond {
		t.Errorf("Shutdown took %v during the accept loop's pause of %v: it waited the pause out", took, acceptPause/5)
	}
}
