package conformance

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/edgeloop/edgeloop/backend"
	"github.com/edgeloop/edgeloop/poller"
	"github.com/edgeloop/edgeloop/protocols/echo"
	"github.com/edgeloop/edgeloop/reactor"
	"github.com/edgeloop/edgeloop/reactor/access"
)

// Peers of the admission tests: loopback addresses other than 127.0.0.1,
// all on lo, so that one machine makes several peers.
const (
	peerA = "127.0.0.2"
	peerB = "127.0.0.3"
	peerC = "127.0.0.4"
	peerD = "127.0.0.5"
)

var quietLog = slog.New(slog.DiscardHandler)

// dialFrom connects to addr from the local address ip.
func dialFrom(ip, addr string) (*net.TCPConn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: DialTimeout}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	return c.(*net.TCPConn), nil
}

// dialFromT is dialFrom that fails t, and closes the connection when the
// test ends.
func dialFromT(t *testing.T, ip, addr string) *net.TCPConn {
	t.Helper()
	c, err := dialFrom(ip, addr)
	if err != nil {
		t.Fatalf("dial %s from %s: %v", addr, ip, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// refusedConn reports nil if the server closed c without a byte: EOF or a
// reset, within a generous deadline.
func refusedConn(c net.Conn) error {
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var b [1]byte
	n, err := c.Read(b[:])
	switch {
	case n > 0:
		return fmt.Errorf("read %d bytes from a connection that should be refused", n)
	case errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET):
		return nil
	}
	return fmt.Errorf("a refused connection was not closed: %v", err)
}

// echoes reports nil if one exchange over c comes back whole.
func echoes(c net.Conn, msg string) error {
	c.SetDeadline(time.Now().Add(10 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := c.Write([]byte(msg)); err != nil {
		return err
	}
	return ReadExactly(c, []byte(msg))
}

// peerIP is the IP of a Conn's peer, unmapped.
func peerIP(c reactor.Conn) netip.Addr { return reactor.PeerOf(c.RemoteAddr()) }

func mustPrefixes(t *testing.T, s string) []netip.Prefix {
	t.Helper()
	p, err := access.ParsePrefixes(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestAdmissionDeny: a peer in a Deny network is closed at once and no
// Factory runs for it; an allowed peer beside it is served; the refusals
// are counted.
func TestAdmissionDeny(t *testing.T) {
	ForEachBackend(t, AdmitDeny, func(t *testing.T, name string) {
		rules := access.New(access.Config{Deny: mustPrefixes(t, peerB), Logger: quietLog})
		var calls, denied atomic.Int64
		f := func(c reactor.Conn) reactor.Handler {
			calls.Add(1)
			if peerIP(c) == netip.MustParseAddr(peerB) {
				denied.Add(1)
			}
			return echo.New(c)
		}
		l := NewLoop(t, name, 2, reactor.WithAdmission(rules))
		addr := Listen(t, l, f)
		ok := dialFromT(t, peerA, addr)
		const n = 20
		for i := range n {
			c := dialFromT(t, peerB, addr)
			if i%2 == 0 {
				c.Write([]byte("hello?")) // a peer that speaks first is refused the same
			}
			if err := refusedConn(c); err != nil {
				t.Fatalf("denied connection %d: %v", i, err)
			}
		}
		if err := echoes(ok, "allowed peer"); err != nil {
			t.Fatalf("the allowed peer is not served: %v", err)
		}
		WaitFor(t, 5*time.Second, "the refusals counted", func() bool { return rules.Stats().Refused[access.Denied] == n })
		if d := denied.Load(); d != 0 {
			t.Errorf("the Factory ran %d times for the denied peer", d)
		}
		if c := calls.Load(); c != 1 {
			t.Errorf("the Factory ran %d times, want 1 (the allowed peer)", c)
		}
	})
}

// TestAdmissionLimits: with --max-conns-per-ip, a peer over its limit is
// refused at accept and counted while a thousand such connects hammer the
// server, and an admitted client keeps being served all along; with
// --max-conns, one over the global limit is refused; closing a connection
// makes room again; after Shutdown nothing is left counted. With several
// loops and every balance, so that connections handed to another loop are
// released too.
func TestAdmissionLimits(t *testing.T) {
	ForEachBackend(t, AdmitLimits, func(t *testing.T, name string) {
		for _, b := range []reactor.Balance{reactor.BalanceReusePort, reactor.BalanceRoundRobin, reactor.BalanceLeastConns} {
			t.Run("balance="+b.String(), func(t *testing.T) { admissionLimits(t, name, b) })
		}
	})
}

func admissionLimits(t *testing.T, name string, b reactor.Balance) {
	rules := access.New(access.Config{MaxConns: 4, MaxConnsPerIP: 2, Logger: quietLog})
	var calls atomic.Int64
	f := func(c reactor.Conn) reactor.Handler { calls.Add(1); return echo.New(c) }
	l := NewLoop(t, name, 3, reactor.WithAdmission(rules), reactor.WithBalance(b))
	addr := Listen(t, l, f)

	client := dialFromT(t, peerA, addr)
	h1, h2 := dialFromT(t, peerB, addr), dialFromT(t, peerB, addr)
	for i, c := range []net.Conn{client, h1, h2} {
		if err := echoes(c, "admitted"); err != nil {
			t.Fatalf("connection %d under the limits is not served: %v", i, err)
		}
	}

	// A thousand connects from peerB, over its limit, while the client
	// keeps exchanging: each is refused, and the client is served.
	const hammer = 1000
	var wg sync.WaitGroup
	var next atomic.Int64
	errs := make(chan error, hammer)
	for range 8 {
		wg.Go(func() {
			for next.Add(1) <= hammer {
				c, err := dialFrom(peerB, addr)
				if err != nil {
					errs <- err
					continue
				}
				if err := refusedConn(c); err != nil {
					errs <- err
				}
				c.Close()
			}
		})
	}
	hammered := make(chan struct{})
	go func() { wg.Wait(); close(hammered) }()
	exchanges := 0
	for done := false; !done || exchanges < 50; exchanges++ {
		select {
		case <-hammered:
			done = true
		default:
		}
		if err := echoes(client, fmt.Sprintf("exchange %d", exchanges)); err != nil {
			t.Fatalf("the admitted client, exchange %d during the flood: %v", exchanges, err)
		}
	}
	close(errs)
	for err := range errs {
		t.Fatalf("a connect over the per-IP limit: %v", err)
	}
	WaitFor(t, 5*time.Second, "the per-IP refusals counted", func() bool {
		return rules.Stats().Refused[access.MaxConnsPerIP] == hammer
	})
	t.Logf("%d exchanges during %d refused connects", exchanges, hammer)

	// The global limit: four open, the fifth refused.
	d := dialFromT(t, peerC, addr)
	if err := echoes(d, "fourth"); err != nil {
		t.Fatalf("the fourth connection: %v", err)
	}
	if err := refusedConn(dialFromT(t, peerD, addr)); err != nil {
		t.Fatalf("a fifth connection over MaxConns=4: %v", err)
	}
	WaitFor(t, 5*time.Second, "the max-conns refusal counted", func() bool {
		return rules.Stats().Refused[access.MaxConns] == 1
	})

	// A close makes room, for the global and the per-IP limit at once.
	h1.Close()
	WaitFor(t, 5*time.Second, "the closed connection released", func() bool { return rules.Stats().Open == 3 })
	again := dialFromT(t, peerB, addr)
	if err := echoes(again, "room again"); err != nil {
		t.Fatalf("a connection after a release made room: %v", err)
	}
	if err := echoes(client, "still here"); err != nil {
		t.Fatal(err)
	}
	if c := calls.Load(); c != 5 {
		t.Errorf("the Factory ran %d times, want 5 (the admitted connections only)", c)
	}

	ctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
	if err := l.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if st := rules.Stats(); st.Open != 0 || st.Peers != 0 {
		t.Fatalf("after Shutdown: %d connections and %d peers still counted, want none", st.Open, st.Peers)
	}
}

// recordingAdmission admits everyone and records the peers it is given.
type recordingAdmission struct {
	mu                sync.Mutex
	admitted, release []netip.Addr
}

func (r *recordingAdmission) Admit(p netip.Addr) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.admitted = append(r.admitted, p)
	return true
}

func (r *recordingAdmission) Release(p netip.Addr) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.release = append(r.release, p)
}

func (r *recordingAdmission) seen() (admitted, released []netip.Addr) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.admitted), slices.Clone(r.release)
}

// TestAdmissionMapped: on a dual-stack listener (":0"), an IPv4 peer
// reaches the Admission as IPv4, not as ::ffff:a.b.c.d, and an IPv6 one as
// IPv6; each is released once, as the same address, when it closes.
func TestAdmissionMapped(t *testing.T) {
	ForEachBackend(t, AdmitMapped, func(t *testing.T, name string) {
		rec := &recordingAdmission{}
		l := NewLoop(t, name, 1, reactor.WithAdmission(rec))
		a, err := l.Listen("tcp", ":0", echo.New)
		if err != nil {
			t.Fatal(err)
		}
		port := a.(*net.TCPAddr).Port
		want := []netip.Addr{netip.MustParseAddr(peerA)}
		c4 := dialFromT(t, peerA, fmt.Sprintf("127.0.0.1:%d", port))
		if err := echoes(c4, "v4"); err != nil {
			t.Fatal(err)
		}
		if ip := a.(*net.TCPAddr).IP; ip.To4() == nil {
			// Dual stack: an IPv6 peer too.
			c6 := dialFromT(t, "::1", fmt.Sprintf("[::1]:%d", port))
			if err := echoes(c6, "v6"); err != nil {
				t.Fatal(err)
			}
			want = append(want, netip.MustParseAddr("::1"))
			c6.Close()
		} else {
			t.Logf("no IPv6 here: the listener is %v, not dual-stack", a)
		}
		c4.Close()
		WaitFor(t, 5*time.Second, "both released", func() bool { _, r := rec.seen(); return len(r) >= len(want) })
		admitted, released := rec.seen()
		slices.SortFunc(admitted, netip.Addr.Compare)
		slices.SortFunc(released, netip.Addr.Compare)
		slices.SortFunc(want, netip.Addr.Compare)
		if !slices.Equal(admitted, want) {
			t.Errorf("Admit saw %v, want %v", admitted, want)
		}
		if !slices.Equal(released, want) {
			t.Errorf("Release saw %v, want %v", released, want)
		}
	})
}

// countingPoller counts registrations.
type countingPoller struct {
	poller.Poller
	n *atomic.Int64
}

func (p countingPoller) Register(fd int, tok poller.Token) error {
	p.n.Add(1)
	return p.Poller.Register(fd, tok)
}

// countingLT is countingPoller for a level-triggered poller, which must
// keep its SetInterest.
type countingLT struct {
	countingPoller
	lt poller.LevelTriggered
}

func (p countingLT) SetInterest(fd int, tok poller.Token, in poller.Interest) error {
	return p.lt.SetInterest(fd, tok, in)
}

// TestAdmissionBeforeRegistration: a refused connection is closed before
// the loop registers it with the poller (no epoll_ctl, no table entry):
// twenty refusals add no registration.
func TestAdmissionBeforeRegistration(t *testing.T) {
	ForEachBackend(t, AdmitUnregistered, func(t *testing.T, name string) {
		if !slices.Contains(backend.Pollers(), name) {
			t.Fatalf("%s is no poller of the native loop: it needs a Limits entry for %s", name, AdmitUnregistered)
		}
		var registered atomic.Int64
		open := func() (poller.Poller, error) {
			p, err := backend.OpenPoller(name)
			if err != nil {
				return nil, err
			}
			cp := countingPoller{p, &registered}
			if lt, ok := p.(poller.LevelTriggered); ok {
				return countingLT{cp, lt}, nil
			}
			return cp, nil
		}
		rules := access.New(access.Config{Deny: mustPrefixes(t, peerB), Logger: quietLog})
		var calls atomic.Int64
		f := func(c reactor.Conn) reactor.Handler { calls.Add(1); return echo.New(c) }
		// One loop: its listener is registered before the first connection
		// is served. With more, another loop's listener could register
		// after the count is taken.
		l := NewLoop(t, name, 1, reactor.WithPoller(open), reactor.WithAdmission(rules))
		addr := Listen(t, l, f)
		first := dialFromT(t, peerA, addr)
		if err := echoes(first, "settled"); err != nil {
			t.Fatal(err)
		}
		before := registered.Load()
		const n = 20
		for i := range n {
			if err := refusedConn(dialFromT(t, peerB, addr)); err != nil {
				t.Fatalf("denied connection %d: %v", i, err)
			}
		}
		second := dialFromT(t, peerA, addr)
		if err := echoes(second, "after"); err != nil {
			t.Fatal(err)
		}
		if got := registered.Load() - before; got != 1 {
			t.Errorf("%d refusals and one admission made %d registrations, want 1", n, got)
		}
		if c := calls.Load(); c != 2 {
			t.Errorf("the Factory ran %d times, want 2", c)
		}
	})
}
