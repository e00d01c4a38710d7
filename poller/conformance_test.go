//go:build unix

package poller_test

import (
	"errors"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/edgeloop/edgeloop/poller"
	"golang.org/x/sys/unix"
)

// suite is the conformance suite: every backend must pass each scenario.
// Scenarios that only hold for edge-triggered pollers skip themselves on a
// poller.LevelTriggered one.
var suite = []struct {
	name string
	test func(t *testing.T, b backend)
}{
	{"RegistrationErrors", testRegistrationErrors},
	{"TokensReturnedVerbatim", testTokensReturnedVerbatim},
	{"RegisterAfterDeregister", testRegisterAfterDeregister},
	{"NoEventsAfterDeregister", testNoEventsAfterDeregister},
	{"RegisterWhileWaitBlocked", testRegisterWhileWaitBlocked},
	{"OneEventPerEdge", testOneEventPerEdge},
	{"WakesCollapse", testWakesCollapse},
	{"WakeBeforeWaitNotLost", testWakeBeforeWaitNotLost},
	{"WakeWhileBlocked", testWakeWhileBlocked},
	{"WakeRacesConsumption", testWakeRacesConsumption},
	{"WaitZeroReturnsAtOnce", testWaitZeroReturnsAtOnce},
	{"SubMillisecondTimeoutNotRoundedToZero", testSubMillisecondTimeout},
	{"WaitRetriesEINTR", testWaitRetriesEINTR},
	{"ReusedFDGetsNoStaleEvent", testReusedFDGetsNoStaleEvent},
	{"FreshConnectionWritable", testFreshConnectionWritable},
	{"PeerCloseIsEndOfInput", testPeerCloseIsEndOfInput},
	{"PeerHalfClose", testPeerHalfClose},
	{"PeerReset", testPeerReset},
	{"PeerResetWithNoInterest", testPeerResetWithNoInterest},
	{"WriteToResetPeer", testWriteToResetPeer},
	{"MethodsAfterClose", testMethodsAfterClose},
	{"CloseLeavesFDsOpen", testCloseLeavesFDsOpen},
}

func testRegistrationErrors(t *testing.T, b backend) {
	for _, tc := range []struct {
		name string
		do   func(t *testing.T, p poller.Poller, s *sock) error
		want error
	}{
		{"RegisterTwice", func(t *testing.T, p poller.Poller, s *sock) error {
			register(t, p, s, 1, poller.Readable)
			return p.Register(s.fd, 2)
		}, poller.ErrRegistered},
		{"DeregisterNeverRegistered", func(t *testing.T, p poller.Poller, s *sock) error {
			return p.Deregister(s.fd)
		}, poller.ErrNotRegistered},
		{"DeregisterTwice", func(t *testing.T, p poller.Poller, s *sock) error {
			register(t, p, s, 1, poller.Readable)
			deregister(t, p, s)
			return p.Deregister(s.fd)
		}, poller.ErrNotRegistered},
		{"RegisterReservedToken", func(t *testing.T, p poller.Poller, s *sock) error {
			return p.Register(s.fd, ^poller.Token(0))
		}, poller.ErrReservedToken},
		{"RegisterClosedFD", func(t *testing.T, p poller.Poller, s *sock) error {
			s.Close()
			return p.Register(s.fd, 1)
		}, unix.EBADF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := b.open(t)
			s, _ := pair(t)
			if err := tc.do(t, p, s); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	t.Run("NegativeFD", func(t *testing.T) {
		p := b.open(t)
		if err := p.Register(-1, 1); err == nil {
			t.Error("Register(-1) succeeded")
		}
		if err := p.Deregister(-1); err == nil {
			t.Error("Deregister(-1) succeeded")
		}
	})
	t.Run("FailedRegisterKeepsFirst", func(t *testing.T) {
		p := b.open(t)
		local, peer := pair(t)
		register(t, p, local, 1, poller.Readable)
		if err := p.Register(local.fd, 2); !errors.Is(err, poller.ErrRegistered) {
			t.Fatalf("second Register: %v, want ErrRegistered", err)
		}
		send(t, peer, "x")
		seen := waitFor(t, p, 1, "readable", readable)
		noToken(t, seen, 2, "the token of a failed Register")
	})
}

func testTokensReturnedVerbatim(t *testing.T, b backend) {
	for _, tc := range []struct {
		name string
		tok  poller.Token
	}{
		{"Zero", 0},
		{"Low32", 0xdeadbeef},
		{"High32", 0xcafebabe << 32},
		{"Bit63", 1<<63 | 5},
		{"LargestUsable", ^poller.Token(0) - 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := b.open(t)
			local, peer := pair(t)
			register(t, p, local, tc.tok, poller.Readable)
			send(t, peer, "x")
			waitFor(t, p, tc.tok, "readable", readable)
		})
	}
}

func testRegisterAfterDeregister(t *testing.T, b backend) {
	p := b.open(t)
	local, peer := pair(t)
	register(t, p, local, 1, poller.Readable)
	deregister(t, p, local)
	register(t, p, local, 2, poller.Readable)
	send(t, peer, "x")
	seen := waitFor(t, p, 2, "readable", readable)
	noToken(t, seen, 1, "token of the earlier registration")
}

func testNoEventsAfterDeregister(t *testing.T, b backend) {
	for _, tc := range []struct {
		name string
		// open returns a fd to register and a function that makes it readable.
		open func(t *testing.T) (*sock, func())
	}{
		{"Listener", func(t *testing.T) (*sock, func()) {
			ln, sa := listener(t)
			return ln, func() { dial(t, sa) }
		}},
		{"Stream", func(t *testing.T) (*sock, func()) {
			local, peer := pair(t)
			return local, func() { send(t, peer, "x") }
		}},
		{"UDP", func(t *testing.T) (*sock, func()) {
			rx, sa := bound(t, unix.SOCK_DGRAM)
			tx, _ := bound(t, unix.SOCK_DGRAM)
			return rx, func() {
				if err := unix.Sendto(tx.fd, []byte("x"), 0, sa); err != nil {
					t.Fatalf("sendto: %v", err)
				}
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := b.open(t)
			s, makeReadable := tc.open(t)
			// Any event the registration queued (a stream is writable at once)
			// stays unconsumed: Deregister must drop it too.
			register(t, p, s, 1, poller.Readable|poller.Writable)
			deregister(t, p, s)
			makeReadable()
			// Once poll(2) sees it, the kernel has notified every watcher.
			awaitFD(t, s.fd, unix.POLLIN)
			noEvent(t, p, 1, "event after Deregister")
		})
	}
}

func testRegisterWhileWaitBlocked(t *testing.T, b backend) {
	b.require(t, "RegisterDuringWait")
	p := b.open(t)
	local, peer := pair(t)
	send(t, peer, "x")
	awaitFD(t, local.fd, unix.POLLIN)
	tid, res := waitInThread(t, p, -1)
	blockedInSyscall(t, tid)
	register(t, p, local, 7, poller.Readable)
	r := awaitResult(t, p, res)
	for _, ev := range r.events {
		if ev.Token == 7 && ev.Readable() {
			return
		}
	}
	t.Fatalf("blocked Wait returned %v, want a readable event for token 0x7", r.events)
}

func testOneEventPerEdge(t *testing.T, b backend) {
	p := b.open(t)
	edgeOnly(t, p)
	const tok = 1
	local, peer := pair(t)
	register(t, p, local, tok, poller.Readable)
	waitFor(t, p, tok, "writable", writable)
	noEvent(t, p, tok, "second event for the writable edge of registration")

	send(t, peer, "hello")
	waitFor(t, p, tok, "readable", readable)
	noEvent(t, p, tok, "second event for one arrival of data")

	var one [1]byte
	if n, err := unix.Read(local.fd, one[:]); n != 1 || err != nil {
		t.Fatalf("read: %d, %v", n, err)
	}
	noEvent(t, p, tok, "event after a partial read with no new data")

	if got, _ := drain(t, local); got != "ello" {
		t.Fatalf("drained %q, want %q", got, "ello")
	}
	noEvent(t, p, tok, "event after draining to EAGAIN")

	send(t, peer, "again")
	waitFor(t, p, tok, "readable", readable)
}

func testWakesCollapse(t *testing.T, b backend) {
	p := b.open(t)
	const goroutines, wakes = 4, 100
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range wakes {
				if err := p.Wake(); err != nil {
					t.Errorf("Wake: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	evs, took := wait(t, p, timeout)
	if took >= timeout {
		t.Fatalf("Wait after %d Wakes ran to its timeout", goroutines*wakes)
	}
	if len(evs) != 0 {
		t.Fatalf("Wait after Wakes returned %v, want no events", evs)
	}
	// The burst is spent: nothing may be left to end later Waits early.
	const quiet = 20 * time.Millisecond
	if _, took := wait(t, p, quiet); took < quiet {
		t.Fatalf("Wait(%v) after the wake-up returned after %v: a Wake was left pending", quiet, took)
	}
	// And spent, not stuck: the next Wake works again.
	if err := p.Wake(); err != nil {
		t.Fatalf("Wake: %v", err)
	}
	if _, took := wait(t, p, timeout); took >= timeout {
		t.Fatal("a Wake after a consumed burst was lost")
	}
}

func testWakeBeforeWaitNotLost(t *testing.T, b backend) {
	p := b.open(t)
	if err := p.Wake(); err != nil {
		t.Fatalf("Wake: %v", err)
	}
	_, res := waitInThread(t, p, -1)
	if r := awaitResult(t, p, res); len(r.events) != 0 {
		t.Fatalf("Wait returned %v, want no events", r.events)
	}
}

func testWakeWhileBlocked(t *testing.T, b backend) {
	p := b.open(t)
	tid, res := waitInThread(t, p, -1)
	blockedInSyscall(t, tid)
	if err := p.Wake(); err != nil {
		t.Fatalf("Wake: %v", err)
	}
	if r := awaitResult(t, p, res); len(r.events) != 0 {
		t.Fatalf("Wait returned %v, want no events", r.events)
	}
}

// testWakeRacesConsumption: Wakes from several goroutines race the Waits
// that consume them, for a while; then one more Wake must end a blocked
// Wait. A backend that re-arms Wake (clears its "wake pending" flag) before
// it drains its wake-up descriptor lets a Wake land in between: the drain
// swallows that Wake's write, the flag stays set, and every later Wake is a
// no-op, so the loop above sleeps through every Post. The Wait runs on its
// own goroutine; if the wake-up is lost, input on a registered socket ends
// it, so that the test fails in seconds and the poller can be closed.
func testWakeRacesConsumption(t *testing.T, b backend) {
	const (
		wakers = 4
		storm  = 500 * time.Millisecond
		escTok = poller.Token(99)
	)
	p := b.open(t)
	esc, escPeer := pair(t)
	register(t, p, esc, escTok, poller.Readable)
	var stop atomic.Bool
	var waits atomic.Int64
	escaped := errors.New("ended by the escape socket")
	done := make(chan error, 1)
	go func() {
		events := make([]poller.Event, 8)
		for {
			n, err := p.Wait(events, -1) // only a Wake (or the escape) ends it
			if err != nil {
				done <- err
				return
			}
			waits.Add(1)
			for _, ev := range events[:n] {
				if ev.Token == escTok && ev.Readable() {
					done <- escaped
					return
				}
			}
			if stop.Load() {
				done <- nil
				return
			}
		}
	}()
	var wg sync.WaitGroup
	end := time.Now().Add(storm)
	for range wakers {
		wg.Go(func() {
			for time.Now().Before(end) {
				if err := p.Wake(); err != nil {
					t.Errorf("Wake: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	stop.Store(true)
	if err := p.Wake(); err != nil {
		t.Errorf("Wake: %v", err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Wait: %v", err)
		}
		return
	case <-time.After(timeout):
	}
	send(t, escPeer, "x")
	select {
	case <-done:
	case <-time.After(timeout):
		t.Fatalf("lost wake-up, and the blocked Wait did not end on input either")
	}
	t.Fatalf("lost wake-up: after %d Waits raced %d goroutines' Wakes for %v, a Wake did not end a blocked Wait within %v: "+
		"a Wake that landed while its wake-up was being consumed was swallowed and Wake stayed disarmed", waits.Load(), wakers, storm, timeout)
}

func testWaitZeroReturnsAtOnce(t *testing.T, b backend) {
	p := b.open(t)
	// The fastest of a few calls, so a descheduled call does not fail the
	// test; a Wait(0) that waits a clock tick makes every call slow.
	fastest := time.Hour
	for range 5 {
		evs, took := wait(t, p, 0)
		if len(evs) != 0 {
			t.Fatalf("Wait(0) with nothing registered returned %v", evs)
		}
		fastest = min(fastest, took)
	}
	if fastest >= time.Millisecond {
		t.Fatalf("fastest Wait(0) took %v, want it to return at once", fastest)
	}
}

func testSubMillisecondTimeout(t *testing.T, b backend) {
	p := b.open(t)
	const d = 500 * time.Microsecond
	evs, took := wait(t, p, d)
	if len(evs) != 0 {
		t.Fatalf("Wait(%v) with nothing registered returned %v", d, evs)
	}
	if took < d {
		t.Fatalf("Wait(%v) returned after %v: the timeout was rounded down", d, took)
	}
}

func testWaitRetriesEINTR(t *testing.T, b backend) {
	p := b.open(t)
	if !canAimSignals {
		t.Skip("cannot aim a signal at the waiting thread on this OS")
	}
	const d, signals = 200 * time.Millisecond, 5
	sigs := make(chan os.Signal, signals)
	signal.Notify(sigs, syscall.SIGUSR1) // so SIGUSR1 does not end the process
	defer signal.Stop(sigs)

	tid, res := waitInThread(t, p, d)
	for i := range signals {
		// Each signal lands while the thread sleeps in the wait call, so
		// that call fails with EINTR and Wait must retry it.
		blockedInSyscall(t, tid)
		signalThread(t, tid, syscall.SIGUSR1)
		select {
		case <-sigs:
		case <-time.After(timeout):
			t.Fatalf("signal %d not delivered within %v", i, timeout)
		}
	}
	r := awaitResult(t, p, res)
	if len(r.events) != 0 {
		t.Fatalf("Wait returned %v, want no events", r.events)
	}
	if r.took < d {
		t.Fatalf("Wait(%v) interrupted by %d signals returned after %v", d, signals, r.took)
	}
}

func testReusedFDGetsNoStaleEvent(t *testing.T, b backend) {
	for _, tc := range []struct {
		name string
		// keepDup keeps a duplicate of the old socket open, as a fork or
		// SCM_RIGHTS would, so closing the number does not end the socket.
		keepDup bool
	}{
		{"Closed", false},
		{"ClosedWhileDupOpen", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := b.open(t)
			old, oldPeer := pair(t)
			register(t, p, old, 1, poller.Readable)
			send(t, oldPeer, "stale")
			awaitFD(t, old.fd, unix.POLLIN) // an event for token 1 is queued, not consumed
			if tc.keepDup {
				fd, err := unix.Dup(old.fd)
				if err != nil {
					t.Fatalf("dup: %v", err)
				}
				own(t, fd)
			}
			fresh, freshPeer := pair(t) // opened first, so it cannot take old's number
			deregister(t, p, old)
			num := old.fd
			old.Close()
			// Move the new connection to the old number, as a busy server's
			// next accept would.
			if err := unix.Dup2(fresh.fd, num); err != nil {
				t.Fatalf("dup2: %v", err)
			}
			reused := own(t, num)
			unix.CloseOnExec(num)
			fresh.Close()

			register(t, p, reused, 2, poller.Readable)
			send(t, freshPeer, "fresh")
			seen := waitFor(t, p, 2, "readable", readable)
			noToken(t, seen, 1, "event for the closed registration")
			noEvent(t, p, 1, "event for the closed registration")
		})
	}
}

func testFreshConnectionWritable(t *testing.T, b backend) {
	p := b.open(t)
	local, _ := pair(t)
	register(t, p, local, 1, poller.Readable|poller.Writable)
	seen := waitFor(t, p, 1, "writable", writable)
	if ev := seen[len(seen)-1]; ev.Readable() || ev.ReadClosed() || ev.WriteClosed() || ev.Error() {
		t.Fatalf("fresh idle connection: got %v, want only writable", ev)
	}
}

// endOfInput returns what an event announcing the peer's FIN must say:
// readable, and read-closed unless the backend is known not to report it.
func endOfInput(t *testing.T, b backend) (string, func(poller.Event) bool) {
	if !b.has(t, "ReadClosed") {
		return "readable", readable
	}
	return "readable and read-closed", func(ev poller.Event) bool { return ev.Readable() && ev.ReadClosed() }
}

func testPeerCloseIsEndOfInput(t *testing.T, b backend) {
	p := b.open(t)
	local, peer := pair(t)
	register(t, p, local, 1, poller.Readable)
	peer.Close()
	what, ok := endOfInput(t, b)
	waitFor(t, p, 1, what, ok)
	if got, eof := drain(t, local); got != "" || !eof {
		t.Fatalf("read after peer close: %q, end of input %v; want \"\", true", got, eof)
	}
}

func testPeerHalfClose(t *testing.T, b backend) {
	p := b.open(t)
	local, peer := pair(t)
	register(t, p, local, 1, poller.Readable)
	send(t, peer, "last words")
	if err := unix.Shutdown(peer.fd, unix.SHUT_WR); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	what, ok := endOfInput(t, b)
	waitFor(t, p, 1, what, ok)
	// Data sent before the FIN is read before the end of input.
	if got, eof := drain(t, local); got != "last words" || !eof {
		t.Fatalf("read %q, end of input %v; want %q, true", got, eof, "last words")
	}
	// Half-closed: this side can still send.
	send(t, local, "reply")
	awaitFD(t, peer.fd, unix.POLLIN)
	if got, _ := drain(t, peer); got != "reply" {
		t.Fatalf("peer read %q, want %q", got, "reply")
	}
}

// broken reports an event saying the connection is reset or closed.
func broken(ev poller.Event) bool { return ev.Error() || ev.WriteClosed() || ev.ReadClosed() }

func testPeerReset(t *testing.T, b backend) {
	p := b.open(t)
	local, peer := pair(t)
	register(t, p, local, 1, poller.Readable)
	reset(t, peer)
	waitFor(t, p, 1, "error or closed", broken)
	var buf [16]byte
	if n, err := unix.Read(local.fd, buf[:]); err != unix.ECONNRESET {
		t.Fatalf("read after RST: %d, %v; want ECONNRESET", n, err)
	}
}

// testPeerResetWithNoInterest: a fd whose level-triggered interest is none
// (its handler wants neither input nor output) still reports a reset, as
// epoll reports EPOLLERR and EPOLLHUP whatever the interest; otherwise the
// loop never learns that the connection is dead and it leaks. An
// edge-triggered poller watches both directions always.
func testPeerResetWithNoInterest(t *testing.T, b backend) {
	p := b.open(t)
	local, peer := pair(t)
	register(t, p, local, 1, 0)
	reset(t, peer)
	waitFor(t, p, 1, "error or closed", broken)
}

func testWriteToResetPeer(t *testing.T, b backend) {
	for _, tc := range []struct {
		name string
		// provoke makes the peer reset the connection, waiting on p as needed.
		provoke func(t *testing.T, p poller.Poller, local, peer *sock)
	}{
		{"RST", func(t *testing.T, p poller.Poller, local, peer *sock) {
			reset(t, peer)
			waitFor(t, p, 1, "error or closed", broken)
		}},
		{"WriteAfterPeerClose", func(t *testing.T, p poller.Poller, local, peer *sock) {
			peer.Close()
			awaitFD(t, local.fd, unix.POLLIN)
			if _, eof := drain(t, local); !eof {
				t.Fatal("no end of input after the peer closed")
			}
			send(t, local, "unwanted") // accepted locally; the closed peer answers with RST
			waitFor(t, p, 1, "error or write-closed", func(ev poller.Event) bool { return ev.Error() || ev.WriteClosed() })
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := b.open(t)
			local, peer := pair(t)
			register(t, p, local, 1, poller.Readable)
			tc.provoke(t, p, local, peer)
			// write(2), not send with MSG_NOSIGNAL: the process must
			// survive the SIGPIPE and see the error. The first write may
			// report the pending ECONNRESET, the later ones EPIPE.
			for i := range 3 {
				n, err := unix.Write(local.fd, []byte("x"))
				if err != unix.EPIPE && err != unix.ECONNRESET {
					t.Fatalf("write %d to a reset peer: %d, %v; want EPIPE or ECONNRESET", i, n, err)
				}
			}
		})
	}
}

func testMethodsAfterClose(t *testing.T, b backend) {
	p := b.open(t)
	local, _ := pair(t)
	register(t, p, local, 1, poller.Readable)
	if err := p.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	other, _ := pair(t)
	for _, tc := range []struct {
		name string
		call func() error
	}{
		{"Register", func() error { return p.Register(other.fd, 2) }},
		{"Deregister", func() error { return p.Deregister(local.fd) }},
		{"Wait", func() error { _, err := p.Wait(make([]poller.Event, 1), 0); return err }},
		{"Wake", p.Wake},
		{"Close", p.Close},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); !errors.Is(err, poller.ErrClosed) {
				t.Fatalf("%s after Close: %v, want ErrClosed", tc.name, err)
			}
		})
	}
}

func testCloseLeavesFDsOpen(t *testing.T, b backend) {
	p := b.open(t)
	local, peer := pair(t)
	register(t, p, local, 1, poller.Readable)
	if err := p.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := unix.FcntlInt(uintptr(local.fd), unix.F_GETFD, 0); err != nil {
		t.Fatalf("registered fd %d after Close: %v", local.fd, err)
	}
	send(t, local, "still open")
	awaitFD(t, peer.fd, unix.POLLIN)
	if got, _ := drain(t, peer); got != "still open" {
		t.Fatalf("peer read %q, want %q", got, "still open")
	}
}
