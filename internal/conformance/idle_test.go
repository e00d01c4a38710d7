package conformance

import (
	"errors"
	"testing"
	"time"

	"github.com/edgeloop/edgeloop/protocols/echo"
	"github.com/edgeloop/edgeloop/reactor"
)

// TestIdleTimeout: under WithIdleTimeout(300ms), a connection whose peer
// stays silent is closed (the client reads EOF, HandleClose gets
// ErrIdleTimeout), while one whose peer echoes a byte every 30 ms stays
// open for all of 900 ms, three timeouts; once silent, it is closed too.
// The timeout leaves ten ticks of room: with 150 ms, a loaded machine
// (load 5 on 2 CPUs) once held the client back long enough to look idle.
func TestIdleTimeout(t *testing.T) {
	const (
		idle   = 300 * time.Millisecond
		every  = 30 * time.Millisecond
		busyOn = 900 * time.Millisecond
		wait   = 5 * time.Second // the deadline for a close: generous, it is no pause
	)
	ForEachBackend(t, IdleTimeout, func(t *testing.T, backend string) {
		p := &probe{}
		l := NewLoop(t, backend, 2, reactor.WithIdleTimeout(idle))
		addr := Listen(t, l, p.echo(echo.DefaultCap))
		t0 := time.Now()
		silent, busy := DialTCP(t, addr), DialTCP(t, addr)

		busyErr := make(chan error, 1)
		go func() {
			tick := time.NewTicker(every)
			defer tick.Stop()
			for time.Since(t0) < busyOn {
				<-tick.C
				if err := Exchange(busy, []byte{'b'}, nil, time.Now().Add(wait)); err != nil {
					busyErr <- err
					return
				}
			}
			busyErr <- nil
		}()

		silent.SetReadDeadline(time.Now().Add(wait))
		if err := ReadToEOF(silent, nil); err != nil {
			t.Fatalf("silent connection: %v, want EOF from an idle close within %v", err, wait)
		}
		if d := time.Since(t0); d < idle {
			t.Errorf("silent connection closed after %v, before the %v timeout", d, idle)
		}
		if err := <-busyErr; err != nil {
			t.Fatalf("busy connection (a byte every %v) within %v: %v", every, busyOn, err)
		}
		WaitFor(t, wait, "HandleClose of the silent connection", func() bool { return p.closed.Load() >= 1 })
		if errs := p.closeErrors(); !errors.Is(errs[0], reactor.ErrIdleTimeout) {
			t.Errorf("HandleClose(%v) for the silent connection, want ErrIdleTimeout", errs[0])
		}

		busy.SetReadDeadline(time.Now().Add(wait))
		if err := ReadToEOF(busy, nil); err != nil {
			t.Fatalf("busy connection once silent: %v, want EOF from an idle close", err)
		}
		WaitFor(t, wait, "HandleClose of the busy connection", func() bool { return p.closed.Load() >= 2 })
		if errs := p.closeErrors(); !errors.Is(errs[1], reactor.ErrIdleTimeout) {
			t.Errorf("HandleClose(%v) for the busy connection once silent, want ErrIdleTimeout", errs[1])
		}
	})
}
