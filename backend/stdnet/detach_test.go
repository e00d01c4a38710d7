package stdnet_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/edgeloop/edgeloop/backend/stdnet"
	"github.com/edgeloop/edgeloop/internal/conformance"
	"github.com/edgeloop/edgeloop/protocols/echo"
	"github.com/edgeloop/edgeloop/reactor"
)

// TestDetachOutsideCall: from a Conn.Post callback the connection's
// goroutine may be blocked in a read that would take input off the socket
// after it left, so Detach refuses there, and the connection goes on
// being served.
func TestDetachOutsideCall(t *testing.T) {
	l, err := reactor.New(reactor.WithEngine(stdnet.Engine))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		l.Shutdown(ctx)
	}()
	conns := make(chan reactor.Conn, 1)
	a, err := l.Listen("tcp", "127.0.0.1:0", func(c reactor.Conn) reactor.Handler {
		conns <- c
		return echo.New(c)
	})
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", a.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(wait))
	if err := conformance.Exchange(c, []byte("before"), nil, time.Now().Add(wait)); err != nil {
		t.Fatal(err) // the goroutine is now blocked in its next read
	}
	sc := <-conns
	errc := make(chan error, 1)
	sc.Post(func() {
		f, err := reactor.Detach(sc)
		if err == nil {
			f.Close()
			err = errors.New("Detach worked from a Post")
		} else if errors.Is(err, reactor.ErrClosed) {
			err = errors.New("Detach from a Post said ErrClosed: " + err.Error())
		} else {
			err = nil
		}
		errc <- err
	})
	select {
	case err := <-errc:
		if err != nil {
			t.Error(err)
		}
	case <-time.After(wait):
		t.Fatal("the Post never ran")
	}
	if err := conformance.Exchange(c, []byte("after"), nil, time.Now().Add(wait)); err != nil {
		t.Fatalf("served after the refused Detach: %v", err)
	}
}
