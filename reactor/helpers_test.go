package reactor_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime/debug"
	"testing"
	"time"

	"github.com/edgeloop/edgeloop/backend"

	"github.com/edgeloop/edgeloop/internal/conformance"
	"github.com/edgeloop/edgeloop/reactor"
	"golang.org/x/sys/unix"
)

// waitTimeout bounds every wait of these tests that is expected to end at
// once: a hang fails the test instead of blocking it.
const waitTimeout = 10 * time.Second

// pollerBackends are the backends that run this package's own loop: the
// platform's edge-triggered poller (epoll, kqueue) and gnet's
// level-triggered one (gnetpoll).
var pollerBackends = backend.Pollers()

// allBackends are every backend: the poller backends and the engines.
var allBackends = backend.Names()

// newLoopErr starts a Loop with one event loop on the backend called name.
func newLoopErr(name string) (*reactor.Loop, error) {
	return backend.New(name, reactor.WithLoops(1))
}

// forPollers runs fn as the subtest "backend=NAME" for each poller backend.
func forPollers(t *testing.T, fn func(t *testing.T, backend string)) {
	t.Helper()
	for _, b := range pollerBackends {
		t.Run("backend="+b, func(t *testing.T) { fn(t, b) })
	}
}

// testTimeout bounds each test that starts a loop, a backstop behind the
// deadline every wait has: a test still running after it is stuck in a wait
// that has none, and the watchdog ends the process, naming the test and
// dumping every goroutine, rather than let it hang until go test's
// -timeout (10 minutes in CI).
const testTimeout = 2 * time.Minute

// watchdog panics, naming t and showing every goroutine, if t is still
// running after testTimeout.
func watchdog(t testing.TB) {
	name := t.Name()
	timer := time.AfterFunc(testTimeout, func() {
		debug.SetTraceback("all")
		panic(fmt.Sprintf("%s is still running after %v: a wait with no deadline is stuck "+
			"(a lost wake-up, or a loop stuck in one turn); every goroutine follows", name, testTimeout))
	})
	t.Cleanup(func() { timer.Stop() })
}

// newLoop starts a Loop with one event loop on backend (opts may change
// that) and shuts it down, with a deadline, when the test ends. The test
// gets a watchdog.
func newLoop(t testing.TB, name string, opts ...reactor.Option) *reactor.Loop {
	t.Helper()
	watchdog(t)
	l, err := backend.New(name, append([]reactor.Option{reactor.WithLoops(1)}, opts...)...)
	if err != nil {
		t.Fatalf("backend.New(%q): %v", name, err)
	}
	t.Cleanup(func() { shutdown(t, l) })
	return l
}

// shutdown shuts l down within conformance.ShutdownTimeout.
func shutdown(t testing.TB, l *reactor.Loop) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), conformance.ShutdownTimeout)
	defer cancel()
	if err := l.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

// recv takes one value from ch, or fails t after waitTimeout.
func recv[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitTimeout):
		t.Fatalf("timed out after %v waiting for %s", waitTimeout, what)
		panic("unreachable")
	}
}

// onLoop runs fn on c's loop goroutine through Conn.Post and waits for it.
func onLoop(t testing.TB, c reactor.Conn, fn func()) {
	t.Helper()
	done := make(chan struct{})
	if err := c.Post(func() { fn(); close(done) }); err != nil {
		t.Fatalf("Conn.Post: %v", err)
	}
	recv(t, done, "a posted function to run")
}

// syncLoop waits until every event loop of l has finished the turn it was in.
func syncLoop(t testing.TB, l *reactor.Loop) {
	t.Helper()
	if err := reactor.Sync(l); err != nil {
		t.Fatalf("Sync: %v", err)
	}
}

// turns reads the sum of l's turn counters.
func turns(t testing.TB, l *reactor.Loop) uint64 {
	t.Helper()
	n, err := reactor.Turns(l)
	if err != nil {
		t.Fatalf("Turns: %v", err)
	}
	return n
}

// rawSocket makes a blocking TCP socket that is not connected yet, so that
// its descriptor number is taken now rather than when it connects. Reads
// and writes on it time out after waitTimeout.
func rawSocket(t testing.TB) int {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatalf("socket: %v", err)
	}
	unix.CloseOnExec(fd)
	t.Cleanup(func() { unix.Close(fd) })
	tv := unix.NsecToTimeval(int64(waitTimeout))
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv)
	return fd
}

// rawConnect connects a socket from rawSocket to addr ("127.0.0.1:port").
func rawConnect(t testing.TB, fd int, addr string) {
	t.Helper()
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	for {
		err = unix.Connect(fd, &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()})
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		t.Fatalf("connect %s: %v", addr, err)
	}
}

// fdConn wraps a connected socket from rawSocket in a net.Conn. The
// net.Conn has a duplicate of the descriptor, which takes a new number: call
// it only once the server side has its descriptor.
func fdConn(t testing.TB, fd int) net.Conn {
	t.Helper()
	dup, err := unix.Dup(fd)
	if err != nil {
		t.Fatalf("dup: %v", err)
	}
	f := os.NewFile(uintptr(dup), "client")
	defer f.Close()
	c, err := net.FileConn(f) // dups again; fd itself is closed by rawSocket's cleanup
	if err != nil {
		t.Fatalf("FileConn: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// hasInput reports whether input waits to be read on fd, by poll(2) with
// no timeout, which leaves the input and the poller's state alone.
func hasInput(fd int) bool {
	pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	n, err := unix.Poll(pfd, 0)
	return err == nil && n == 1 && pfd[0].Revents&unix.POLLIN != 0
}

// timeout returns a channel that fires after waitTimeout, for selects that
// wait for one of several things.
func timeout() <-chan time.Time { return time.After(waitTimeout) }
