package reactor_test

import (
	"context"
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/edgeloop/edgeloop/backend"

	"github.com/edgeloop/edgeloop/protocols/echo"
	"github.com/edgeloop/edgeloop/reactor"
)

// TestListenTakenPortFailsWithSeveralLoops is the regression test for a
// second server silently sharing a port: with several loops every listener
// has SO_REUSEPORT, which lets another SO_REUSEPORT group of the same user
// bind the same address. Listen must fail with EADDRINUSE instead.
func TestListenTakenPortFailsWithSeveralLoops(t *testing.T) {
	newLoop := func() *reactor.Loop {
		l, err := backend.New("epoll", reactor.WithLoops(2))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			l.Shutdown(ctx)
		})
		return l
	}
	addr, err := newLoop().Listen("tcp", "127.0.0.1:0", echo.New)
	if err != nil {
		t.Fatal(err)
	}
	_, err = newLoop().Listen("tcp", addr.String(), echo.New)
	if !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("second Listen on %s: %v, want EADDRINUSE", addr, err)
	}
}
