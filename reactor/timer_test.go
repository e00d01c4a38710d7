package reactor_test

import (
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgeloop/edgeloop/reactor"
)

// TestAfterFuncWakesASleepingLoop: a loop with nothing to do blocks in Wait;
// its Wait must end at the timer's deadline, or the timer never fires (a
// lost wake-up, caught here in seconds).
func TestAfterFuncWakesASleepingLoop(t *testing.T) {
	forPollers(t, func(t *testing.T, b string) {
		l := newLoop(t, b)
		fired := make(chan time.Duration, 1)
		t0 := time.Now()
		if _, err := l.AfterFunc(20*time.Millisecond, func() { fired <- time.Since(t0) }); err != nil {
			t.Fatal(err)
		}
		select {
		case d := <-fired:
			if d < 20*time.Millisecond {
				t.Errorf("fired after %v, before its 20ms", d)
			}
		case <-time.After(waitTimeout):
			t.Fatal("a 20ms timer did not fire: the loop's Wait ignores the next deadline")
		}
	})
}

// TestTimerStop: a stopped timer does not fire, and Stop says whether it
// stopped one still pending.
func TestTimerStop(t *testing.T) {
	forPollers(t, func(t *testing.T, b string) {
		l := newLoop(t, b)
		var ran atomic.Bool
		tm, err := l.AfterFunc(30*time.Millisecond, func() { ran.Store(true) })
		if err != nil {
			t.Fatal(err)
		}
		if !tm.Stop() {
			t.Error("Stop of a pending timer returned false")
		}
		if tm.Stop() {
			t.Error("second Stop returned true")
		}
		// A later timer on the same loop fires after the stopped one's
		// deadline: by then the stopped one would have run.
		done := make(chan struct{})
		l.AfterFunc(60*time.Millisecond, func() { close(done) })
		waitChan(t, done, "the 60ms timer")
		if ran.Load() {
			t.Error("a stopped timer fired")
		}
	})
}

// TestEvery: a periodic timer fires repeatedly until stopped, then never
// again.
func TestEvery(t *testing.T) {
	forPollers(t, func(t *testing.T, b string) {
		l := newLoop(t, b)
		var n atomic.Int64
		five := make(chan struct{})
		var tm *reactor.Timer
		tm, err := l.Every(2*time.Millisecond, func() {
			if n.Add(1) == 5 {
				close(five)
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		waitChan(t, five, "five runs of a 2ms Every")
		tm.Stop()
		after := n.Load()
		done := make(chan struct{})
		l.AfterFunc(20*time.Millisecond, func() { close(done) })
		waitChan(t, done, "a 20ms timer")
		if got := n.Load(); got > after+1 { // one run may have been under way at Stop
			t.Errorf("Every ran %d times after Stop", got-after)
		}
	})
}

// TestTimersFireInOrder: timers armed out of order fire by deadline, all
// on the loop goroutine (the appends below would race otherwise).
func TestTimersFireInOrder(t *testing.T) {
	forPollers(t, func(t *testing.T, b string) {
		l := newLoop(t, b)
		var order []int
		done := make(chan struct{})
		delays := []int{9, 3, 7, 1, 5}
		for _, d := range delays {
			l.AfterFunc(time.Duration(d)*3*time.Millisecond, func() {
				order = append(order, d)
				if len(order) == len(delays) {
					close(done)
				}
			})
		}
		waitChan(t, done, "five timers")
		for i := 1; i < len(order); i++ {
			if order[i] < order[i-1] {
				t.Fatalf("fired in order %v", order)
			}
		}
	})
}

// TestConnTimerRunsOnItsLoop: a handler arms a timer through its Conn's
// Scheduler, and the timer writes to the connection: it runs on the
// connection's goroutine, so the write needs no lock, and the reply goes out.
func TestConnTimerRunsOnItsLoop(t *testing.T) {
	forPollers(t, func(t *testing.T, b string) {
		l := newLoop(t, b)
		addr, err := l.Listen("tcp", "127.0.0.1:0", func(c reactor.Conn) reactor.Handler {
			s, ok := c.(reactor.Scheduler)
			if !ok {
				t.Errorf("%T does not implement Scheduler", c)
				return nil
			}
			s.AfterFunc(10*time.Millisecond, func() {
				c.Write([]byte("tick\n"))
				c.Close()
			})
			return idleHandler{}
		})
		if err != nil {
			t.Fatal(err)
		}
		nc := dialT(t, addr)
		nc.SetDeadline(time.Now().Add(waitTimeout))
		got, err := io.ReadAll(nc)
		if err != nil || string(got) != "tick\n" {
			t.Fatalf("read %q, %v; want the timer's tick", got, err)
		}
	})
}

// idleHandler wants nothing.
type idleHandler struct{}

func (idleHandler) WantsRecv() bool   { return false }
func (idleHandler) WantsSend() bool   { return false }
func (idleHandler) HandleRecv() error { return nil }
func (idleHandler) HandleSend() error { return nil }

// waitChan waits for ch to close, with the tests' deadline.
func waitChan(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(waitTimeout):
		t.Fatalf("%s did not happen in %v", what, waitTimeout)
	}
}

// dialT connects to addr with the tests' deadline.
func dialT(t *testing.T, addr net.Addr) net.Conn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr.String(), waitTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return nc
}

// TestLoopEveryRefusesNonPositive: Loop.Every(0) is an error, not a
// spinning loop.
func TestLoopEveryRefusesNonPositive(t *testing.T) {
	for _, b := range allBackends {
		t.Run("backend="+b, func(t *testing.T) {
			l := newLoop(t, b)
			if tm, err := l.Every(0, func() {}); err == nil {
				tm.Stop()
				t.Error("Every(0) returned no error")
			}
		})
	}
}
