package reactor_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/edgeloop/edgeloop/reactor"
)

// addrProbe records the addresses its Conn reports, then closes.
type addrProbe struct {
	c   reactor.Conn
	got chan [2]string
}

func (h *addrProbe) WantsRecv() bool   { return true }
func (h *addrProbe) WantsSend() bool   { return false }
func (h *addrProbe) HandleSend() error { return nil }
func (h *addrProbe) HandleRecv() error {
	h.got <- [2]string{h.c.LocalAddr().String(), h.c.RemoteAddr().String()}
	return h.c.Close()
}

// TestConnAddrs: a connection's LocalAddr is the listener's address and its
// RemoteAddr is the client's, on every backend.
func TestConnAddrs(t *testing.T) {
	for _, backend := range allBackends {
		t.Run(backend, func(t *testing.T) {
			l, err := newLoopErr(backend)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				l.Shutdown(ctx)
			})
			got := make(chan [2]string, 1)
			addr, err := l.Listen("tcp", "127.0.0.1:0", func(c reactor.Conn) reactor.Handler {
				return &addrProbe{c: c, got: got}
			})
			if err != nil {
				t.Fatal(err)
			}
			c, err := net.DialTimeout("tcp", addr.String(), 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.Write([]byte("x"))
			select {
			case a := <-got:
				if a[0] != addr.String() {
					t.Errorf("LocalAddr = %s, want the listener's %s", a[0], addr)
				}
				if a[1] != c.LocalAddr().String() {
					t.Errorf("RemoteAddr = %s, want the client's %s", a[1], c.LocalAddr())
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the handler never ran")
			}
		})
	}
}
