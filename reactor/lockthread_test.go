//go:build linux

package reactor_test

import (
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/edgeloop/edgeloop/reactor"
	"golang.org/x/sys/unix"
)

// TestLockOSThread: with WithLockOSThread a loop runs on one OS thread for
// its life, however the scheduler moves other goroutines; without it, the
// same load moves the loop between threads (which is what shows that the
// first half can fail).
func TestLockOSThread(t *testing.T) {
	for _, locked := range []bool{true, false} {
		var opts []reactor.Option
		if locked {
			opts = append(opts, reactor.WithLockOSThread())
		}
		l := newLoop(t, "", opts...)
		tids := map[int]bool{}
		for range 200 {
			done := make(chan int)
			if err := l.Post(func() { done <- unix.Gettid() }); err != nil {
				t.Fatal(err)
			}
			tids[recv(t, done, "a posted function")] = true
			churn()
		}
		t.Logf("locked=%v: the loop ran on %d threads", locked, len(tids))
		if locked && len(tids) != 1 {
			t.Errorf("with WithLockOSThread the loop ran on %d threads, want 1", len(tids))
		}
		if !locked && len(tids) == 1 {
			t.Logf("unlocked, the loop happened to stay on one thread: the check above is weaker this run")
		}
	}
}

// churn occupies every P for a moment with goroutines that lock their
// threads and spin, so that an unlocked goroutine parked meanwhile resumes
// on whatever thread is free next.
func churn() {
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) + 1 {
		wg.Go(func() {
			runtime.LockOSThread() // the thread ends with the goroutine
			for end := time.Now().Add(200 * time.Microsecond); time.Now().Before(end); {
			}
		})
	}
	wg.Wait()
}
