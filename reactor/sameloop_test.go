package reactor_test

import (
	"net"
	"strings"
	"testing"

	"github.com/edgeloop/edgeloop/reactor"
)

// loopOf returns the "loop=N" part of a native Conn's String.
func loopOf(c reactor.Conn) string {
	s := c.String()
	i := strings.Index(s, "loop=")
	return s[i : i+strings.IndexByte(s[i:], ' ')]
}

// upstream wants nothing: a connection that only has to exist.
type upstream struct {
	c reactor.Conn
}

func (h *upstream) WantsRecv() bool   { return false }
func (h *upstream) WantsSend() bool   { return false }
func (h *upstream) HandleRecv() error { return nil }
func (h *upstream) HandleSend() error { return nil }

// TestDialSameLoopSharesTheLoop is the regression test for a proxy that
// dialled its upstream from its Factory with Dial: with several loops the
// upstream landed on another loop's goroutine, and the proxy's handlers
// raced (corrupted echoes, races in schedule). DialSameLoop puts it on the
// downstream connection's loop, every time.
func TestDialSameLoopSharesTheLoop(t *testing.T) {
	forPollers(t, func(t *testing.T, name string) {
		l := newLoop(t, name, reactor.WithLoops(2))
		sink, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer sink.Close()
		go func() {
			for {
				c, err := sink.Accept()
				if err != nil {
					return
				}
				defer c.Close()
			}
		}()
		type pair struct{ down, up string }
		pairs := make(chan pair, 16)
		addr, err := l.Listen("tcp", "127.0.0.1:0", func(c reactor.Conn) reactor.Handler {
			down := loopOf(c)
			up := make(chan string, 1)
			if err := l.DialSameLoop(c, "tcp", sink.Addr().String(), func(u reactor.Conn) reactor.Handler {
				up <- loopOf(u)
				return &upstream{c: u}
			}); err != nil {
				t.Errorf("DialSameLoop: %v", err)
			}
			go func() { pairs <- pair{down, recv(t, up, "the upstream's Factory")} }()
			return &upstream{c: c}
		})
		if err != nil {
			t.Fatal(err)
		}
		const n = 8 // round robin would split them between the two loops
		for range n {
			c, err := net.Dial("tcp", addr.String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
		}
		loops := map[string]bool{}
		for range n {
			p := recv(t, pairs, "a proxied pair")
			if p.down != p.up {
				t.Fatalf("downstream on %s, its upstream on %s", p.down, p.up)
			}
			loops[p.down] = true
		}
		if len(loops) < 2 {
			t.Logf("all %d downstream connections landed on one loop; the test still checked each pair", n)
		}
	})
}

// TestFdAfterCloseIsMinusOne: a closed Conn's Fd is -1, never the old number,
// which another socket may have taken by then.
func TestFdAfterCloseIsMinusOne(t *testing.T) {
	forPollers(t, func(t *testing.T, name string) {
		l := newLoop(t, name)
		fds := make(chan [2]int, 1)
		addr, err := l.Listen("tcp", "127.0.0.1:0", func(c reactor.Conn) reactor.Handler {
			before := c.Fd()
			c.Close()
			fds <- [2]int{before, c.Fd()}
			return &upstream{c: c}
		})
		if err != nil {
			t.Fatal(err)
		}
		c, err := net.Dial("tcp", addr.String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		got := recv(t, fds, "the Factory's Fd")
		if got[0] < 0 || got[1] != -1 {
			t.Fatalf("Fd before Close %d, after %d; want a descriptor, then -1", got[0], got[1])
		}
	})
}
