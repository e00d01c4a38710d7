package reactor

import (
	"net/netip"
	"testing"

	"golang.org/x/sys/unix"
)

// TestShutdownClosesInbox: connections handed to a loop that has begun
// Shutdown, or that exits before it takes them, or that has exited, are
// closed and never served; the loop's count forgets them.
func TestShutdownClosesInbox(t *testing.T) {
	table := newFDTable()
	a, b := newTestLoopOn(t, 0, table), newTestLoopOn(t, 1, table)
	served, refused := 0, 0
	f := func(Conn) Handler { served++; return nothing{} }
	// handOff hands n sockets to b and returns their peers.
	handOff := func(n int) []int {
		var peers []int
		for range n {
			fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { unix.Close(fds[1]) })
			unix.SetNonblock(fds[1], true)
			if !b.handOff(a, fds[0], f, netip.Addr{}) {
				// Refused: the accepting loop serves it itself; here,
				// closing it stands for that.
				refused++
				unix.Close(fds[0])
			}
			peers = append(peers, fds[1])
		}
		a.wakeInboxes()
		return peers
	}
	// closed checks that the far end of each peer was closed.
	closed := func(when string, peers []int) {
		t.Helper()
		for i, p := range peers {
			if n, err := unix.Read(p, make([]byte, 1)); n != 0 || err != nil {
				t.Errorf("%s: handed-off connection %d is still open (read: %d, %v)", when, i, n, err)
			}
		}
	}
	b.beginDrain()
	early := handOff(3)
	if !b.hasInbox.Load() || len(b.inbox) != 3 || b.load.Load() != 3 {
		t.Fatalf("after the hand-off: flag %v, inbox %d, count %d; want true, 3, 3", b.hasInbox.Load(), len(b.inbox), b.load.Load())
	}
	b.takeInbox() // the turn after Shutdown began
	closed("taken after Shutdown began", early)
	late := handOff(3)
	b.exit() // the loop stops before it takes them
	closed("waiting when the loop exited", late)
	closed("handed to an exited loop", handOff(2))
	if refused != 2 {
		t.Errorf("%d of 2 hand-offs to an exited loop refused: the accepting loop must keep them, not lose them", refused)
	}
	if served != 0 || b.load.Load() != 0 {
		t.Errorf("after Shutdown: %d handlers made, count %d; want 0, 0", served, b.load.Load())
	}
}
