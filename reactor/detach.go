package reactor

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Detacher is implemented by Conns that can leave their loop without
// closing their socket: the native loop's and the net backend's. Use Detach.
type Detacher interface {
	// Detach takes the connection off its loop, as the function Detach
	// describes.
	Detach() (*os.File, error)
}

// Adopter is implemented by Engines that can serve a socket they did not
// accept or dial (Loop.Adopt).
type Adopter interface {
	// Adopt serves the stream socket f on loop (-1: any), as Loop.Adopt
	// describes.
	Adopt(f *os.File, loop int, fac Factory) error
}

// Detach takes c off its loop without closing its socket, so that it can be
// served elsewhere: by another Loop (Adopt), or by another process (package
// fdpass sends it over a Unix socket). It must be called on c's loop
// goroutine, from a handler call, the Factory or a Conn.Post callback.
//
// The loop stops watching the socket and forgets it: the handler gets
// HandleClose(ErrDetached) once the current call has returned, and no other
// call; the Conn then behaves as closed (ErrClosed, Fd -1). The descriptor
// stays open and belongs to the *os.File returned, which the caller must
// close once done with it (after sending it, for instance). Input the
// handler has already read, and output it still holds, are the handler's
// business: the loop neither sends nor keeps anything. Input still in the
// kernel, and output the kernel has not sent yet, go with the socket.
//
// A detached connection no longer counts against the Loop's Admission
// (WithAdmission): Release is called for it at once, as for a close.
//
// A connection still connecting (Dial), closing gracefully
// (CloseGraceful, Shutdown's flush) or already closed cannot be detached
// (ErrClosed for the last two). Portability: the native loop on every
// poller; the net backend only inside a handler call or the Factory (its
// goroutine may be blocked in a read during a Post), and only once the
// handler has read all that goroutine read for it (else it fails: those
// bytes are off the socket); gnet cannot (ErrUnsupported): its engine owns
// the descriptor and has no way to let it go without closing it.
func Detach(c Conn) (*os.File, error) {
	d, ok := c.(Detacher)
	if !ok {
		return nil, ErrUnsupported
	}
	return d.Detach()
}

// Adopt serves the stream socket f (TCP or Unix, connected) with the
// handler fac makes, on the event loop numbered loop (0 to WithLoops-1),
// or on one picked round robin for -1: the way in for a socket received
// from another process (package fdpass) or detached from another Loop
// (Detach). It is safe from any goroutine, the loop's own included, and
// does not wait for the loop.
//
// Adopt takes f: it closes it, on success as on failure, and serves a
// duplicate of its descriptor, set non-blocking (the socket's other
// descriptors, in other processes, share that flag). Input already waiting
// in the socket is read as soon as the handler wants it; no new edge is
// needed. Once Shutdown has begun it fails with ErrClosed.
//
// Portability: the native loop on every poller; the net backend
// (net.FileConn; loop is ignored, each connection has a goroutine);
// gnet cannot (ErrUnsupported): its engine serves only what it accepts.
func (r *Loop) Adopt(f *os.File, loop int, fac Factory) error {
	if fac == nil {
		f.Close()
		return fmt.Errorf("adopt: %w", ErrNilFactory)
	}
	a, ok := r.eng.(Adopter)
	if !ok {
		f.Close()
		return fmt.Errorf("adopt: %w", ErrUnsupported)
	}
	if err := a.Adopt(f, loop, fac); err != nil {
		return fmt.Errorf("adopt: %w", err)
	}
	return nil
}

// errDetachState is Detach's error for a connection it cannot take now.
var errDetachState = errors.New("reactor: cannot detach a connection that is connecting or not a stream")

// Detach implements Detacher for the native loop: closeConn without the
// close.
func (c *conn) Detach() (*os.File, error) {
	l := c.loop
	switch {
	case c.flags&(fClosed|fLinger|fFinish) != 0:
		return nil, ErrClosed
	case c.kind != kindStream || c.flags&fConnecting != 0:
		return nil, errDetachState
	}
	fd := int(c.fd)
	// As closeConn: out of the poller and the table before the descriptor
	// is anyone else's, so that no event of this loop reaches it again.
	if err := l.p.Deregister(fd); err != nil {
		return nil, fmt.Errorf("reactor: detach fd %d: %w", fd, err)
	}
	l.table.clear(fd)
	if l.peers != nil {
		l.releasePeer(c.fd) // it counts against this process's limits no more
	}
	c.flags |= fClosed
	l.load.Add(-1)
	l.live--
	l.closing = append(l.closing, closed{c, ErrDetached})
	if l.depth == 0 {
		l.reportClosed()
	}
	return os.NewFile(uintptr(fd), "reactor-detached"), nil
}

// Adopt implements Adopter for the native loops.
func (g *group) Adopt(f *os.File, loop int, fac Factory) error {
	fd, err := adoptFd(f)
	if err != nil {
		return err
	}
	var l *eventLoop
	switch {
	case loop == -1:
		l = g.loops[int(g.next.Add(1))%len(g.loops)]
	case loop >= 0 && loop < len(g.loops):
		l = g.loops[loop]
	default:
		unix.Close(fd)
		return fmt.Errorf("reactor: loop %d out of range [-1, %d)", loop, len(g.loops))
	}
	if g.draining.Load() {
		unix.Close(fd)
		return ErrClosed
	}
	err = l.post(func() {
		if l.draining {
			unix.Close(fd) // Shutdown began after Adopt returned
			return
		}
		// Readable and writable at once: the socket may hold input that
		// arrived before this registration, and an edge-triggered poller
		// owes no edge for it. A read that finds nothing costs an EAGAIN.
		if _, err := l.addConn(fd, fac, fReadable|fWritable); err != nil {
			l.log.Error("reactor: adopted connection not registered", "fd", fd, "err", err)
		}
	})
	if err != nil {
		unix.Close(fd)
	}
	return err
}

// adoptFd checks that f is a stream socket and returns a non-blocking,
// close-on-exec duplicate of its descriptor; f is closed in any case.
func adoptFd(f *os.File) (int, error) {
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		return -1, err
	}
	nfd, typ := -1, 0
	var serr error
	// Control, not Fd: Fd would make the descriptor blocking.
	if err := rc.Control(func(fd uintptr) {
		if typ, serr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TYPE); serr != nil {
			serr = os.NewSyscallError("getsockopt", serr)
			return
		}
		if typ != unix.SOCK_STREAM {
			return
		}
		if nfd, serr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0); serr != nil {
			serr = os.NewSyscallError("fcntl", serr)
		}
	}); err != nil {
		return -1, err
	}
	switch {
	case serr != nil:
		return -1, serr
	case typ != unix.SOCK_STREAM:
		return -1, fmt.Errorf("reactor: %s is not a stream socket (SO_TYPE %d)", f.Name(), typ)
	}
	if err := unix.SetNonblock(nfd, true); err != nil {
		unix.Close(nfd)
		return -1, os.NewSyscallError("fcntl", err)
	}
	return nfd, nil
}
