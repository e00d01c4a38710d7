//go:build linux

package poller_test

import (
	"testing"
	"time"

	"github.com/edgeloop/edgeloop/poller"
	"golang.org/x/sys/unix"
)

// TestWakeAfterFullEventSlice is the regression test for a hang found in
// gnetpoll: a Wait that stopped because the caller's event slice was full
// dropped its wake-up's edge-triggered event, and every later Wake was
// swallowed, so a blocked Wait never returned.
func TestWakeAfterFullEventSlice(t *testing.T) {
	for _, name := range testBackends {
		t.Run(name, func(t *testing.T) {
			p, err := openBackend(name)
			if err != nil {
				t.Fatal(err)
			}
			hung := false
			defer func() {
				if !hung { // Close must not race a Wait still blocked
					p.Close()
				}
			}()
			var local []int
			for i := 0; i < 8; i++ { // more ready fds than the slice holds
				fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
				if err != nil {
					t.Fatal(err)
				}
				defer unix.Close(fds[0])
				defer unix.Close(fds[1])
				if err := p.Register(fds[0], poller.Token(i+1)); err != nil {
					t.Fatal(err)
				}
				unix.Write(fds[1], []byte("x"))
				local = append(local, fds[0])
			}
			// Run the sequence on its own goroutine: with the bug it blocks
			// forever (even in Wait(0), which needs the wake-up to end).
			done := make(chan error, 1)
			go func() {
				events := make([]poller.Event, 2)
				if _, err := p.Wait(events, 0); err != nil { // stops with the slice full
					done <- err
					return
				}
				// Nothing is ready any more, so only a Wake can end the next Wait.
				buf := make([]byte, 8)
				for _, fd := range local {
					unix.Read(fd, buf)
				}
				for i := 0; i < 3; i++ {
					if _, err := p.Wait(make([]poller.Event, 64), 0); err != nil {
						done <- err
						return
					}
				}
				if err := p.Wake(); err != nil {
					done <- err
					return
				}
				_, err := p.Wait(events, 5*time.Second)
				done <- err
			}()
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(3 * time.Second):
				hung = true
				t.Fatal("Wait(0) or Wait after Wake still blocked after 3s: a wake-up was lost")
			}
		})
	}
}
