package echo_test

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/edgeloop/edgeloop/backend"

	"github.com/edgeloop/edgeloop/protocols/echo"
	"github.com/edgeloop/edgeloop/reactor"
	"golang.org/x/sys/unix"
)

// BenchmarkRoundTrip measures one 64-byte echo round trip through the loop
// in this process, with a blocking raw-socket client, so allocs/op counts
// the server's allocations per request (the client makes none).
func BenchmarkRoundTrip(b *testing.B) {
	for _, name := range backend.Names() {
		b.Run("size=64/backend="+name, func(b *testing.B) {
			l, err := backend.New(name, reactor.WithLoops(1))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				l.Shutdown(ctx)
			})
			addr, err := l.Listen("tcp", "127.0.0.1:0", echo.New)
			if err != nil {
				b.Fatal(err)
			}
			fd := rawDial(b, addr.String())
			msg := make([]byte, 64)
			buf := make([]byte, 64)
			roundTrip(b, fd, msg, buf) // the first request pays for the connection
			b.SetBytes(64)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				roundTrip(b, fd, msg, buf)
			}
		})
	}
}

// rawDial connects a blocking socket without the net package, whose
// goroutines would allocate on the benchmark's account.
func rawDial(b *testing.B, addr string) int {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		b.Fatal(err)
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { unix.Close(fd) })
	unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	tv := unix.NsecToTimeval(int64(10 * time.Second)) // a hang fails instead of blocking forever
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	if err := unix.Connect(fd, &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}); err != nil {
		b.Fatal(err)
	}
	return fd
}

func roundTrip(b *testing.B, fd int, msg, buf []byte) {
	for {
		_, err := unix.Write(fd, msg)
		if err == unix.EINTR { // the runtime's preemption signal
			continue
		}
		if err != nil {
			b.Fatal(err)
		}
		break
	}
	for got := 0; got < len(buf); {
		n, err := unix.Read(fd, buf[got:])
		if err == unix.EINTR {
			continue
		}
		if err != nil || n == 0 {
			b.Fatal(fmt.Errorf("read after %d bytes: n=%d: %v", got, n, err))
		}
		got += n
	}
}
