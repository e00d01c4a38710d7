//go:build linux

package poller_test

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// canAimSignals reports whether signalThread can interrupt one given thread.
const canAimSignals = true

// threadID returns the calling thread's ID; the caller must be locked to it.
func threadID() int { return unix.Gettid() }

// signalThread sends sig to thread tid of this process only, so it lands on
// the thread blocked in Wait rather than on any thread the kernel picks.
func signalThread(t testing.TB, tid int, sig syscall.Signal) {
	t.Helper()
	if err := unix.Tgkill(os.Getpid(), tid, sig); err != nil {
		t.Fatalf("tgkill %d: %v", tid, err)
	}
}

// blockedInSyscall waits until thread tid sleeps in a system call other than
// those where the Go runtime parks a thread (futex, nanosleep): for a
// goroutine locked to tid and calling Wait, that is the poller's wait. A
// poller whose Wait parks on the runtime's netpoller (epoll) blocks no
// system call of its own: then it waits until a goroutine is parked there.
func blockedInSyscall(t testing.TB, tid int) {
	t.Helper()
	path := fmt.Sprintf("/proc/self/task/%d/syscall", tid)
	deadline := time.Now().Add(timeout)
	for {
		if parkedInWait() {
			return
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("thread %d: %v", tid, err)
		}
		// The file holds "running" for a thread on a CPU, "-1 ..." for one
		// stopped outside a system call, else the number of the call it sleeps in.
		f := strings.Fields(string(b))
		if len(f) > 0 {
			nr, err := strconv.Atoi(f[0])
			if err == nil && nr >= 0 && nr != unix.SYS_FUTEX && nr != unix.SYS_NANOSLEEP && nr != unix.SYS_CLOCK_NANOSLEEP {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("thread %d not blocked in a wait after %v: %q", tid, timeout, b)
		}
		time.Sleep(time.Millisecond) // polling interval, bounded by deadline
	}
}

// openFDs counts this process's open descriptors, or returns -1 if it cannot.
func openFDs() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(ents)
}

// parkedInWait reports whether some goroutine is parked on the runtime's
// netpoller inside Epoll.Wait.
func parkedInWait() bool {
	buf := make([]byte, 1<<20)
	stacks := string(buf[:runtime.Stack(buf, true)])
	for _, g := range strings.Split(stacks, "\n\n") {
		if strings.Contains(g, "poller.(*Epoll).park") && strings.Contains(g, "runtime_pollWait") {
			return true
		}
	}
	return false
}
