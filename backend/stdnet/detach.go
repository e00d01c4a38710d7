package stdnet

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"syscall"

	"github.com/edgeloop/edgeloop/reactor"
)

// errDetachOutsideCall is Detach's error outside a handler call: the
// connection's goroutine may be blocked in a read, which would take input
// off the socket after it has left.
var errDetachOutsideCall = errors.New("stdnet: Detach outside a handler call or the Factory")

// Detach implements reactor.Detacher: a duplicate of the socket's
// descriptor ((*net.TCPConn).File), then the connection closes as if its
// handler had closed it, with reactor.ErrDetached for HandleClose. Closing
// package net's descriptor leaves the socket open, held by the duplicate.
// Its Admission (reactor.WithAdmission), if any, is released when its
// goroutine ends, as for any close.
// It works only inside a handler call or the Factory, when the
// connection's goroutine is not reading, and only once the handler has
// taken all the input that goroutine read: those bytes are off the socket
// and would be lost.
func (nx *netConn) Detach() (*os.File, error) {
	switch {
	case nx.closed || nx.finishing:
		return nil, reactor.ErrClosed
	case !nx.calling:
		return nil, errDetachOutsideCall
	case len(nx.in) > 0 || nx.rerr != nil:
		return nil, fmt.Errorf("stdnet: Detach with %d bytes (or an error) read from the socket that the handler has not taken", len(nx.in))
	}
	fc, ok := nx.nc.(interface{ File() (*os.File, error) })
	if !ok {
		return nil, reactor.ErrUnsupported
	}
	f, err := fc.File()
	if err != nil {
		return nil, err
	}
	nx.closed, nx.closeErr = true, reactor.ErrDetached
	return f, nil
}

// Adopt implements reactor.Adopter: net.FileConn, served as an accepted
// connection. loop is ignored: each connection has a goroutine of its own.
// f is closed in any case; the connection keeps a duplicate.
func (e *netEngine) Adopt(f *os.File, loop int, fac reactor.Factory) error {
	defer f.Close()
	typ, err := soType(f)
	if err != nil {
		return err
	}
	if typ != syscall.SOCK_STREAM {
		return fmt.Errorf("stdnet: %s is not a stream socket (SO_TYPE %d)", f.Name(), typ)
	}
	nc, err := net.FileConn(f) // a duplicate, non-blocking, on Go's poller
	if err != nil {
		return err
	}
	return e.start(nc, nil, fac, netip.Addr{}) // not accepted here: no Admission
}

// soType asks the kernel for f's socket type.
func soType(f *os.File) (int, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return 0, err
	}
	var typ int
	var serr error
	if err := rc.Control(func(fd uintptr) {
		typ, serr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_TYPE)
	}); err != nil {
		return 0, err
	}
	if serr != nil {
		return 0, os.NewSyscallError("getsockopt", serr)
	}
	return typ, nil
}
