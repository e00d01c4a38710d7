//go:build unix

package poller_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// timeout bounds every wait in the suite, so a hang fails fast.
const timeout = 2 * time.Second

// sock is a descriptor a test owns. Close is idempotent and also runs when the
// test ends, so cleanup never closes a number the test has since reused.
type sock struct {
	fd   int
	once sync.Once
}

// own makes the test responsible for closing fd.
func own(t testing.TB, fd int) *sock {
	s := &sock{fd: fd}
	t.Cleanup(s.Close)
	return s
}

// Close closes the descriptor the first time it is called.
func (s *sock) Close() { s.once.Do(func() { unix.Close(s.fd) }) }

// nonblock makes fd non-blocking and close-on-exec. SOCK_NONBLOCK and accept4
// are Linux-only; this works on every Unix the pollers build on.
func nonblock(t testing.TB, fd int) {
	t.Helper()
	unix.CloseOnExec(fd)
	if err := unix.SetNonblock(fd, true); err != nil {
		t.Fatalf("set non-blocking fd %d: %v", fd, err)
	}
}

// bound opens a non-blocking IPv4 socket of type typ bound to 127.0.0.1 on a
// free port and returns it with its address.
func bound(t testing.TB, typ int) (*sock, unix.Sockaddr) {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, typ, 0)
	if err != nil {
		t.Fatalf("socket: %v", err)
	}
	s := own(t, fd)
	nonblock(t, fd)
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatalf("bind: %v", err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatalf("getsockname: %v", err)
	}
	return s, sa
}

// listener opens a TCP listener on 127.0.0.1:0.
func listener(t testing.TB) (*sock, unix.Sockaddr) {
	t.Helper()
	ln, sa := bound(t, unix.SOCK_STREAM)
	if err := unix.Listen(ln.fd, 128); err != nil {
		t.Fatalf("listen: %v", err)
	}
	return ln, sa
}

// dial starts a non-blocking TCP connect to sa and returns without waiting
// for it to complete.
func dial(t testing.TB, sa unix.Sockaddr) *sock {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatalf("socket: %v", err)
	}
	s := own(t, fd)
	nonblock(t, fd)
	if err := unix.Connect(fd, sa); err != nil && err != unix.EINPROGRESS {
		t.Fatalf("connect: %v", err)
	}
	return s
}

// pair returns both ends of a fresh loopback TCP connection: local, the end a
// test registers, and peer, the end that plays the remote side. Both are
// non-blocking and connected.
func pair(t testing.TB) (local, peer *sock) {
	t.Helper()
	ln, sa := listener(t)
	defer ln.Close()
	peer = dial(t, sa)
	awaitFD(t, ln.fd, unix.POLLIN)
	fd, _, err := unix.Accept(ln.fd)
	if err != nil {
		t.Fatalf("accept: %v", err)
	}
	local = own(t, fd)
	nonblock(t, fd)
	awaitFD(t, peer.fd, unix.POLLOUT)
	if soerr, err := unix.GetsockoptInt(peer.fd, unix.SOL_SOCKET, unix.SO_ERROR); err != nil || soerr != 0 {
		t.Fatalf("connect: SO_ERROR %d, %v", soerr, err)
	}
	return local, peer
}

// awaitFD waits with poll(2), which is independent of the poller under test,
// until fd reports one of events, and fails after the suite timeout.
func awaitFD(t testing.TB, fd int, events int16) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			t.Fatalf("fd %d: no poll event %#x within %v", fd, events, timeout)
		}
		pfd := []unix.PollFd{{Fd: int32(fd), Events: events}}
		n, err := unix.Poll(pfd, int(left/time.Millisecond)+1)
		switch {
		case err == unix.EINTR:
		case err != nil:
			t.Fatalf("poll fd %d: %v", fd, err)
		case n > 0 && pfd[0].Revents&events != 0:
			return
		case n > 0 && pfd[0].Revents&unix.POLLNVAL != 0:
			t.Fatalf("poll fd %d: not open", fd)
		}
	}
}

// send writes all of data to s; the small payloads tests use always fit.
func send(t testing.TB, s *sock, data string) {
	t.Helper()
	n, err := unix.Write(s.fd, []byte(data))
	if err != nil || n != len(data) {
		t.Fatalf("write fd %d: wrote %d of %d: %v", s.fd, n, len(data), err)
	}
}

// drain reads s until EAGAIN or end of input and returns what it read and
// whether the input ended.
func drain(t testing.TB, s *sock) (data string, eof bool) {
	t.Helper()
	var buf [512]byte
	for {
		n, err := unix.Read(s.fd, buf[:])
		switch {
		case errors.Is(err, unix.EAGAIN):
			return data, false
		case err == unix.EINTR:
		case err != nil:
			t.Fatalf("read fd %d: %v", s.fd, err)
		case n == 0:
			return data, true
		default:
			data += string(buf[:n])
		}
	}
}

// reset closes s with SO_LINGER {1, 0}, so its peer gets an RST, not a FIN.
func reset(t testing.TB, s *sock) {
	t.Helper()
	if err := unix.SetsockoptLinger(s.fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0}); err != nil {
		t.Fatalf("SO_LINGER: %v", err)
	}
	s.Close()
}
