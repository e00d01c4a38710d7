package reactor

import (
	"net/netip"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// countingAdmission admits everyone and counts, by peer, the connections
// admitted and not yet released.
type countingAdmission struct {
	mu   sync.Mutex
	open map[netip.Addr]int
}

func newCountingAdmission() *countingAdmission {
	return &countingAdmission{open: map[netip.Addr]int{}}
}

func (a *countingAdmission) Admit(p netip.Addr) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.open[p]++
	return true
}

func (a *countingAdmission) Release(p netip.Addr) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.open[p]--
	if a.open[p] == 0 {
		delete(a.open, p)
	}
}

// counts returns the open connections by peer.
func (a *countingAdmission) counts() map[netip.Addr]int {
	a.mu.Lock()
	defer a.mu.Unlock()
	m := make(map[netip.Addr]int, len(a.open))
	for k, v := range a.open {
		m[k] = v
	}
	return m
}

// withAdmission gives a test loop an Admission, as New does for
// WithAdmission.
func withAdmission(l *eventLoop, a Admission) {
	l.adm, l.peers = a, make(map[int32]netip.Addr)
}

// TestAdmissionReleasedThroughHandOff: a connection admitted on one loop and
// handed to another is released once however it ends there: served and
// closed, closed in the inbox because Shutdown began, or waiting in the
// inbox when the loop exited.
func TestAdmissionReleasedThroughHandOff(t *testing.T) {
	table := newFDTable()
	a, b := newTestLoopOn(t, 0, table), newTestLoopOn(t, 1, table)
	adm := newCountingAdmission()
	withAdmission(a, adm)
	withAdmission(b, adm)
	f := func(Conn) Handler { return nothing{} }
	peer := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}) }
	next := 0
	// handOff admits n sockets from fresh peers and hands them to b.
	handOff := func(n int) {
		for range n {
			fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { unix.Close(fds[1]) })
			next++
			p := peer(next)
			adm.Admit(p)
			if !b.handOff(a, fds[0], f, p) {
				a.addAdmitted(fds[0], f, p) // as HandleRecv does
			}
		}
		a.wakeInboxes()
	}
	check := func(when string, want int) {
		t.Helper()
		if got := adm.counts(); len(got) != want {
			t.Fatalf("%s: %d peers still admitted (%v), want %d", when, len(got), got, want)
		}
	}
	handOff(3)
	b.takeInbox()
	check("served on the target", 3)
	if len(b.peers) != 3 {
		t.Fatalf("the target keeps %d peers, want 3", len(b.peers))
	}
	for c := range b.owned {
		b.closeConn(c, nil)
	}
	check("after the target closed them", 0)
	b.beginDrain()
	handOff(2)
	b.takeInbox()
	check("closed in the inbox once Shutdown began", 0)
	handOff(2)
	b.exit()
	check("waiting in the inbox when the loop exited", 0)
	handOff(2) // refused by the exited loop: the accepting loop serves them
	check("kept by the accepting loop", 2)
	a.exit()
	check("after the accepting loop exited", 0)
	if len(a.peers) != 0 || len(b.peers) != 0 {
		t.Errorf("side tables hold %d and %d peers after exit, want none", len(a.peers), len(b.peers))
	}
}

// TestAdmissionReleasedAtDetach: a connection taken off its loop with
// Detach counts no more: its admission is released at once.
func TestAdmissionReleasedAtDetach(t *testing.T) {
	l := newTestLoopOn(t, 0, newFDTable())
	adm := newCountingAdmission()
	withAdmission(l, adm)
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fds[1]) })
	p := netip.MustParseAddr("192.0.2.1")
	adm.Admit(p)
	var c Conn
	l.addAdmitted(fds[0], func(cc Conn) Handler { c = cc; return nothing{} }, p)
	f, err := Detach(c)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if got := adm.counts(); len(got) != 0 || len(l.peers) != 0 {
		t.Fatalf("after Detach: admission %v, side table %d; want nothing", got, len(l.peers))
	}
}
