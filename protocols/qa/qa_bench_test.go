package qa_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/edgeloop/edgeloop/backend"
	"github.com/edgeloop/edgeloop/internal/rawclient"
	"github.com/edgeloop/edgeloop/protocols/qa"
	"github.com/edgeloop/edgeloop/reactor"
)

// BenchmarkRoundTrip measures question-and-answer round trips through the
// loop in this process, with a blocking raw-socket client, so allocs/op
// counts the server's allocations per request: one 64-byte question per
// write, and eight pipelined in one write.
func BenchmarkRoundTrip(b *testing.B) {
	question := append(bytes.Repeat([]byte("y"), 63), '?')
	for _, depth := range []int{1, 8} {
		for _, name := range backend.Names() {
			b.Run("questions="+itoa(depth)+"/backend="+name, func(b *testing.B) {
				l, err := backend.New(name, reactor.WithLoops(1))
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() {
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					defer cancel()
					l.Shutdown(ctx)
				})
				addr, err := l.Listen("tcp", "127.0.0.1:0", qa.New)
				if err != nil {
					b.Fatal(err)
				}
				fd := rawclient.Dial(b, addr.String())
				msg := bytes.Repeat(question, depth)
				buf := make([]byte, len(msg))
				rawclient.RoundTrip(b, fd, msg, buf) // the first request pays for the connection
				if buf[63] != '.' {
					b.Fatalf("answer %q", buf[:64])
				}
				b.SetBytes(int64(len(msg)))
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					rawclient.RoundTrip(b, fd, msg, buf)
				}
			})
		}
	}
}

func itoa(n int) string { return string(rune('0' + n)) }
