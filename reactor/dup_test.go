package reactor_test

import (
	"sync"
	"testing"
	"time"

	"github.com/edgeloop/edgeloop/internal/conformance"
	"github.com/edgeloop/edgeloop/poller"
	"github.com/edgeloop/edgeloop/reactor"
	"golang.org/x/sys/unix"
)

// recorder wraps a poller and counts, per token, the events its Wait hands
// the loop: what reached the loop, whatever the loop then did with it.
type recorder struct {
	poller.Poller
	mu   sync.Mutex
	seen map[poller.Token]int
}

func (r *recorder) Wait(events []poller.Event, timeout time.Duration) (int, error) {
	n, err := r.Poller.Wait(events, timeout)
	r.mu.Lock()
	for _, ev := range events[:n] {
		r.seen[ev.Token]++
	}
	r.mu.Unlock()
	return n, err
}

// events returns how many events for tok Wait has returned so far.
func (r *recorder) events(tok poller.Token) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.seen[tok]
}

// recordedLoop starts a one-loop Loop over the poller of backend name,
// wrapped in a recorder, and returns both.
func recordedLoop(t *testing.T, name string) (*reactor.Loop, *recorder) {
	t.Helper()
	recs := make(chan *recorder, 1)
	l := wrappedLoop(t, name, func(p poller.Poller) poller.Poller {
		r := &recorder{Poller: p, seen: map[poller.Token]int{}}
		recs <- r
		return r
	})
	return l, recv(t, recs, "the loop's poller")
}

// TestNoEventAfterCloseWithDupOpen: the loop deregisters a connection
// before it closes the descriptor, because a duplicate of the descriptor
// (dup, fork, SCM_RIGHTS) keeps the socket, and with it an epoll
// registration, alive after close; deregistering afterwards fails (EBADF)
// and the registration goes on reporting. The test keeps a duplicate of a
// server connection's descriptor open while the loop closes it, then sends
// to the socket the duplicate keeps alive: no event for the closed
// connection's registration may reach the loop, neither then nor after a
// new connection takes its descriptor number, and the new connection gets
// no call meant for the old socket.
func TestNoEventAfterCloseWithDupOpen(t *testing.T) {
	forPollers(t, func(t *testing.T, backend string) {
		l, rec := recordedLoop(t, backend)
		hs := make(chan *tracked, 8)
		addr := conformance.Listen(t, l, func(c reactor.Conn) reactor.Handler {
			h := newTracked(c)
			hs <- h
			return h
		})
		c := conformance.DialTCP(t, addr)
		h := recv(t, hs, "the server's handler")
		// Sockets for the new connections, made while h's descriptor is in
		// use so that they cannot take its number.
		clients := []int{rawSocket(t), rawSocket(t), rawSocket(t), rawSocket(t)}

		dup, err := unix.Dup(h.fd)
		if err != nil {
			t.Fatalf("dup: %v", err)
		}
		t.Cleanup(func() { unix.Close(dup) })
		var tok poller.Token
		var before int
		onLoop(t, h.c, func() {
			tok = reactor.Token(h.c)
			h.c.Close()
			before = rec.events(tok) // the next Wait starts after the close
		})
		recv(t, h.closeErr, "HandleClose")

		// The socket lives on through dup: data for it arrives, and a
		// registration that survived the close reports it.
		c.SetDeadline(time.Now().Add(waitTimeout))
		if _, err := c.Write([]byte("to the closed connection")); err != nil {
			t.Fatal(err)
		}
		conformance.WaitFor(t, waitTimeout, "the data to reach the socket the duplicate keeps open", func() bool { return hasInput(dup) })
		syncLoop(t, l) // a Wait that began after the data arrived has returned
		if n := rec.events(tok) - before; n != 0 {
			t.Errorf("%d events for the closed connection's registration (token %#x) reached the loop: "+
				"the descriptor was closed before it was deregistered, and the duplicate kept the registration alive", n, uint64(tok))
		}

		hc, cfd := reuseFD(t, addr, hs, clients, h.fd)
		if _, err := c.Write([]byte("more for the closed connection")); err != nil {
			t.Fatal(err)
		}
		syncLoop(t, l)
		if n := rec.events(tok) - before; n != 0 {
			t.Errorf("after fd %d was reused: %d events for the closed connection's registration (token %#x) reached the loop", h.fd, n, uint64(tok))
		}
		if n := hc.emptyRecvs.Load(); n != 0 {
			t.Errorf("the new connection on fd %d got %d HandleRecv calls with nothing to read: events of the old socket, still registered through its duplicate, reached it", hc.fd, n)
		}
		if err := conformance.Exchange(fdConn(t, cfd), []byte("new connection on an old number"), nil, time.Now().Add(waitTimeout)); err != nil {
			t.Errorf("new connection on fd %d: %v", hc.fd, err)
		}
		if hc.closed.Load() {
			t.Errorf("the new connection on fd %d was closed", hc.fd)
		}
	})
}
