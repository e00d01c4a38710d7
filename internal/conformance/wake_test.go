package conformance

import (
	"io"
	"testing"
	"time"

	"github.com/edgeloop/edgeloop/protocols/echo"
	"github.com/edgeloop/edgeloop/reactor"
)

// gatedEcho is echo that takes input only once its gate is open.
type gatedEcho struct {
	*echo.Handler
	c    reactor.Conn
	open bool
}

func (g *gatedEcho) WantsRecv() bool { return g.open && g.Handler.WantsRecv() }

// wakeRig is the server side of TestWake: the first connection (A) is a
// gated echo, the others open A's gate from their HandleRecv. Its fields are
// touched only on the loop goroutine (Factory, handler calls, posted
// functions), with no lock: what the loop contract allows handlers of one
// loop.
type wakeRig struct {
	made chan int // the number of each connection made, for the test goroutine
	n    int
	a    *gatedEcho
}

// openA is what the tests run on the loop: open A's gate and ask the loop to
// consult A's handler again.
func (r *wakeRig) openA() {
	r.a.open = true
	r.a.c.Wake()
}

func (r *wakeRig) factory(c reactor.Conn) reactor.Handler {
	r.n++
	r.made <- r.n
	if r.n == 1 {
		r.a = &gatedEcho{Handler: echo.New(c).(*echo.Handler), c: c}
		return r.a
	}
	return &opener{c: c, rig: r}
}

// opener opens A's gate when its own input arrives, and closes at EOF.
type opener struct {
	c   reactor.Conn
	rig *wakeRig
}

func (o *opener) WantsRecv() bool   { return true }
func (o *opener) WantsSend() bool   { return false }
func (o *opener) HandleSend() error { return nil }

func (o *opener) HandleRecv() error {
	n, err := o.c.Read(o.c.ReadBuffer())
	if n > 0 {
		o.rig.openA()
	}
	switch err {
	case nil, reactor.ErrWouldBlock:
		return nil
	case io.EOF:
		return o.c.Close()
	}
	return err
}

// TestWake: connection A has input waiting in the kernel but its handler's
// WantsRecv is false. Something other than A's own handler call makes it
// true and calls A's Conn.Wake: then A must be served, and its echo arrive,
// with nothing more from A's peer, since no new edge will come for A.
// Before Wake, only Conn.Post rescheduled a connection, so A stalled. The
// change comes from another connection's HandleRecv, or from a function run
// by Loop.Post.
func TestWake(t *testing.T) {
	for _, from := range []struct {
		name string
		b    Behaviour
		open func(t *testing.T, l *reactor.Loop, rig *wakeRig, addr string)
	}{
		{"from=handler", WakeFromHandler, func(t *testing.T, _ *reactor.Loop, rig *wakeRig, addr string) {
			b := DialTCP(t, addr)
			waitMade(t, rig, 2)
			if _, err := b.Write([]byte("open")); err != nil {
				t.Fatal(err)
			}
		}},
		{"from=Loop.Post", WakeFromPost, func(t *testing.T, l *reactor.Loop, rig *wakeRig, _ string) {
			if err := l.Post(rig.openA); err != nil {
				t.Fatalf("Post: %v", err)
			}
		}},
	} {
		t.Run(from.name, func(t *testing.T) {
			ForEachBackend(t, from.b, func(t *testing.T, backend string) {
				rig := &wakeRig{made: make(chan int, 4)}
				l, addr := Start(t, backend, 1, rig.factory)
				a := DialTCP(t, addr)
				waitMade(t, rig, 1)
				msg := []byte("ping")
				if _, err := a.Write(msg); err != nil {
					t.Fatal(err)
				}
				WaitFor(t, 5*time.Second, "the server's kernel to acknowledge A's input", func() bool {
					return unacked(t, a) == 0
				})
				from.open(t, l, rig, addr)
				a.SetReadDeadline(time.Now().Add(5 * time.Second))
				if err := ReadExactly(a, msg); err != nil {
					t.Fatalf("A's echo: %v: A was not served after its wants changed and Wake was called", err)
				}
			})
		})
	}
}

// waitMade waits until the rig's Factory has made connection n.
func waitMade(t *testing.T, rig *wakeRig, n int) {
	t.Helper()
	for {
		select {
		case got := <-rig.made:
			if got == n {
				return
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("the Factory had not made connection %d after 5s", n)
		}
	}
}
