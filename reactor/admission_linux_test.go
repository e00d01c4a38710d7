//go:build linux

package reactor

import (
	"net/netip"
	"runtime"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

func TestRawPeer(t *testing.T) {
	v4 := func(a [4]byte) *unix.RawSockaddrAny {
		var rsa unix.RawSockaddrAny
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(&rsa))
		sa.Family, sa.Addr = unix.AF_INET, a
		return &rsa
	}
	v6 := func(s string) *unix.RawSockaddrAny {
		var rsa unix.RawSockaddrAny
		sa := (*unix.RawSockaddrInet6)(unsafe.Pointer(&rsa))
		sa.Family, sa.Addr = unix.AF_INET6, netip.MustParseAddr(s).As16()
		return &rsa
	}
	unixSock := &unix.RawSockaddrAny{}
	unixSock.Addr.Family = unix.AF_UNIX
	for _, tc := range []struct {
		name string
		rsa  *unix.RawSockaddrAny
		want netip.Addr
	}{
		{"v4", v4([4]byte{10, 1, 2, 3}), netip.MustParseAddr("10.1.2.3")},
		{"v4-mapped v6 is unmapped", v6("::ffff:10.1.2.3"), netip.MustParseAddr("10.1.2.3")},
		{"v6", v6("2001:db8::1"), netip.MustParseAddr("2001:db8::1")},
		{"v6 loopback", v6("::1"), netip.IPv6Loopback()},
		{"unix has none", unixSock, netip.Addr{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := rawPeer(tc.rsa); got != tc.want {
				t.Errorf("rawPeer = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestAcceptWithAdmissionAllocatesOnlyTheConn is
// TestAcceptAllocatesOnlyTheConn with an Admission: the peer's address comes
// from a sockaddr the loop owns and goes in the loop's side table. The
// first thousand accepts grow that table (amortized, logged); the next
// thousand, after the first closed, allocate only their conns: the table
// keeps its room.
func TestAcceptWithAdmissionAllocatesOnlyTheConn(t *testing.T) {
	const n = 1000
	l := newTestLoop(t)
	adm := newCountingAdmission()
	withAdmission(l, adm)
	lfd, err := listenSocket(unix.AF_INET, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}, "tcp", false)
	if err != nil {
		t.Fatal(err)
	}
	shared := nothing{}
	l.addListener(lfd, func(Conn) Handler { return shared }, nil, 0, nil)
	sa, err := unix.Getsockname(lfd)
	if err != nil {
		t.Fatal(err)
	}
	a := l.entry(lfd).h.(*acceptor)
	l.budget = 2 * n * acceptCost
	round := func() (allocs, bytes float64) {
		for i := range n {
			fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { unix.Close(fd) })
			// Four peers, so that the Admission sees addresses, not one.
			if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, byte(2 + i%4)}}); err != nil {
				t.Fatal(err)
			}
			if err := unix.Connect(fd, sa); err != nil && err != unix.EINPROGRESS {
				t.Fatal(err)
			}
		}
		deadline := time.Now().Add(10 * time.Second)
		for backlog(t, lfd) < n {
			if time.Now().After(deadline) {
				t.Fatalf("the listener's backlog holds %d connections after 10s, want %d", backlog(t, lfd), n)
			}
			time.Sleep(time.Millisecond)
		}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		l.spent = 0
		a.HandleRecv()
		runtime.ReadMemStats(&after)
		if l.live != n {
			t.Fatalf("accepted %d connections, want %d", l.live, n)
		}
		counts := adm.counts()
		for i := range 4 {
			if p := netip.AddrFrom4([4]byte{127, 0, 0, byte(2 + i)}); counts[p] != n/4 {
				t.Errorf("peer %v admitted %d times, want %d (all: %v)", p, counts[p], n/4, counts)
			}
		}
		return float64(after.Mallocs-before.Mallocs) / n, float64(after.TotalAlloc-before.TotalAlloc) / n
	}
	allocs, bytes := round()
	t.Logf("first %d accepts with an Admission: %.2f allocations, %.0f bytes each (the conn is %d bytes; the side table grows)", n, allocs, bytes, connSize)
	if allocs > 1.1 {
		t.Errorf("an accept with an Admission allocates %.2f objects: want only the conn and amortized growth", allocs)
	}
	for c := range l.owned {
		if c.kind == kindStream {
			l.closeConn(c, nil)
		}
	}
	if got := adm.counts(); len(got) != 0 || len(l.peers) != 0 {
		t.Fatalf("after closing all: admission %v, side table %d entries; want none", got, len(l.peers))
	}
	allocs, bytes = round()
	t.Logf("next %d accepts: %.2f allocations, %.0f bytes each", n, allocs, bytes)
	if allocs > 1.1 || bytes > 96 {
		t.Errorf("an accept with an Admission allocates %.2f objects, %.0f bytes once the side table has room: want only the conn (1 object, %d bytes) and amortized growth",
			allocs, bytes, connSize)
	}
}
