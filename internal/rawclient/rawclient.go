// Package rawclient is a blocking socket client without the net package,
// for in-process benchmarks: net's goroutines would allocate on the
// benchmark's account, and allocs/op must count the server's only.
package rawclient

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Dial connects a blocking TCP socket to addr (an IPv4 HOST:PORT) with
// TCP_NODELAY and a 10 s receive timeout, so a hang fails instead of
// blocking for ever, and closes it when tb ends.
func Dial(tb testing.TB, addr string) int {
	tb.Helper()
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		tb.Fatal(err)
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { unix.Close(fd) })
	unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	tv := unix.NsecToTimeval(int64(10 * time.Second))
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	if err := unix.Connect(fd, &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}); err != nil {
		tb.Fatal(err)
	}
	return fd
}

// RoundTrip writes msg and reads exactly len(buf) bytes into buf.
func RoundTrip(tb testing.TB, fd int, msg, buf []byte) {
	for {
		_, err := unix.Write(fd, msg)
		if err == unix.EINTR { // the runtime's preemption signal
			continue
		}
		if err != nil {
			tb.Fatal(err)
		}
		break
	}
	for got := 0; got < len(buf); {
		n, err := unix.Read(fd, buf[got:])
		if err == unix.EINTR {
			continue
		}
		if err != nil || n == 0 {
			tb.Fatal(fmt.Errorf("read after %d bytes: n=%d: %v", got, n, err))
		}
		got += n
	}
}
