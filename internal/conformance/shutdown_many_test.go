package conformance

import (
	"context"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/edgeloop/edgeloop/protocols/echo"
)

// ShutdownMany: Shutdown with a thousand idle connections open returns in
// milliseconds and every client sees a clean EOF.
const ShutdownMany Behaviour = "shutdown-many"

// TestShutdownManyIdleConns: a server holding 1000 idle connections (each
// has made one round trip, so each is accepted and served) shuts down
// promptly: Shutdown returns within shutdownManyBound, without waiting out
// any polling interval, and each client then reads a clean EOF, never a
// reset. Shutdown waits only for what has output to flush; an idle
// connection has none.
func TestShutdownManyIdleConns(t *testing.T) {
	const n = 1000
	ForEachBackend(t, ShutdownMany, func(t *testing.T, backend string) {
		for _, loops := range []int{1, 2} {
			t.Run(fmt.Sprintf("loops=%d", loops), func(t *testing.T) {
				l, addr := Start(t, backend, loops, echo.New)
				conns := make([]*net.TCPConn, n)
				deadline := time.Now().Add(30 * time.Second)
				for i := range conns {
					conns[i] = DialTCP(t, addr)
					if err := Exchange(conns[i], []byte{byte(i), byte(i >> 8)}, nil, deadline); err != nil {
						t.Fatalf("conn %d: %v", i, err)
					}
				}
				ctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
				defer cancel()
				start := time.Now()
				err := l.Shutdown(ctx)
				took := time.Since(start)
				t.Logf("Shutdown with %d idle connections took %v", n, took)
				if err != nil {
					t.Fatalf("Shutdown: %v", err)
				}
				if took > shutdownManyBound {
					t.Errorf("Shutdown with %d idle connections took %v, want at most %v: it waits for more than closing them",
						n, took, shutdownManyBound)
				}
				var buf [1]byte
				for i, c := range conns {
					c.SetReadDeadline(time.Now().Add(5 * time.Second))
					if k, err := c.Read(buf[:]); k != 0 || err != io.EOF {
						t.Fatalf("conn %d after Shutdown: read %d bytes, %v; want a clean EOF", i, k, err)
					}
				}
			})
		}
	})
}
