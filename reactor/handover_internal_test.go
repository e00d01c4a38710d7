package reactor

import (
	"testing"

	"golang.org/x/sys/unix"
)

// TestAdoptLoopSpreadsAGroup: a predecessor's SO_REUSEPORT group (a
// socket per loop) goes one socket per loop, whatever other sockets are
// adopted between its members; a loop with none would accept nothing.
func TestAdoptLoopSpreadsAGroup(t *testing.T) {
	const loops = 3
	g := &group{loops: make([]*eventLoop, loops)}
	for i := range g.loops {
		g.loops[i] = &eventLoop{id: i}
	}
	tcp := &unix.SockaddrInet4{Port: 7007, Addr: [4]byte{127, 0, 0, 1}}
	unixAddr := &unix.SockaddrUnix{Name: "/tmp/x.sock"}
	got := map[int]int{}
	// As a predecessor lists them: loop by loop, each with its TCP, UDP
	// and (one loop only) Unix socket.
	for i := 0; i < loops; i++ {
		got[g.adoptLoop("tcp", tcp).id]++
		g.adoptLoop("udp", tcp)
		if i == 0 {
			g.adoptLoop("tcp", unixAddr)
		}
	}
	for i := 0; i < loops; i++ {
		if got[i] != 1 {
			t.Fatalf("the group's sockets went to loops %v, want one on each of %d", got, loops)
		}
	}
}
