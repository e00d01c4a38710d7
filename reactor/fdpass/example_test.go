package fdpass_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/edgeloop/edgeloop/protocols/echo"
	"github.com/edgeloop/edgeloop/reactor"
	"github.com/edgeloop/edgeloop/reactor/fdpass"
	"golang.org/x/sys/unix"
)

// Example hands connections from an acceptor's Loop to a worker's over a
// socket pair, all in one process for brevity. Across processes, the
// worker's end goes to the worker as exec.Cmd.ExtraFiles, and the worker
// makes a *net.UnixConn of it with net.FileConn; the rest is the same.
func Example() {
	fds, err := socketpair()
	if err != nil {
		panic(err)
	}
	toWorker, fromAcceptor := unixConn(fds[0]), unixConn(fds[1])

	// The worker: serves what it receives with echo.
	worker, err := reactor.New(reactor.WithLoops(2))
	if err != nil {
		panic(err)
	}
	go fdpass.Serve(worker, fromAcceptor, echo.New)

	// The acceptor: accepts, and hands each connection to the worker.
	acceptor, err := reactor.New(reactor.WithLoops(1))
	if err != nil {
		panic(err)
	}
	d := fdpass.NewDispatcher([]*net.UnixConn{toWorker}, nil)
	addr, err := acceptor.Listen("tcp", "127.0.0.1:0", d.Factory)
	if err != nil {
		panic(err)
	}

	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		panic(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintln(c, "hello from a handed-off connection")
	line, err := bufio.NewReader(c).ReadString('\n')
	fmt.Print(line, err, "\n")
	c.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	acceptor.Shutdown(ctx)
	d.Close() // closes toWorker: Serve returns
	worker.Shutdown(ctx)
	fromAcceptor.Close()
	// Output:
	// hello from a handed-off connection
	// <nil>
}

// unixConn makes a *net.UnixConn of a socket descriptor.
func unixConn(fd int) *net.UnixConn {
	f := os.NewFile(uintptr(fd), "socketpair")
	defer f.Close()
	c, err := net.FileConn(f)
	if err != nil {
		panic(err)
	}
	return c.(*net.UnixConn)
}

// socketpair makes a connected pair of Unix stream sockets, close-on-exec
// (set after the call: macOS has no SOCK_CLOEXEC).
func socketpair() ([2]int, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err == nil {
		unix.CloseOnExec(fds[0])
		unix.CloseOnExec(fds[1])
	}
	return fds, err
}
