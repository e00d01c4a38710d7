//go:build unix

package poller_test

import (
	"errors"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/edgeloop/edgeloop/poller"
	"github.com/edgeloop/edgeloop/poller/gnetpoll"
)

// TestConformance runs the conformance suite (conformance_test.go) against
// every backend this OS has, each scenario on fresh pollers.
func TestConformance(t *testing.T) {
	names := testBackends
	if len(names) == 0 {
		t.Skip("no poller backend on this OS")
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			for _, tc := range suite {
				t.Run(tc.name, func(t *testing.T) { tc.test(t, backend(name)) })
			}
		})
	}
}

// testBackends are the pollers under test: the native ones this OS has, by
// name, and gnet's poller from its own package (see openBackend).
var testBackends = append(poller.Backends(), "gnetpoll")

// openBackend opens a backend of testBackends.
func openBackend(name string) (poller.Poller, error) {
	if name == "gnetpoll" {
		return gnetpoll.Open()
	}
	return poller.Open(name)
}

// gaps lists, per backend, what it is known not to do and why. The suite
// checks everything else, and skips (require) or relaxes (has) the checks
// named here; delete an entry once the backend is fixed.
var gaps = map[backend]map[string]string{
	"gnetpoll": {
		"ReadClosed": "gnet registers level-triggered fds without EPOLLRDHUP, so a peer's FIN " +
			"shows only as Readable and a read of 0",
		"RegisterDuringWait": "Register writes the fd tables Wait reads, unlocked; the Poller " +
			"contract asks gnetpoll's callers to register from the Wait goroutine",
	},
}

// backend names the backend a conformance test runs against.
type backend string

// has reports whether the backend has feature, logging the known gap if not.
func (b backend) has(t *testing.T, feature string) bool {
	t.Helper()
	if why, ok := gaps[b][feature]; ok {
		t.Logf("%s lacks %s: %s", b, feature, why)
		return false
	}
	return true
}

// require skips the test if the backend has a known gap for feature.
func (b backend) require(t *testing.T, feature string) {
	t.Helper()
	if why, ok := gaps[b][feature]; ok {
		t.Skipf("%s lacks %s: %s", b, feature, why)
	}
}

// open opens the backend for one test and closes it at the end, then checks
// that the test left no descriptor open (the poller's own included).
func (b backend) open(t *testing.T) poller.Poller {
	t.Helper()
	// The runtime opens its own netpoller descriptors when the process first
	// sets a timer; have that happen before counting, not during the test.
	time.AfterFunc(time.Hour, func() {}).Stop()
	before := openFDs()
	p, err := openBackend(string(b))
	if err != nil {
		t.Fatalf("Open(%q): %v", b, err)
	}
	// Registered first, so it runs after every other cleanup of the test.
	t.Cleanup(func() {
		if err := p.Close(); err != nil && !errors.Is(err, poller.ErrClosed) {
			t.Errorf("Close: %v", err)
		}
		if after := openFDs(); after != before {
			t.Errorf("open descriptors: %d before the test, %d after", before, after)
		}
	})
	return p
}

func TestOpenUnknownBackend(t *testing.T) {
	p, err := poller.Open("no-such-backend")
	if !errors.Is(err, poller.ErrUnknownBackend) {
		if p != nil {
			p.Close()
		}
		t.Fatalf("Open(no-such-backend) = %v, want ErrUnknownBackend", err)
	}
}

func TestNewOpensDefault(t *testing.T) {
	def := poller.Default()
	if def == "" {
		t.Skip("no native backend on this OS")
	}
	if !slices.Contains(poller.Backends(), def) {
		t.Fatalf("Default() = %q, not in Backends() = %q", def, poller.Backends())
	}
	if !slices.IsSorted(poller.Backends()) {
		t.Errorf("Backends() = %q, not sorted", poller.Backends())
	}
	p, err := poller.New()
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// edgeOnly skips a test of edge-triggered behaviour on a level-triggered poller.
func edgeOnly(t *testing.T, p poller.Poller) {
	t.Helper()
	if _, ok := p.(poller.LevelTriggered); ok {
		t.Skip("level-triggered backend: it reports readiness for as long as it lasts, not once per change")
	}
}

// register adds s to p under tok, and deregisters it when the test ends,
// before s is closed, as the contract asks. An edge-triggered poller always
// watches both directions; a level-triggered one is given interest in, since
// by default it watches only Readable.
func register(t *testing.T, p poller.Poller, s *sock, tok poller.Token, in poller.Interest) {
	t.Helper()
	if err := p.Register(s.fd, tok); err != nil {
		t.Fatalf("Register(%d, %#x): %v", s.fd, uint64(tok), err)
	}
	t.Cleanup(func() { p.Deregister(s.fd) }) // may have been done already
	if lt, ok := p.(poller.LevelTriggered); ok && in != poller.Readable {
		if err := lt.SetInterest(s.fd, tok, in); err != nil {
			t.Fatalf("SetInterest(%d): %v", s.fd, err)
		}
	}
}

// deregister removes s from p.
func deregister(t *testing.T, p poller.Poller, s *sock) {
	t.Helper()
	if err := p.Deregister(s.fd); err != nil {
		t.Fatalf("Deregister(%d): %v", s.fd, err)
	}
}

// wait calls Wait once, fails on an error, and returns the events and how
// long the call took.
func wait(t *testing.T, p poller.Poller, d time.Duration) ([]poller.Event, time.Duration) {
	t.Helper()
	events := make([]poller.Event, 16)
	start := time.Now()
	n, err := p.Wait(events, d)
	took := time.Since(start)
	if err != nil {
		t.Fatalf("Wait(%v): %v", d, err)
	}
	return events[:n], took
}

// waitFor calls Wait until an event for tok satisfies ok, and fails if none
// has within the suite timeout. It returns every event it saw, the match last.
func waitFor(t *testing.T, p poller.Poller, tok poller.Token, what string, ok func(poller.Event) bool) []poller.Event {
	t.Helper()
	var seen []poller.Event
	deadline := time.Now().Add(timeout)
	for left := timeout; left > 0; left = time.Until(deadline) {
		evs, _ := wait(t, p, left)
		for _, ev := range evs {
			seen = append(seen, ev)
			if ev.Token == tok && ok(ev) {
				return seen
			}
		}
	}
	n := len(seen)
	if n > 10 {
		seen = append(seen[:5:5], seen[n-5:]...)
	}
	t.Fatalf("no %s event for token %#x within %v; saw %d events, among them %v", what, uint64(tok), timeout, n, seen)
	return nil
}

// noEvent fails if a Wait(0) reports tok.
func noEvent(t *testing.T, p poller.Poller, tok poller.Token, why string) {
	t.Helper()
	evs, _ := wait(t, p, 0)
	for _, ev := range evs {
		if ev.Token == tok {
			t.Fatalf("%s: got %v", why, ev)
		}
	}
}

// noToken fails if tok is among events.
func noToken(t *testing.T, events []poller.Event, tok poller.Token, why string) {
	t.Helper()
	for _, ev := range events {
		if ev.Token == tok {
			t.Fatalf("%s: got %v among %v", why, ev, events)
		}
	}
}

func readable(ev poller.Event) bool { return ev.Readable() }
func writable(ev poller.Event) bool { return ev.Writable() }

// waitResult is the outcome of a Wait run by waitInThread.
type waitResult struct {
	events []poller.Event
	err    error
	took   time.Duration
}

// waitInThread calls p.Wait(d) on a goroutine locked to its own thread, so the
// test can watch (blockedInSyscall) and signal that thread. It returns the
// thread's ID and where the result will arrive.
func waitInThread(t *testing.T, p poller.Poller, d time.Duration) (int, <-chan waitResult) {
	t.Helper()
	tids := make(chan int, 1)
	res := make(chan waitResult, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		tids <- threadID()
		events := make([]poller.Event, 16)
		start := time.Now()
		n, err := p.Wait(events, d)
		res <- waitResult{events[:n], err, time.Since(start)}
	}()
	return <-tids, res
}

// awaitResult returns the result of a waitInThread, failing if it does not
// come within the suite timeout; it then wakes the poller so the waiting
// goroutine can end.
func awaitResult(t *testing.T, p poller.Poller, res <-chan waitResult) waitResult {
	t.Helper()
	select {
	case r := <-res:
		if r.err != nil {
			t.Fatalf("Wait: %v", r.err)
		}
		return r
	case <-time.After(timeout):
		p.Wake()
		t.Fatalf("Wait did not return within %v", timeout)
		return waitResult{}
	}
}
