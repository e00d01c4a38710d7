package conformance

import (
	"errors"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/edgeloop/edgeloop/protocols/echo"
)

// TestUrgentDataDoesNotStall: a peer sends "hello", one byte of urgent data
// (MSG_OOB), then "world"; the echo must bring back "helloworld" (the urgent
// byte is out of band: SO_OOBINLINE is off) without the peer sending
// anything more. A read stops at the urgent mark, so the first read is short
// although "world" is queued behind it: a loop that takes that short read
// as "drained" waits for an edge that never comes.
//
// While the peer sends, the test holds the loop (on backends whose Loop.Post
// runs on it) until the server's kernel has acknowledged all three sends, so
// that the loop finds them queued together, as a busy loop would.
func TestUrgentDataDoesNotStall(t *testing.T) {
	const trials = 5
	ForEachBackend(t, UrgentData, func(t *testing.T, backend string) {
		l, addr := Start(t, backend, 1, echo.New)
		for trial := range trials {
			c := DialTCP(t, addr)
			c.SetDeadline(time.Now().Add(10 * time.Second))
			if err := Exchange(c, []byte("x"), nil, time.Now().Add(5*time.Second)); err != nil {
				t.Fatalf("trial %d: warm-up echo: %v", trial, err)
			}

			blocked, release := make(chan struct{}), make(chan struct{})
			var once sync.Once
			unblock := func() { once.Do(func() { close(release) }) }
			if err := l.Post(func() { close(blocked); <-release }); err != nil {
				t.Fatalf("Post: %v", err)
			}
			select {
			case <-blocked:
			case <-time.After(5 * time.Second):
				unblock()
				t.Fatal("the posted function did not run within 5s")
			}
			_, err1 := c.Write([]byte("hello"))
			err2 := sendOOB(c, []byte("!"))
			_, err3 := c.Write([]byte("world"))
			if err := errors.Join(err1, err2, err3); err != nil {
				unblock()
				t.Fatalf("trial %d: send: %v", trial, err)
			}
			if !Poll(5*time.Second, func() bool { return unacked(t, c) == 0 }) {
				unblock()
				t.Fatalf("trial %d: the server's kernel had not acknowledged the 11 bytes after 5s", trial)
			}
			unblock()

			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			want := []byte("helloworld")
			got := make([]byte, 0, len(want))
			buf := make([]byte, 64)
			for len(got) < len(want) {
				n, err := c.Read(buf[:len(want)-len(got)])
				got = append(got, buf[:n]...)
				if errors.Is(err, os.ErrDeadlineExceeded) {
					t.Fatalf("trial %d: after 5s the echo had brought back only %q of %q: the loop took "+
						"the short read at the urgent mark for \"drained\" and stalled", trial, got, want)
				}
				if err != nil {
					t.Fatalf("trial %d: read after %q: %v", trial, got, err)
				}
			}
			if string(got) != string(want) {
				t.Fatalf("trial %d: echo %q, want %q (the urgent byte is out of band)", trial, got, want)
			}
		}
	})
}
