package reactor

import (
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/edgeloop/edgeloop/internal/sockaddr"
	"golang.org/x/sys/unix"
)

// Conn is a connection as its handler sees it: non-blocking Read and Write,
// Close, and addresses. On the native loop it is the socket itself plus the
// readiness the loop remembers; other backends (an Engine) supply their own,
// so a handler runs unchanged everywhere.
//
// Conn methods must be called from the connection's loop goroutine: inside
// handler calls, the Factory, a Post callback, or another handler of the
// same loop. Post is the way in from other goroutines.
type Conn interface {
	// Read reads up to len(p) bytes of input. It returns ErrWouldBlock when
	// none is waiting, io.EOF once the peer has closed its side and
	// everything before that was read, or the system call's error.
	Read(p []byte) (int, error)
	// Write writes as much of p as the socket takes. When it takes less than
	// all, it returns the count and ErrWouldBlock; the loop calls HandleSend
	// again once the socket drains. A reset peer gives EPIPE or ECONNRESET,
	// never SIGPIPE.
	Write(p []byte) (int, error)
	// Writev writes the concatenation of bufs, as much as the socket
	// takes, in one gathered system call (sendmsg on Linux): a header and
	// a large payload go out without being copied into one buffer. Like
	// Write, it returns the count and ErrWouldBlock when the socket took
	// less than all; Advance(bufs, n) gives what is left. It neither
	// modifies nor keeps bufs or their bytes: the caller keeps them alive
	// and unchanged until they are sent.
	Writev(bufs [][]byte) (int, error)
	// Close closes the connection now; output the handler still holds is
	// dropped. HandleClose runs with a nil error once the handler call that
	// closed it has returned. Closing twice returns ErrClosed.
	Close() error
	// CloseWrite shuts down the sending side (a TCP FIN) and keeps reading.
	CloseWrite() error
	// ReadBuffer returns a buffer owned by the loop, valid until the current
	// handler call returns. Reading into it and acting on the input in place
	// keeps a connection from holding memory between messages.
	ReadBuffer() []byte
	// Wake asks the loop to consult the handler again, for when its wants
	// changed outside its own calls: another handler of the same loop (see
	// Loop.DialSameLoop), or a function run by this Conn's Post. It makes no
	// system call, and is for the connection's loop goroutine only; from
	// anywhere else, change the state and wake inside Post.
	Wake()
	// Post runs fn on the connection's loop goroutine and then consults the
	// handler again. It is how another goroutine, or a handler of another
	// loop, reaches a connection. fn runs even if the connection has closed
	// meanwhile; Post returns ErrClosed only once the loop has stopped.
	Post(fn func()) error
	// Fd returns the socket descriptor, or -1 on backends that hide it and
	// once the connection is closed (the number may belong to another
	// socket by then).
	Fd() int
	// LocalAddr returns the local address, or nil. It allocates; call it once.
	LocalAddr() net.Addr
	// RemoteAddr returns the peer's address, or nil. It allocates; call it once.
	RemoteAddr() net.Addr
	// String names the connection for logs.
	String() string
}

// conn is the native loop's Conn: the socket and what the loop remembers
// about it, and nothing else, so that an idle connection stays small.
type conn struct {
	fd       int32
	gen      uint32 // registration generation, carried in the poller token
	flags    connFlags
	interest uint8  // kernel interest, for level-triggered pollers only
	kind     uint8  // kindStream or kindListener: the rule for "drained"
	active   uint32 // the loop's tick when a byte last moved, for the idle sweep
	loop     *eventLoop
	h        Handler
}

// connFlags is what the loop remembers about a connection.
type connFlags uint16

const (
	fReadable   connFlags = 1 << iota // the last edge said readable and no read has hit EAGAIN since
	fWritable                         // likewise for writing
	fReadClosed                       // the peer's FIN or an error was signalled: read until 0 or EAGAIN
	fEOF                              // a read returned 0
	fHangup                           // EPOLLHUP/EPOLLERR: the connection is dead both ways
	fQueued                           // on the loop's ready list
	fClosed                           // descriptor closed
	fLinger                           // write side shut by Shutdown; discarding input until EOF
	fConnecting                       // non-blocking connect under way
	fPeerActive                       // during Shutdown: the peer may still be sending, wait for its FIN
	fUrgent                           // urgent data (EPOLLPRI) arrived: a short read is not "drained"
	fFinish                           // CloseGraceful: close once the handler has sent all
	fBounded                          // CloseGraceful's wait for the peer's FIN has its timer
)

// Read implements Conn.Read.
func (c *conn) Read(p []byte) (int, error) {
	if c.flags&fClosed != 0 {
		return 0, ErrClosed
	}
	if c.flags&fEOF != 0 {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	for {
		n, errno := rawRead(int(c.fd), p)
		switch {
		case errno == 0 && n > 0:
			c.loop.spent += n
			c.active = c.loop.tick
			// A short read drained the socket: the next byte to arrive makes
			// a new edge. Not so once the peer's FIN is queued, since no edge
			// follows it, nor after urgent data, since a read stops at the
			// urgent mark with more queued behind it: then only 0 or EAGAIN
			// ends reading.
			if n < len(p) && c.flags&(fReadClosed|fUrgent) == 0 {
				c.flags &^= fReadable
			}
			return n, nil
		case errno == 0:
			c.flags = c.flags&^(fReadable|fUrgent) | fEOF
			return 0, io.EOF
		case errno == unix.EAGAIN:
			c.flags &^= fReadable | fUrgent
			return 0, ErrWouldBlock
		case errno == unix.EINTR:
			continue
		}
		c.flags &^= fReadable
		return 0, os.NewSyscallError("read", errno)
	}
}

// Write implements Conn.Write.
func (c *conn) Write(p []byte) (int, error) {
	if c.flags&fClosed != 0 {
		return 0, ErrClosed
	}
	if len(p) == 0 {
		return 0, nil
	}
	for {
		n, errno := rawWrite(int(c.fd), p)
		if errno == 0 {
			c.loop.spent += n
			c.active = c.loop.tick
		}
		switch {
		case errno == 0 && n == len(p):
			return n, nil
		case errno == 0:
			c.flags &^= fWritable // a short write filled the buffer: wait for the edge
			return n, ErrWouldBlock
		case errno == unix.EAGAIN:
			c.flags &^= fWritable
			return 0, ErrWouldBlock
		case errno == unix.EINTR:
			continue
		}
		c.flags &^= fWritable
		return 0, os.NewSyscallError("write", errno)
	}
}

// Writev implements Conn.Writev.
func (c *conn) Writev(bufs [][]byte) (int, error) {
	if c.flags&fClosed != 0 {
		return 0, ErrClosed
	}
	total := 0
	for _, b := range bufs {
		total += len(b)
	}
	if total == 0 {
		return 0, nil
	}
	for {
		n, errno := c.loop.rawWritev(int(c.fd), bufs)
		if errno == 0 {
			c.loop.spent += n
			c.active = c.loop.tick
		}
		switch {
		case errno == 0 && n == total:
			return n, nil
		case errno == 0:
			// Short: the socket is full, or there were more buffers than
			// one call takes (maxIov); either way the caller comes back.
			if n < c.loop.wv.iovBytes {
				c.flags &^= fWritable
			}
			return n, ErrWouldBlock
		case errno == unix.EAGAIN:
			c.flags &^= fWritable
			return 0, ErrWouldBlock
		case errno == unix.EINTR:
			continue
		}
		c.flags &^= fWritable
		return 0, os.NewSyscallError("sendmsg", errno)
	}
}

// Advance drops the first n bytes of bufs, as Writev's caller does after
// a partial write: it skips the buffers sent whole and reslices the next
// one, in place (the slice headers in bufs, never the bytes), and returns
// the rest. It allocates nothing.
func Advance(bufs [][]byte, n int) [][]byte {
	for len(bufs) > 0 && n >= len(bufs[0]) {
		n -= len(bufs[0])
		bufs = bufs[1:]
	}
	if len(bufs) > 0 {
		bufs[0] = bufs[0][n:]
	}
	return bufs
}

// Close implements Conn.Close.
func (c *conn) Close() error {
	if c.flags&fClosed != 0 {
		return ErrClosed
	}
	c.loop.closeConn(c, nil)
	return nil
}

// CloseWrite implements Conn.CloseWrite.
func (c *conn) CloseWrite() error {
	if c.flags&fClosed != 0 {
		return ErrClosed
	}
	if err := unix.Shutdown(int(c.fd), unix.SHUT_WR); err != nil {
		return os.NewSyscallError("shutdown", err)
	}
	return nil
}

// GracefulCloser is implemented by Conns that can close without losing
// what they send: the native loop's, and the engines'. Use CloseGraceful.
type GracefulCloser interface {
	// CloseGraceful stops input to the handler and closes once it has
	// sent everything it wants to (WantsSend is false): the write side is
	// shut (FIN), the peer's input is read and discarded until it closes
	// its side or lingerLimit passes, and the descriptor is closed only
	// when the kernel has sent everything. Closing with unread input
	// would answer with an RST that can destroy the reply. Once the
	// handler has read the peer's EOF no input can follow, and the native
	// loop closes as soon as the handler has sent all, leaving the rest to
	// the kernel. HandleClose gets nil.
	CloseGraceful() error
}

// CloseGraceful closes c as GracefulCloser says, on a backend that can,
// and with Close elsewhere. A service that answers and hangs up (daytime,
// time) calls it right after queuing its answer.
func CloseGraceful(c Conn) error {
	if g, ok := c.(GracefulCloser); ok {
		return g.CloseGraceful()
	}
	return c.Close()
}

// lingerLimit bounds how long a graceful close waits for the peer to close
// its side once it has sent something after our FIN.
var lingerLimit = 5 * time.Second // a variable for tests

// CloseGraceful implements GracefulCloser.
func (c *conn) CloseGraceful() error {
	if c.flags&fClosed != 0 {
		return ErrClosed
	}
	if c.flags&fFinish == 0 {
		c.flags |= fFinish
		c.loop.schedule(c)
	}
	return nil
}

// ReadBuffer implements Conn.ReadBuffer: the loop's shared buffer.
func (c *conn) ReadBuffer() []byte { return c.loop.buf }

// Wake implements Conn.Wake: c goes on the loop's ready list, so the loop
// consults its handler in this turn or the next, with no system call.
func (c *conn) Wake() { c.loop.schedule(c) }

// Post implements Conn.Post.
func (c *conn) Post(fn func()) error {
	return c.loop.post(func() {
		fn()
		c.loop.schedule(c) // fn may have changed what the handler wants
	})
}

// Fd implements Conn.Fd.
func (c *conn) Fd() int {
	if c.flags&fClosed != 0 {
		return -1
	}
	return int(c.fd)
}

// LocalAddr implements Conn.LocalAddr.
func (c *conn) LocalAddr() net.Addr { return c.sockAddr(unix.Getsockname) }

// RemoteAddr implements Conn.RemoteAddr.
func (c *conn) RemoteAddr() net.Addr { return c.sockAddr(unix.Getpeername) }

// sockAddr asks the kernel for one of the socket's addresses.
func (c *conn) sockAddr(get func(int) (unix.Sockaddr, error)) net.Addr {
	if c.flags&fClosed != 0 {
		return nil // the number may belong to another socket by now
	}
	sa, err := get(int(c.fd))
	if err != nil {
		// A Unix socket's address is a *net.UnixAddr even when the
		// kernel will not give it (a peer gone): unnamed, never nil.
		if own, err := unix.Getsockname(int(c.fd)); err == nil {
			if _, ok := own.(*unix.SockaddrUnix); ok {
				return &net.UnixAddr{Net: "unix"}
			}
		}
		return nil
	}
	return sockaddr.ToNet(sa)
}

// String implements Conn.String: the loop, descriptor and generation, which
// together name one connection in the process.
func (c *conn) String() string {
	return fmt.Sprintf("conn(loop=%d fd=%d gen=%d)", c.loop.id, c.fd, c.gen)
}
