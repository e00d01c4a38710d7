package reactor_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/edgeloop/edgeloop/reactor"
)

// Echo is README.md's handler, kept here so that it compiles and works.
type Echo struct {
	c   reactor.Conn
	out []byte
}

func (h *Echo) WantsRecv() bool { return len(h.out) < 1<<20 } // backpressure
func (h *Echo) WantsSend() bool { return len(h.out) > 0 }

func (h *Echo) HandleRecv() error {
	n, err := h.c.Read(h.c.ReadBuffer()) // into the loop's shared buffer
	h.out = append(h.out, h.c.ReadBuffer()[:n]...)
	if err == reactor.ErrWouldBlock {
		return nil
	}
	return err // io.EOF or a failure: closes this connection only
}

func (h *Echo) HandleSend() error {
	n, err := h.c.Write(h.out)
	h.out = h.out[n:]
	if err == reactor.ErrWouldBlock {
		return nil
	}
	return err
}

// Example_readme runs README.md's handler, on port 0 instead of 7007.
func Example_readme() {
	l, _ := reactor.New()
	addr, _ := l.Listen("tcp", "127.0.0.1:0", func(c reactor.Conn) reactor.Handler { return &Echo{c: c} })
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		l.Shutdown(ctx)
	}()
	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	c.Write([]byte("hello, edgeloop"))
	buf := make([]byte, len("hello, edgeloop"))
	if _, err := io.ReadFull(c, buf); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(string(buf))
	// Output: hello, edgeloop
}
