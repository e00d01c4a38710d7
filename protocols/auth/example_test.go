package auth_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/edgeloop/edgeloop/protocols/auth"
	"github.com/edgeloop/edgeloop/protocols/echo"
	"github.com/edgeloop/edgeloop/reactor"
)

// ExampleWrap protects the echo service with a shared key, and a client
// authenticates with Handshake before it speaks echo.
func ExampleWrap() {
	key := []byte("a shared secret")
	f, err := auth.Wrap(key, echo.New, auth.WithTimeout(5*time.Second))
	if err != nil {
		fmt.Println(err)
		return
	}
	l, err := reactor.New()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer l.Shutdown(context.Background())
	addr, err := l.Listen("tcp", "127.0.0.1:0", f)
	if err != nil {
		fmt.Println(err)
		return
	}

	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if err := auth.Handshake(c, key); err != nil {
		fmt.Println(err)
		return
	}
	c.Write([]byte("hello"))
	reply := make([]byte, 5)
	_, err = io.ReadFull(c, reply)
	fmt.Printf("%s %v\n", reply, err)
	// Output: hello <nil>
}
