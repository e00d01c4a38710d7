package reactor_test

import (
	"errors"
	"io"
	"testing"
	"time"

	"github.com/edgeloop/edgeloop/reactor"
)

// idleSink reads and discards, and records why its connection closed.
type idleSink struct {
	c      reactor.Conn
	closed chan error
}

func (s *idleSink) WantsRecv() bool { return true }
func (s *idleSink) WantsSend() bool { return false }
func (s *idleSink) HandleRecv() error {
	for {
		_, err := s.c.Read(s.c.ReadBuffer())
		if err == reactor.ErrWouldBlock {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
func (s *idleSink) HandleSend() error     { return nil }
func (s *idleSink) HandleClose(err error) { s.closed <- err }

// TestIdleTimeout: with WithIdleTimeout, a silent peer is closed after the
// timeout with ErrIdleTimeout, while a peer that keeps sending stays open
// well past it, and is closed once it too falls silent.
func TestIdleTimeout(t *testing.T) {
	const idle = 150 * time.Millisecond
	forPollers(t, func(t *testing.T, b string) {
		l := newLoop(t, b, reactor.WithIdleTimeout(idle))
		closed := make(chan error, 2)
		addr, err := l.Listen("tcp", "127.0.0.1:0", func(c reactor.Conn) reactor.Handler {
			return &idleSink{c: c, closed: closed}
		})
		if err != nil {
			t.Fatal(err)
		}
		t0 := time.Now()
		silent := dialT(t, addr)
		busy := dialT(t, addr)
		// The busy peer sends every idle/5 until the silent one is closed.
		stop := make(chan struct{})
		sent := make(chan struct{})
		go func() {
			defer close(sent)
			tick := time.NewTicker(idle / 5)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
					if _, err := busy.Write([]byte{1}); err != nil {
						return
					}
				}
			}
		}()
		silent.SetReadDeadline(time.Now().Add(waitTimeout))
		if _, err := io.ReadAll(silent); err != nil {
			t.Fatalf("silent peer: %v, want EOF from the idle close", err)
		}
		if d := time.Since(t0); d < idle {
			t.Errorf("silent peer closed after %v, before the %v timeout", d, idle)
		}
		if err := recv(t, closed, "HandleClose of the silent peer"); !errors.Is(err, reactor.ErrIdleTimeout) {
			t.Errorf("HandleClose got %v, want ErrIdleTimeout", err)
		}
		// The busy peer has lived as long as the silent one; three more
		// timeouts of traffic must not close it either.
		deadline := time.Now().Add(3 * idle)
		for time.Now().Before(deadline) {
			select {
			case err := <-closed:
				t.Fatalf("busy peer closed while sending: %v", err)
			case <-time.After(idle / 10):
			}
		}
		close(stop)
		<-sent
		if err := recv(t, closed, "HandleClose of the busy peer once silent"); !errors.Is(err, reactor.ErrIdleTimeout) {
			t.Errorf("HandleClose got %v, want ErrIdleTimeout", err)
		}
	})
}

// slowSink is idleSink whose first HandleRecv holds the loop for a while
// before it reads, as a handler that allocates and collects a large
// buffer (the array service) may under load.
type slowSink struct {
	idleSink
	hold  time.Duration
	slept bool
}

func (s *slowSink) HandleRecv() error {
	if !s.slept {
		s.slept = true
		time.Sleep(s.hold) // the stall under test, not a wait for a condition
	}
	return s.idleSink.HandleRecv()
}

// TestIdleSweepSparesPendingInput: a loop turn that lasts longer than the
// idle timeout (a handler that holds the loop) must not make the sweep
// close a connection whose input is waiting to be read: the peer sent
// throughout, and only the server was slow. The sweep runs before the
// turn serves its ready list, so it used to see the stamp of the last
// read, a timeout ago, and close the connection under the peer's writes
// (a 200 MiB array upload got EPIPE).
func TestIdleSweepSparesPendingInput(t *testing.T) {
	const idle = 100 * time.Millisecond
	forPollers(t, func(t *testing.T, b string) {
		l := newLoop(t, b, reactor.WithIdleTimeout(idle))
		closed := make(chan error, 1)
		addr, err := l.Listen("tcp", "127.0.0.1:0", func(c reactor.Conn) reactor.Handler {
			return &slowSink{idleSink: idleSink{c: c, closed: closed}, hold: 3 * idle}
		})
		if err != nil {
			t.Fatal(err)
		}
		c := dialT(t, addr)
		// Send for 6 timeouts without a pause longer than idle/5.
		end := time.Now().Add(6 * idle)
		for time.Now().Before(end) {
			if _, err := c.Write(make([]byte, 1024)); err != nil {
				t.Fatalf("write while sending steadily: %v (the server closed the connection)", err)
			}
			select {
			case err := <-closed:
				t.Fatalf("the server closed a connection whose peer sends every %v: %v", idle/5, err)
			case <-time.After(idle / 5):
			}
		}
	})
}
