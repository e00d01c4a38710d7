//go:build linux

package reactor

import (
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestAcceptAllocatesOnlyTheConn: accepting and registering a connection
// allocates the conn, which lives as long as the connection, and nothing
// else: no peer address (unix.Accept4 builds one that the loop throws
// away), no table regrown by append. Table chunks and the ready list are
// amortized over many accepts. The loop is driven on the test goroutine,
// with the connections already queued in the listener's backlog, so that
// the process-wide allocation count holds only the accepts.
func TestAcceptAllocatesOnlyTheConn(t *testing.T) {
	const n = 1000
	l := newTestLoop(t)
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
	for range n {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { unix.Close(fd) })
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
	a := l.entry(lfd).h.(*acceptor)
	l.budget = 2 * n * acceptCost
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	l.spent = 0
	a.HandleRecv()
	runtime.ReadMemStats(&after)
	if l.live != n {
		t.Fatalf("accepted %d connections, want %d", l.live, n)
	}
	allocs := float64(after.Mallocs-before.Mallocs) / n
	bytes := float64(after.TotalAlloc-before.TotalAlloc) / n
	t.Logf("per accept: %.2f allocations, %.0f bytes (the conn is %d bytes)", allocs, bytes, connSize)
	// The conn (48 B, its size class) plus amortized growth: a table
	// chunk per 1024 descriptors, the ready list's appends.
	if allocs > 1.1 || bytes > 96 {
		t.Errorf("an accept allocates %.2f objects, %.0f bytes: want only the conn (1 object, %d bytes) and amortized growth",
			allocs, bytes, connSize)
	}
}

// connSize is the size of a conn, for the message.
const connSize = 48

// backlog returns how many connections wait in a listener's accept queue
// (tcpi_unacked, for a listening socket).
func backlog(t *testing.T, lfd int) int {
	ti, err := unix.GetsockoptTCPInfo(lfd, unix.IPPROTO_TCP, unix.TCP_INFO)
	if err != nil {
		t.Fatal(err)
	}
	return int(ti.Unacked)
}

// newTestLoop makes an event loop that no goroutine runs: the test drives it.
func newTestLoop(t *testing.T) *eventLoop { return newTestLoopOn(t, 0, newFDTable()) }

// entry returns the entry registered on fd.
func (l *eventLoop) entry(fd int) *conn { return l.table.load(fd) }
