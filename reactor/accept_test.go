package reactor_test

import (
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgeloop/edgeloop/internal/conformance"
	"github.com/edgeloop/edgeloop/internal/logtest"
	"github.com/edgeloop/edgeloop/protocols/echo"
	"github.com/edgeloop/edgeloop/reactor"
	"golang.org/x/sys/unix"
)

// These tests reach accept's error branches (POLLER-CHECKLIST item 7)
// through reactor.SetAccept, which swaps the loop's accept function: a
// real EMFILE needs the whole process out of descriptors, which the other
// tests running alongside would feel too.

// setAccept makes l's loops accept with f, and restores the platform's
// accept when the test ends.
func setAccept(t *testing.T, l *reactor.Loop, f func(lfd int) (int, error)) {
	t.Helper()
	if err := reactor.SetAccept(l, f); err != nil {
		t.Fatalf("SetAccept: %v", err)
	}
	t.Cleanup(func() { reactor.SetAccept(l, nil) })
}

// TestAcceptRetriesConnectionErrors: an accept error that concerns only
// the connection being taken means nothing for the next one: ECONNABORTED
// (it died in the backlog), EINTR, EPERM (Linux: firewall rules), and the
// network errors `man 2 accept` says Linux passes on and a server should
// treat like EAGAIN (EPROTO, ENETDOWN, ...). The loop must go on accepting
// in the same call, without logging a failure or resting the listener. An
// edge-triggered listener hears of the connection behind it only once, so
// a loop that stopped there would never serve it. The hook fails the first
// accept after the client connects, as if a failed connection stood ahead of
// it in the backlog, and records the loop turn of that call and of the next.
func TestAcceptRetriesConnectionErrors(t *testing.T) {
	for _, errno := range []unix.Errno{unix.ECONNABORTED, unix.EINTR, unix.EPERM, unix.EPROTO,
		unix.ENETDOWN, unix.ENETUNREACH, unix.EHOSTUNREACH, unix.EHOSTDOWN, unix.ENOPROTOOPT, unix.EOPNOTSUPP,
		unix.ETIMEDOUT, unix.ESOCKTNOSUPPORT, unix.EPROTONOSUPPORT} {
		t.Run("err="+unix.ErrnoName(errno), func(t *testing.T) {
			forPollers(t, func(t *testing.T, backend string) {
				logs := &logtest.Recorder{}
				l := newLoop(t, backend, reactor.WithLogger(slog.New(logs)))
				addr := conformance.Listen(t, l, echo.New)
				var armed atomic.Bool
				var failTurn, retryTurn atomic.Int64 // loop turns; -1 until the call happens
				failTurn.Store(-1)
				retryTurn.Store(-1)
				setAccept(t, l, func(lfd int) (int, error) {
					turn := int64(reactor.CurrentTurn(l, 0))
					if armed.CompareAndSwap(true, false) {
						failTurn.Store(turn)
						return -1, errno
					}
					if failTurn.Load() >= 0 {
						retryTurn.CompareAndSwap(-1, turn)
					}
					return reactor.Accept(lfd)
				})
				syncLoop(t, l) // the listener's first accept, with an empty backlog, is over
				armed.Store(true)
				c := conformance.DialTCP(t, addr)
				err := conformance.Exchange(c, []byte("behind a failed connection"), nil, time.Now().Add(waitTimeout))
				if failTurn.Load() < 0 {
					t.Fatalf("the accept hook never returned %v: the test did not reach the branch it checks", errno)
				}
				if err != nil {
					t.Fatalf("the connection behind an accept that failed with %v was not served (%v): accept was not retried", errno, err)
				}
				if f, r := failTurn.Load(), retryTurn.Load(); f != r {
					t.Errorf("%v in loop turn %d, the next accept in turn %d: accept was not retried in the same call (the listener rested)", errno, f, r)
				}
				if recs := logs.Records(); len(recs) != 0 {
					t.Errorf("%d log records (first: %q): %v was treated as a failure of the listener", len(recs), recs[0].Msg, errno)
				}
			})
		})
	}
}

// TestAcceptFailureSparesLiveConnsAndDoesNotSpin: while accept fails for
// want of a resource (EMFILE: the process is out of descriptors; ENFILE,
// ENOBUFS, ENOMEM) or because the listener itself fails (EBADF), the
// connection stays in the backlog and the loop must neither close the
// connections it has (gnet shuts its whole engine down here) nor spin
// retrying the accept (tokio #3529; a level-triggered poller reports the
// backlog on every Wait). It rests the listener and tries again after
// reactor.AcceptRetry(), or when one of its connections closes. It logs the
// run of failures once when it starts (a warning, or an error for a broken
// listener) and once when it ends, with the count, never per attempt. Once
// accept works again, the connection that waited is served with no new
// connection to make an edge, and new ones are too.
func TestAcceptFailureSparesLiveConnsAndDoesNotSpin(t *testing.T) {
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
			forPollers(t, func(t *testing.T, backend string) {
				logs := &logtest.Recorder{}
				l := newLoop(t, backend, reactor.WithLogger(slog.New(logs)))
				addr := conformance.Listen(t, l, echo.New)
				live := conformance.DialTCP(t, addr)
				deadline := time.Now().Add(waitTimeout)
				if err := conformance.Exchange(live, []byte("before"), nil, deadline); err != nil {
					t.Fatalf("live connection: %v", err)
				}

				var failing atomic.Bool
				var failures atomic.Int64
				failing.Store(true)
				setAccept(t, l, func(lfd int) (int, error) {
					if failing.Load() {
						failures.Add(1)
						return -1, tc.errno
					}
					return reactor.Accept(lfd)
				})
				syncLoop(t, l)
				waiting := conformance.DialTCP(t, addr) // complete in the kernel, stuck in the backlog
				conformance.WaitFor(t, waitTimeout, "the loop to try the accept", func() bool { return failures.Load() > 0 })

				start := failures.Load()
				assertNoSpin(t, l, window)
				if n, most := failures.Load()-start, int64(window/reactor.AcceptRetry())+2; n > most {
					t.Errorf("accept failed %d times in %v for one connection in the backlog, want at most %d (one per %v): the loop retries a failing accept without resting",
						n, window, most, reactor.AcceptRetry())
				}
				recs := logs.Records()
				if len(recs) != 1 {
					t.Fatalf("%d log records while accept failed %d times, want 1: a run of failures is logged once until it ends", len(recs), failures.Load())
				}
				if r := recs[0]; r.Level != tc.level || !strings.HasPrefix(r.Msg, "reactor: accept fail") ||
					!strings.Contains(fmt.Sprint(r.Attrs["err"]), "accept") || r.Attrs["listener"] == nil {
					t.Errorf("the failure's record: %v %q %v; want level %v, \"reactor: accept fail...\", the error wrapped with the system call, the listener", r.Level, r.Msg, r.Attrs, tc.level)
				}
				if err := conformance.Exchange(live, []byte("while accept fails"), nil, deadline); err != nil {
					t.Errorf("the live connection, while accept fails: %v", err)
				}

				failing.Store(false)
				if err := conformance.Exchange(waiting, []byte("waited"), nil, deadline); err != nil {
					t.Errorf("the connection that waited in the backlog, once accept works again: %v", err)
				}
				conformance.WaitFor(t, waitTimeout, "the end of the run of failures to be logged", func() bool { return len(logs.Records()) >= 2 })
				recs = logs.Records()
				if r := recs[1]; len(recs) != 2 || r.Level != slog.LevelInfo || r.Msg != "reactor: accept works again" ||
					r.Attrs["failures"] != failures.Load() || r.Attrs["lasted"] == nil {
					t.Errorf("records after accept worked again: %v; want one more, INFO \"reactor: accept works again\" with failures=%d and lasted", recs, failures.Load())
				}
				if err := conformance.Exchange(conformance.DialTCP(t, addr), []byte("next"), nil, deadline); err != nil {
					t.Errorf("a new connection, once accept works again: %v", err)
				}
				if err := conformance.Exchange(live, []byte("after"), nil, deadline); err != nil {
					t.Errorf("the live connection, after accept failed: %v", err)
				}
				if recs := logs.Records(); len(recs) != 2 {
					t.Errorf("%d log records after the run of failures ended, want 2", len(recs))
				}
			})
		})
	}
}

// TestAcceptRunAtLimitLogsOnce: a server at its descriptor limit under load
// accepts one connection per close and fails on the next while others still
// wait. That is one run of failures, logged once when it starts and once
// when the backlog is empty: ending the run at the first accept that works
// would log two lines per close. The hook lets one accept through at a time
// (as a close would) while three connections wait.
func TestAcceptRunAtLimitLogsOnce(t *testing.T) {
	forPollers(t, func(t *testing.T, backend string) {
		logs := &logtest.Recorder{}
		l := newLoop(t, backend, reactor.WithLogger(slog.New(logs)))
		addr := conformance.Listen(t, l, echo.New)
		var free, failures atomic.Int64 // descriptors the hook lets accept use; failed calls
		var unlimited atomic.Bool
		setAccept(t, l, func(lfd int) (int, error) {
			if unlimited.Load() {
				return reactor.Accept(lfd)
			}
			if free.Add(-1) < 0 {
				free.Add(1)
				failures.Add(1)
				return -1, unix.EMFILE
			}
			return reactor.Accept(lfd)
		})
		syncLoop(t, l)
		deadline := time.Now().Add(waitTimeout)
		var waiting []*net.TCPConn
		for range 3 {
			waiting = append(waiting, conformance.DialTCP(t, addr))
		}
		conformance.WaitFor(t, waitTimeout, "the loop to try the accept", func() bool { return failures.Load() > 0 })
		for _, c := range waiting[:2] {
			before := failures.Load()
			free.Add(1) // one descriptor came free: one accept works, the next fails
			// accept takes the backlog in order, so c is the one served.
			if err := conformance.Exchange(c, []byte("one per close"), nil, deadline); err != nil {
				t.Fatalf("the first waiting connection, after one descriptor came free: %v", err)
			}
			conformance.WaitFor(t, waitTimeout, "accept to fail again", func() bool { return free.Load() == 0 && failures.Load() > before })
		}
		if recs := logs.Records(); len(recs) != 1 {
			t.Fatalf("%d log records for one run of failures with two accepts that worked in it, want 1: the run ended at an accept that worked, not when the backlog was empty", len(recs))
		}
		unlimited.Store(true)
		free.Add(1)
		for _, c := range waiting {
			if err := conformance.Exchange(c, []byte("all"), nil, deadline); err != nil {
				t.Errorf("a waiting connection, once accept works: %v", err)
			}
		}
		conformance.WaitFor(t, waitTimeout, "the end of the run to be logged", func() bool { return len(logs.Records()) == 2 })
		if r := logs.Records()[1]; r.Msg != "reactor: accept works again" || r.Attrs["failures"] != failures.Load() {
			t.Errorf("end record %q %v, want \"reactor: accept works again\" with failures=%d", r.Msg, r.Attrs, failures.Load())
		}
	})
}

// TestAcceptResumesWhenAConnectionCloses: a listener resting after EMFILE
// tries again as soon as a connection of its loop closes, since that frees
// a descriptor: the connection waiting in the backlog is served with no new
// connection to make an edge and without waiting out the rest. The rest is
// made an hour long, so only the wake-up can serve it in time.
func TestAcceptResumesWhenAConnectionCloses(t *testing.T) {
	forPollers(t, func(t *testing.T, backend string) {
		reactor.SetAcceptRetry(t, time.Hour)
		l := newLoop(t, backend, reactor.WithLogger(slog.New(&logtest.Recorder{})))
		addr := conformance.Listen(t, l, echo.New)
		deadline := time.Now().Add(waitTimeout)
		live := conformance.DialTCP(t, addr)
		if err := conformance.Exchange(live, []byte("before"), nil, deadline); err != nil {
			t.Fatalf("live connection: %v", err)
		}
		var failing atomic.Bool
		var failures atomic.Int64
		failing.Store(true)
		setAccept(t, l, func(lfd int) (int, error) {
			if failing.Load() {
				failures.Add(1)
				return -1, unix.EMFILE
			}
			return reactor.Accept(lfd)
		})
		syncLoop(t, l)
		waiting := conformance.DialTCP(t, addr)
		conformance.WaitFor(t, waitTimeout, "the loop to try the accept", func() bool { return failures.Load() > 0 })
		syncLoop(t, l) // the listener rests
		failing.Store(false)
		live.SetLinger(0)
		live.Close() // the loop sees the RST and closes its side: a descriptor is free
		if err := conformance.Exchange(waiting, []byte("waited"), nil, deadline); err != nil {
			t.Fatalf("the connection that waited in the backlog, after a connection of the loop closed: %v (the close did not wake the resting listener)", err)
		}
	})
}
