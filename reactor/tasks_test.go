package reactor_test

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgeloop/edgeloop/internal/conformance"
	"github.com/edgeloop/edgeloop/poller"
	"github.com/edgeloop/edgeloop/reactor"
)

// lostAfter bounds the wait for one posted function in these tests. A loop
// with nothing else to do runs a posted function within microseconds; one
// that has not within this time lost the wake-up, and the test says so
// rather than hang.
const lostAfter = 2 * time.Second

// taskState describes l's task queues for a failure message: a function
// queued with the flag clear is a lost wake-up.
func taskState(l *reactor.Loop) string {
	queued, flag, err := reactor.TaskQueue(l)
	if err != nil {
		return err.Error()
	}
	var b strings.Builder
	for i := range queued {
		fmt.Fprintf(&b, "loop %d: %d posted functions queued, task flag %v; ", i, queued[i], flag[i])
	}
	return strings.TrimSuffix(b.String(), "; ")
}

// postAndWait posts fn's completion to l and waits for it at most lostAfter.
func postAndWait(l *reactor.Loop) error {
	done := make(chan struct{})
	if err := l.Post(func() { close(done) }); err != nil {
		return fmt.Errorf("Post: %w", err)
	}
	select {
	case <-done:
		return nil
	case <-time.After(lostAfter):
		return fmt.Errorf("lost wake-up: a posted function did not run within %v (%s)", lostAfter, taskState(l))
	}
}

// TestPostAfterTaskSwapNotLost: a Post that lands just after the loop has
// taken its task queue must still run. The loop clears its task flag before
// it takes the queue; a loop that cleared it after would wipe out the flag
// that Post had just set, and the function would wait, with the wake-up
// spent, until some later Post. The test posts from the hook that runs at
// the first moment such a Post can land, every time rather than when a
// stress run happens to hit the window.
func TestPostAfterTaskSwapNotLost(t *testing.T) {
	forPollers(t, func(t *testing.T, backend string) {
		l := newLoop(t, backend)
		var armed atomic.Bool
		landed := make(chan struct{}, 1)
		if err := reactor.OnTasksTaken(l, func() {
			if armed.CompareAndSwap(true, false) {
				if err := l.Post(func() { landed <- struct{}{} }); err != nil {
					t.Errorf("Post from the hook: %v", err)
				}
			}
		}); err != nil {
			t.Fatalf("OnTasksTaken: %v", err)
		}
		t.Cleanup(func() { reactor.OnTasksTaken(l, nil) })
		for i := range 3 {
			armed.Store(true)
			if err := postAndWait(l); err != nil { // runs the hook
				t.Fatalf("round %d: the function that ran the hook: %v", i, err)
			}
			select {
			case <-landed:
			case <-time.After(lostAfter):
				t.Fatalf("round %d: lost wake-up: a function posted just after the loop took its task queue did not run within %v (%s): "+
					"the task flag was cleared after the swap, wiping out the flag that Post had set", i, lostAfter, taskState(l))
			}
		}
	})
}

// TestPostsNotLostUnderStress: several goroutines post at once, round after
// round, while the loop runs them, some of them posting again from the loop
// goroutine; every function must run, and each round ends only when all
// have. A post lost in the race between Post and the task flag, or between
// a Wake and its consumption, is then the last of its round with no later
// Post to rescue it, and the test fails within lostAfter, naming the lost
// wake-up, instead of hanging. Run it under -race.
func TestPostsNotLostUnderStress(t *testing.T) {
	const (
		posters = 4
		rounds  = 500
	)
	forPollers(t, func(t *testing.T, backend string) {
		l := newLoop(t, backend)
		var ran atomic.Int64
		for r := range rounds {
			start := make(chan struct{})
			errs := make(chan error, posters)
			var wg sync.WaitGroup
			for p := range posters {
				wg.Go(func() {
					<-start
					done := make(chan struct{})
					fn := func() { ran.Add(1); close(done) }
					if p%2 == 1 { // a post from the loop goroutine, while it runs posted functions
						inner := fn
						fn = func() {
							if err := l.Post(inner); err != nil {
								errs <- fmt.Errorf("Post from the loop: %w", err)
							}
						}
					}
					if err := l.Post(fn); err != nil {
						errs <- fmt.Errorf("Post: %w", err)
						return
					}
					select {
					case <-done:
					case <-time.After(lostAfter):
						errs <- fmt.Errorf("lost wake-up: poster %d's function did not run within %v (%s)", p, lostAfter, taskState(l))
					}
				})
			}
			close(start)
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatalf("round %d of %d: %v", r+1, rounds, err)
			}
		}
		if n := ran.Load(); n != posters*rounds {
			t.Fatalf("%d posted functions ran, want %d", n, posters*rounds)
		}
	})
}

// TestStuckLoopFailsFast: a wait on a loop that does not get to it ends
// with an error naming the loop, within the wait's bound, so that a stuck
// loop or a lost wake-up fails its test in seconds instead of hanging the
// suite until go test's -timeout. The loop is held inside a posted
// function, as a handler that blocks would hold it.
func TestStuckLoopFailsFast(t *testing.T) {
	const bound = 100 * time.Millisecond
	forPollers(t, func(t *testing.T, backend string) {
		l := newLoop(t, backend)
		release := blockLoop(t, l)
		start := time.Now()
		err := reactor.SyncWithin(l, bound)
		took := time.Since(start)
		release(nil)
		if err == nil {
			t.Fatal("SyncWithin returned nil for a loop held inside a posted function")
		}
		if !strings.Contains(err.Error(), "event loop 0") || !strings.Contains(err.Error(), "stuck") {
			t.Errorf("SyncWithin: %v; want an error that names the loop and says it is stuck", err)
		}
		if took > 10*bound {
			t.Errorf("SyncWithin(%v) on a stuck loop returned after %v", bound, took)
		}
		syncLoop(t, l) // released, it serves again
	})
}

// wakeGate wraps a poller. An armed Wake waits until the poller is closed
// before it goes on, as the Wake of a Post whose goroutine was descheduled
// between queueing its function and waking the loop, while the loop ran
// that function, exited and closed its poller.
type wakeGate struct {
	poller.Poller
	armed  atomic.Bool
	paused atomic.Bool // an armed Wake is waiting
	closed chan struct{}
	once   sync.Once
}

func (g *wakeGate) Wake() error {
	if g.armed.CompareAndSwap(true, false) {
		g.paused.Store(true)
		select {
		case <-g.closed:
		case <-time.After(waitTimeout):
		}
	}
	return g.Poller.Wake()
}

func (g *wakeGate) Close() error {
	err := g.Poller.Close()
	g.once.Do(func() { close(g.closed) })
	return err
}

// TestPostRacingExitReportsWhetherItRuns: Post's error says whether fn
// will run. A Post that queued its function before the loop began to exit
// has it run by the loop's last turn; if its Wake then finds the poller
// closed, that is no failure, and Post must not return one (a caller that
// sees an error takes it that fn never runs, and may run it elsewhere). The
// wakeGate holds the Post's Wake until the loop has run the function, shut
// down and closed its poller.
func TestPostRacingExitReportsWhetherItRuns(t *testing.T) {
	forPollers(t, func(t *testing.T, backend string) {
		gates := make(chan *wakeGate, 1)
		l := wrappedLoop(t, backend, func(p poller.Poller) poller.Poller {
			g := &wakeGate{Poller: p, closed: make(chan struct{})}
			gates <- g
			return g
		})
		g := recv(t, gates, "the loop's poller")
		syncLoop(t, l) // idle: the loop waits in its poller
		g.armed.Store(true)
		var ran atomic.Bool
		posted := make(chan error, 1)
		go func() { posted <- l.Post(func() { ran.Store(true) }) }()
		conformance.WaitFor(t, waitTimeout, "the Post to queue its function and reach Wake", g.paused.Load)
		shutdown(t, l) // its own Post wakes the loop, which runs both, exits and closes the poller
		err := recv(t, posted, "Post to return")
		switch {
		case err != nil && ran.Load():
			t.Errorf("Post returned %q, but its function ran: a Wake that found the poller closed after the loop had run the queue was reported as a failure", err)
		case err == nil && !ran.Load():
			t.Errorf("Post returned nil, but its function never ran")
		}
	})
}
