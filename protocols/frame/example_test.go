package frame_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"time"

	"github.com/edgeloop/edgeloop/protocols/frame"
	"github.com/edgeloop/edgeloop/reactor"
)

// Upper is README.md's framed example, kept here so that it compiles and
// works: each line comes back in capitals, and "quit" gets "bye" and the
// close.
func Upper(c reactor.Conn) reactor.Handler {
	lines := frame.Delimited([]byte("\n"), 1024) // a longer line closes the connection
	return frame.NewHandler(c, lines, func(line []byte, out *frame.Outbox) error {
		if string(line) == "quit\n" {
			out.PushString("bye\n")
			return out.CloseWhenDone() // once everything queued is sent
		}
		for i, b := range line { // in place: line is ours until we return
			if 'a' <= b && b <= 'z' {
				line[i] = b - 'a' + 'A'
			}
		}
		out.Push(line) // sent in this loop turn, with the other answers
		return nil
	})
}

// Example_upper runs Upper, and a client that pipelines three lines.
func Example_upper() {
	l, _ := reactor.New()
	addr, _ := l.Listen("tcp", "127.0.0.1:0", Upper)
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
	fmt.Fprint(c, "hello\nframed world\nquit\n")
	sc := bufio.NewScanner(c)
	for sc.Scan() { // until the server closes
		fmt.Println(sc.Text())
	}
	// Output:
	// HELLO
	// FRAMED WORLD
	// bye
}

// ExampleLength frames messages with a 2-byte big-endian length header;
// AppendLength writes one, and Split reads the framing with a
// bufio.Scanner, as a client would.
func ExampleLength() {
	f := frame.Length(2, 1024)
	var wire []byte
	for _, m := range []string{"first", "second"} {
		wire, _ = f.AppendLength(wire, len(m))
		wire = append(wire, m...)
	}
	fmt.Printf("% x\n", wire[:7])
	_, msg, _ := f.Split(wire, false)
	fmt.Printf("%s\n", msg)
	// Output:
	// 00 05 66 69 72 73 74
	// first
}
