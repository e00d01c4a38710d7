package reactor_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/edgeloop/edgeloop/reactor"
)

// upper answers its input in upper case and closes after the peer's FIN,
// once everything is sent.
type upper struct {
	c   reactor.Conn
	out []byte
	eof bool
}

func (u *upper) WantsRecv() bool { return !u.eof && len(u.out) < 64<<10 }
func (u *upper) WantsSend() bool { return len(u.out) > 0 }

func (u *upper) HandleRecv() error {
	buf := u.c.ReadBuffer()
	n, err := u.c.Read(buf)
	u.out = append(u.out, bytes.ToUpper(buf[:n])...)
	switch err {
	case nil, reactor.ErrWouldBlock:
		return nil
	case io.EOF:
		u.eof = true
		if len(u.out) == 0 {
			return u.c.Close()
		}
		return nil
	}
	return err
}

func (u *upper) HandleSend() error {
	n, err := u.c.Write(u.out)
	u.out = u.out[n:]
	if len(u.out) == 0 && u.eof {
		return u.c.Close()
	}
	if err == reactor.ErrWouldBlock {
		return nil // called again once the socket drains
	}
	return err
}

func ExampleNew() {
	l, err := reactor.New(reactor.WithLoops(1))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		l.Shutdown(ctx)
	}()
	addr, err := l.Listen("tcp", "127.0.0.1:0", func(c reactor.Conn) reactor.Handler {
		return &upper{c: c}
	})
	if err != nil {
		fmt.Println(err)
		return
	}

	c, err := net.DialTimeout("tcp", addr.String(), 5*time.Second)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	c.Write([]byte("hello, reactor\n"))
	c.(*net.TCPConn).CloseWrite() // the server answers all, then closes
	reply, err := io.ReadAll(c)
	fmt.Printf("%s%v\n", reply, err)
	// Output:
	// HELLO, REACTOR
	// <nil>
}

// pusher sends what other goroutines queue through Conn.Post; it reads and
// drops input and closes at the peer's FIN.
type pusher struct {
	c   reactor.Conn
	out []byte // touched only on the loop goroutine
}

func (p *pusher) WantsRecv() bool { return true }
func (p *pusher) WantsSend() bool { return len(p.out) > 0 }

func (p *pusher) HandleRecv() error {
	_, err := p.c.Read(p.c.ReadBuffer())
	switch err {
	case nil, reactor.ErrWouldBlock:
		return nil
	case io.EOF:
		return p.c.Close()
	}
	return err
}

func (p *pusher) HandleSend() error {
	n, err := p.c.Write(p.out)
	p.out = p.out[n:]
	if err == reactor.ErrWouldBlock {
		return nil
	}
	return err
}

// Another goroutine hands a connection something to send. The handler's
// fields belong to the loop goroutine, so the change is posted there; the
// loop then asks the handler again and sends.
func ExampleConn_Post() {
	l, err := reactor.New(reactor.WithLoops(1))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		l.Shutdown(ctx)
	}()
	opened := make(chan *pusher, 1)
	addr, err := l.Listen("tcp", "127.0.0.1:0", func(c reactor.Conn) reactor.Handler {
		p := &pusher{c: c}
		opened <- p
		return p
	})
	if err != nil {
		fmt.Println(err)
		return
	}

	c, err := net.DialTimeout("tcp", addr.String(), 5*time.Second)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(c)

	var p *pusher
	select {
	case p = <-opened:
	case <-time.After(5 * time.Second):
		fmt.Println("no connection")
		return
	}
	for _, news := range []string{"first edition\n", "late edition\n"} {
		if err := p.c.Post(func() { p.out = append(p.out, news...) }); err != nil {
			fmt.Println(err)
			return
		}
		line, err := r.ReadString('\n')
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Print(line)
	}
	// Output:
	// first edition
	// late edition
}
