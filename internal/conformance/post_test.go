package conformance

import (
	"bufio"
	"io"
	"strconv"
	"testing"
	"time"

	"github.com/edgeloop/edgeloop/reactor"
)

// counter replies to each input with the count of bytes read so far plus
// what posted functions added, one line. Its state has no lock: only its
// loop touches it, posted functions included.
type counter struct {
	c   reactor.Conn
	n   int
	gid uint64 // goroutine of the latest handler call
	out []byte
}

func (h *counter) WantsRecv() bool { return true }
func (h *counter) WantsSend() bool { return len(h.out) > 0 }

func (h *counter) HandleRecv() error {
	n, err := h.c.Read(h.c.ReadBuffer())
	h.gid = goid()
	if n > 0 {
		h.n += n
		h.out = strconv.AppendInt(h.out, int64(h.n), 10)
		h.out = append(h.out, '\n')
	}
	switch err {
	case nil, reactor.ErrWouldBlock:
		return nil
	case io.EOF:
		return h.c.Close()
	}
	return err
}

func (h *counter) HandleSend() error {
	n, err := h.c.Write(h.out)
	h.out = h.out[n:]
	if err == reactor.ErrWouldBlock {
		return nil
	}
	return err
}

// TestPostRunsOnTheLoop: a function given to Loop.Post (one loop) or to a
// connection's Conn.Post runs on that connection's loop goroutine, so it may
// change the handler's state with no lock: the handler's next reply counts
// what fn added, the race detector finds no race, and fn runs on the
// goroutine that calls the handler. Loop.Post used to say it ran fn "on a
// loop goroutine" while gnet and net ran `go fn()`; they are Limits now.
// On net, Conn.Post runs fn in step with the handler but on a goroutine of
// its own: the goroutine check is left out there, as Limits says.
func TestPostRunsOnTheLoop(t *testing.T) {
	for _, via := range []struct {
		name string
		b    Behaviour
		post func(l *reactor.Loop, c reactor.Conn, fn func()) error
	}{
		{"via=Loop.Post", PostLoop, func(l *reactor.Loop, _ reactor.Conn, fn func()) error { return l.Post(fn) }},
		{"via=Conn.Post", PostConn, func(_ *reactor.Loop, c reactor.Conn, fn func()) error { return c.Post(fn) }},
	} {
		t.Run(via.name, func(t *testing.T) {
			ForEachBackend(t, via.b, func(t *testing.T, backend string) {
				handlers := make(chan *counter, 1)
				l, addr := Start(t, backend, 1, func(c reactor.Conn) reactor.Handler {
					h := &counter{c: c}
					handlers <- h
					return h
				})
				c := DialTCP(t, addr)
				c.SetDeadline(time.Now().Add(10 * time.Second))
				r := bufio.NewReader(c)
				exchange := func(want string) {
					t.Helper()
					if _, err := c.Write([]byte("x")); err != nil {
						t.Fatal(err)
					}
					if line, err := r.ReadString('\n'); err != nil || line != want+"\n" {
						t.Fatalf("reply %q, %v; want %q", line, err, want+"\n")
					}
				}
				exchange("1")
				var h *counter
				select {
				case h = <-handlers:
				case <-time.After(5 * time.Second):
					t.Fatal("no handler was made")
				}

				sameG := make(chan bool, 1)
				err := via.post(l, h.c, func() {
					h.n += 100
					sameG <- goid() == h.gid
				})
				if err != nil {
					t.Fatalf("Post: %v", err)
				}
				var same bool
				select {
				case same = <-sameG:
				case <-time.After(5 * time.Second):
					t.Fatal("the posted function had not run after 5s")
				}
				exchange("102")

				switch why, limited := Limited(backend, PostConnSameG); {
				case same:
				case via.b == PostConn && limited:
					t.Logf("%s: fn ran on a goroutine other than the handler's, by design: %s", backend, why)
				default:
					t.Errorf("the posted function ran on another goroutine than the handler's calls")
				}
			})
		})
	}
}
