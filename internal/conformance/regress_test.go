package conformance

import (
	"fmt"
	"testing"
	"time"

	"github.com/edgeloop/edgeloop/backend"

	"github.com/edgeloop/edgeloop/poller"
	"golang.org/x/sys/unix"
)

// TestPollerWaitZeroReportsFDReadyAfterAnother is the regression test for a
// starvation found through TestFairness/backend=gnetpoll: with one fd
// staying readable, a second fd that becomes readable later must be
// reported by the next Wait(0) calls. The loop calls Wait(0) on every turn
// while a connection is over its budget, so a poller that keeps reporting
// only the first fd starves every other connection behind a flood.
//
// It runs on the poller backends under reactor's loop (backend.Pollers()).
func TestPollerWaitZeroReportsFDReadyAfterAnother(t *testing.T) {
	for _, name := range backend.Pollers() {
		t.Run("backend="+name, func(t *testing.T) {
			p, err := backend.OpenPoller(name)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			pair := func() [2]int {
				fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
				if err != nil {
					t.Fatal(err)
				}
				for _, fd := range fds {
					unix.SetNonblock(fd, true)
				}
				t.Cleanup(func() { unix.Close(fds[0]); unix.Close(fds[1]) })
				return fds
			}
			a, b := pair(), pair()
			const tokA, tokB = poller.Token(1), poller.Token(2)
			if err := p.Register(a[0], tokA); err != nil {
				t.Fatal(err)
			}
			if err := p.Register(b[0], tokB); err != nil {
				t.Fatal(err)
			}
			events := make([]poller.Event, 64)
			wait := func() []poller.Event {
				n, err := p.Wait(events, 0)
				if err != nil {
					t.Fatal(err)
				}
				return events[:n]
			}

			// a becomes readable and stays so: its reader never reads.
			unix.Write(a[1], []byte("a"))
			for range 3 {
				wait()
			}
			// Now b: its data arrives while a is still ready.
			unix.Write(b[1], []byte("b"))
			var seen []string
			deadline := time.Now().Add(5 * time.Second)
			for i := 0; i < 100 && time.Now().Before(deadline); i++ {
				evs := wait()
				for _, ev := range evs {
					if ev.Token == tokB {
						return
					}
				}
				if len(seen) < 3 {
					seen = append(seen, fmt.Sprint(evs))
				}
			}
			t.Fatalf("fd b, readable, was not reported by 100 Wait(0) calls while fd a stayed readable; they returned %v ...", seen)
		})
	}
}
