package echo_test

import (
	"context"
	"testing"
	"time"

	"github.com/edgeloop/edgeloop/backend"
	"github.com/edgeloop/edgeloop/internal/rawclient"
	"github.com/edgeloop/edgeloop/protocols/echo"
	"github.com/edgeloop/edgeloop/reactor"
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
			fd := rawclient.Dial(b, addr.String())
			msg := make([]byte, 64)
			buf := make([]byte, 64)
			rawclient.RoundTrip(b, fd, msg, buf) // the first request pays for the connection
			b.SetBytes(64)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				rawclient.RoundTrip(b, fd, msg, buf)
			}
		})
	}
}
