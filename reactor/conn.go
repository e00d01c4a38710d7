package reactor

import (
	"fmt"
	"io"
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// Conn is a connection as its handler sees it: non-blocking Read and Write,
// Close, and addresses. On the native loop it is the socket itself plus the
// readiness the loop remembers; on other backends it forwards to them, so a
// handler runs unchanged everywhere.
//
// Conn methods must be called from the connection's loop goroutine (inside
// handler calls, the Factory or a Post callback).
type Conn struct {
	fd       int32
	gen      uint32 // registration generation, carried in the poller token
	flags    connFlags
	interest uint8 // kernel interest, for level-triggered pollers only
	loop     *eventLoop
	h        Handler
	tr       transport // nil on the native loop
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
)

// transport is what a non-native backend supplies behind a Conn.
type transport interface {
	read(p []byte) (int, error)
	write(p []byte) (int, error)
	close() error
	closeWrite() error
	readBuffer() []byte
	post(fn func()) error
	localAddr() net.Addr
	remoteAddr() net.Addr
}

// Read reads up to len(p) bytes of input. It returns ErrWouldBlock when none
// is waiting, io.EOF once the peer has closed its side and everything before
// that was read, or the system call's error.
func (c *Conn) Read(p []byte) (int, error) {
	if c.tr != nil {
		return c.tr.read(p)
	}
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
			// A short read drained the socket: the next byte to arrive makes
			// a new edge. Not so once the peer's FIN is queued, since no edge
			// follows it: then only 0 or EAGAIN ends reading.
			if n < len(p) && c.flags&fReadClosed == 0 {
				c.flags &^= fReadable
			}
			return n, nil
		case errno == 0:
			c.flags = c.flags&^fReadable | fEOF
			return 0, io.EOF
		case errno == unix.EAGAIN:
			c.flags &^= fReadable
			return 0, ErrWouldBlock
		case errno == unix.EINTR:
			continue
		}
		c.flags &^= fReadable
		return 0, os.NewSyscallError("read", errno)
	}
}

// Write writes as much of p as the socket takes. When it takes less than
// all, it returns the count and ErrWouldBlock; the loop calls HandleSend
// again once the socket drains. A reset peer gives EPIPE or ECONNRESET,
// never SIGPIPE.
func (c *Conn) Write(p []byte) (int, error) {
	if c.tr != nil {
		return c.tr.write(p)
	}
	if c.flags&fClosed != 0 {
		return 0, ErrClosed
	}
	if len(p) == 0 {
		return 0, nil
	}
	for {
		n, errno := rawWrite(int(c.fd), p)
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

// Close closes the connection now; output the handler still holds is
// dropped. The handler's HandleClose runs with a nil error. Closing twice
// returns ErrClosed.
func (c *Conn) Close() error {
	if c.tr != nil {
		return c.tr.close()
	}
	if c.flags&fClosed != 0 {
		return ErrClosed
	}
	c.loop.closeConn(c, nil)
	return nil
}

// CloseWrite shuts down the sending side (a TCP FIN) and keeps reading.
func (c *Conn) CloseWrite() error {
	if c.tr != nil {
		return c.tr.closeWrite()
	}
	if c.flags&fClosed != 0 {
		return ErrClosed
	}
	if err := unix.Shutdown(int(c.fd), unix.SHUT_WR); err != nil {
		return os.NewSyscallError("shutdown", err)
	}
	return nil
}

// ReadBuffer returns a buffer owned by the loop, valid until the current
// handler call returns. Reading into it and acting on the input in place
// keeps a connection from holding memory between messages.
func (c *Conn) ReadBuffer() []byte {
	if c.tr != nil {
		return c.tr.readBuffer()
	}
	return c.loop.buf
}

// Post runs fn on the connection's loop goroutine. It is how another
// goroutine reaches a connection, for example to close it.
func (c *Conn) Post(fn func()) error {
	if c.tr != nil {
		return c.tr.post(fn)
	}
	return c.loop.post(func() {
		fn()
		if c.flags&fClosed == 0 {
			c.loop.schedule(c) // fn may have changed what the handler wants
		}
	})
}

// Fd returns the socket descriptor, or -1 on backends that hide it.
func (c *Conn) Fd() int {
	if c.tr != nil {
		return -1
	}
	return int(c.fd)
}

// LocalAddr returns the local address. It allocates; call it once.
func (c *Conn) LocalAddr() net.Addr {
	if c.tr != nil {
		return c.tr.localAddr()
	}
	return c.sockAddr(unix.Getsockname)
}

// RemoteAddr returns the peer's address. It allocates; call it once.
func (c *Conn) RemoteAddr() net.Addr {
	if c.tr != nil {
		return c.tr.remoteAddr()
	}
	return c.sockAddr(unix.Getpeername)
}

// sockAddr asks the kernel for one of the socket's addresses.
func (c *Conn) sockAddr(get func(int) (unix.Sockaddr, error)) net.Addr {
	sa, err := get(int(c.fd))
	if err != nil {
		return nil
	}
	return sockaddrToTCP(sa)
}

// String names the connection for logs.
func (c *Conn) String() string {
	if c.tr != nil {
		return fmt.Sprintf("conn(%v)", c.tr.remoteAddr())
	}
	return fmt.Sprintf("conn(fd=%d gen=%d)", c.fd, c.gen)
}

func sockaddrToTCP(sa unix.Sockaddr) *net.TCPAddr {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return &net.TCPAddr{IP: append(net.IP(nil), a.Addr[:]...), Port: a.Port}
	case *unix.SockaddrInet6:
		return &net.TCPAddr{IP: append(net.IP(nil), a.Addr[:]...), Port: a.Port}
	}
	return nil
}
