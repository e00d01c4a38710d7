package reactor

import (
	"sync"
	"testing"

	"github.com/edgeloop/edgeloop/poller"
	"golang.org/x/sys/unix"
)

// TestStaleEventOnReusedFDOfAnotherLoop: loop A closed a descriptor and
// loop B got the same number at once; an event A had queued for the old
// connection, whose generation equals the new one's (each loop counts its
// own), must not reach B's connection: A would serve it on A's goroutine.
func TestStaleEventOnReusedFDOfAnotherLoop(t *testing.T) {
	table := newFDTable()
	a, b := newTestLoopOn(t, 0, table), newTestLoopOn(t, 1, table)
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[1])
	unix.SetNonblock(fds[0], true)
	old, err := a.register(fds[0], kindStream, 0)
	if err != nil {
		t.Fatal(err)
	}
	a.live++
	old.h = nothing{}
	stale := poller.NewEvent(token(old.fd, old.gen), poller.FlagReadable)
	a.closeConn(old, nil)

	fd, err := unix.Dup(fds[1]) // the lowest free number: the one A closed
	if err != nil {
		t.Fatal(err)
	}
	if fd != int(old.fd) {
		unix.Close(fd)
		t.Skipf("the descriptor was not reused (got %d, closed %d): another goroutine took it", fd, old.fd)
	}
	b.gen = old.gen - 1 // B's next generation is the one A used
	reused, err := b.register(fd, kindStream, 0)
	if err != nil {
		t.Fatal(err)
	}
	b.live++
	reused.h = nothing{}
	if reused.gen != old.gen {
		t.Fatalf("generations differ (%d, %d): the test does not reproduce the collision", reused.gen, old.gen)
	}
	a.dispatch(stale)
	if len(a.ready) != 0 || reused.flags&(fReadable|fQueued) != 0 {
		t.Errorf("loop A's stale event for fd %d reached loop B's connection (flags %#x, A's ready list %d): "+
			"dispatch must ignore entries of another loop", fd, reused.flags, len(a.ready))
	}
}

// TestTableSharedAcrossLoops: loops store and clear their own entries at
// once, growing the table, and every loop reads others' entries while they
// change; -race checks the table's atomics.
func TestTableSharedAcrossLoops(t *testing.T) {
	table := newFDTable()
	loops := []*eventLoop{{id: 0, table: table}, {id: 1, table: table}}
	var wg sync.WaitGroup
	const span = 3 * fdChunkSize
	for i, l := range loops {
		wg.Go(func() {
			for fd := i; fd < span; fd += 2 {
				c := &conn{fd: int32(fd), loop: l, gen: 1}
				table.store(fd, c)
				if got := table.load(fd); got != c {
					t.Errorf("loop %d: entry %d is %p, want %p", i, fd, got, c)
				}
				if other := table.load(fd ^ 1); other != nil && other.loop == l {
					t.Errorf("loop %d: entry %d of the other loop is ours", i, fd^1)
				}
			}
		})
	}
	wg.Wait()
	for i, l := range loops {
		n := 0
		for c := range l.owned {
			if int(c.fd)%2 != i {
				t.Errorf("loop %d owns fd %d", i, c.fd)
			}
			n++
			table.clear(int(c.fd))
		}
		if n != span/2 {
			t.Errorf("loop %d owns %d entries, want %d", i, n, span/2)
		}
	}
	// Beyond the directory made up front: it grows.
	far := len(table.dir.Load().chunks)<<fdChunkBits + 5
	c := &conn{fd: int32(far), loop: loops[0]}
	table.store(far, c)
	if table.load(far) != c {
		t.Errorf("entry %d beyond the first directory was lost", far)
	}
}

// nothing is a handler that wants nothing and holds nothing, shared by every
// connection, so that an accept allocates only for the loop's own sake.
type nothing struct{}

func (nothing) WantsRecv() bool   { return false }
func (nothing) WantsSend() bool   { return false }
func (nothing) HandleRecv() error { return nil }
func (nothing) HandleSend() error { return nil }

// newTestLoopOn makes an event loop, the loop of index id in a group with
// table, that no goroutine runs: the test drives it.
func newTestLoopOn(t *testing.T, id int, table *fdTable) *eventLoop {
	p, err := poller.New()
	if err != nil {
		t.Fatal(err)
	}
	o := defaultOptions()
	l := newEventLoop(id, p, table, &o)
	t.Cleanup(func() { l.exit() })
	return l
}
