package stdnet

import (
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"

	"github.com/edgeloop/edgeloop/reactor"
	"golang.org/x/sys/unix"
)

// The hand-over of sockets between processes (reactor.HandoverEngine):
// package net has one socket per listener, so ListenerFiles gives one per
// address; ListenFile and ListenPacketFile are net.FileListener and
// net.FilePacketConn.

// ListenerFiles implements reactor.HandoverEngine. The descriptors are
// duplicated through SyscallConn, not by (*net.TCPListener).File, whose
// descriptor's Fd would make the shared socket blocking.
func (e *netEngine) ListenerFiles() ([]reactor.ListenerFile, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.draining {
		return nil, reactor.ErrClosed
	}
	var out []reactor.ListenerFile
	fail := func(err error) ([]reactor.ListenerFile, error) {
		for _, lf := range out {
			lf.File.Close()
		}
		return nil, err
	}
	for _, ln := range e.lns {
		network := "tcp"
		if _, ok := ln.(*net.UnixListener); ok {
			network = "unix"
		}
		f, err := dupFile(ln.(syscall.Conn), network+":"+ln.Addr().String())
		if err != nil {
			return fail(err)
		}
		out = append(out, reactor.ListenerFile{Network: network, Addr: ln.Addr().String(), File: f})
	}
	for ep := range e.eps {
		if ep.dialed {
			continue
		}
		f, err := dupFile(ep.uc, "udp:"+ep.uc.LocalAddr().String())
		if err != nil {
			return fail(err)
		}
		out = append(out, reactor.ListenerFile{Network: "udp", Addr: ep.uc.LocalAddr().String(), File: f})
	}
	return out, nil
}

// dupFile duplicates c's descriptor, close-on-exec, as an *os.File.
func dupFile(c syscall.Conn, name string) (*os.File, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	fd := -1
	var dupErr error
	if err := rc.Control(func(s uintptr) { fd, dupErr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return nil, err
	}
	if dupErr != nil {
		return nil, os.NewSyscallError("fcntl", dupErr)
	}
	return os.NewFile(uintptr(fd), name), nil
}

// checkSocket checks that f is a socket of type typ, listening if a
// stream one.
func checkSocket(f *os.File, typ int) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var got, listening int
	var gerr error
	if err := rc.Control(func(s uintptr) {
		if got, gerr = unix.GetsockoptInt(int(s), unix.SOL_SOCKET, unix.SO_TYPE); gerr == nil && typ == unix.SOCK_STREAM {
			listening, gerr = unix.GetsockoptInt(int(s), unix.SOL_SOCKET, unix.SO_ACCEPTCONN)
		}
	}); err != nil {
		return err
	}
	switch {
	case gerr != nil:
		return os.NewSyscallError("getsockopt", gerr)
	case got != typ:
		return fmt.Errorf("stdnet: socket of type %d, want %d", got, typ)
	case typ == unix.SOCK_STREAM && listening == 0:
		return errors.New("stdnet: the socket is not listening")
	}
	return nil
}

// ListenFile implements reactor.HandoverEngine with net.FileListener. A
// Unix socket's file is left in place at Shutdown.
func (e *netEngine) ListenFile(f *os.File, fac reactor.Factory) (net.Addr, error) {
	if err := checkSocket(f, unix.SOCK_STREAM); err != nil {
		return nil, err
	}
	ln, err := net.FileListener(f)
	if err != nil {
		return nil, err
	}
	if ul, ok := ln.(*net.UnixListener); ok {
		ul.SetUnlinkOnClose(false)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.draining {
		ln.Close()
		return nil, reactor.ErrClosed
	}
	e.lns = append(e.lns, ln)
	e.wg.Add(1)
	go e.acceptLoop(ln, fac)
	return ln.Addr(), nil
}

// ListenPacketFile implements reactor.HandoverEngine with
// net.FilePacketConn.
func (e *netEngine) ListenPacketFile(f *os.File, fac reactor.PacketFactory) (net.Addr, error) {
	if err := checkSocket(f, unix.SOCK_DGRAM); err != nil {
		return nil, err
	}
	pc, err := net.FilePacketConn(f)
	if err != nil {
		return nil, err
	}
	uc, ok := pc.(*net.UDPConn)
	if !ok {
		pc.Close()
		return nil, fmt.Errorf("%w: a %T", reactor.ErrUnsupported, pc)
	}
	if err := e.startEndpoint(uc, false, fac); err != nil {
		return nil, err
	}
	return uc.LocalAddr(), nil
}

// StopAccepting implements reactor.HandoverEngine: it closes the
// listeners (their accept goroutines end) and the bound datagram
// endpoints, leaving the Unix sockets' files.
func (e *netEngine) StopAccepting() error {
	e.mu.Lock()
	lns := e.lns
	e.lns = nil
	var eps []*netEndpoint
	for ep := range e.eps {
		if !ep.dialed {
			eps = append(eps, ep)
		}
	}
	for _, ln := range lns {
		e.files[ln].Forget()
		delete(e.files, ln)
		ln.Close()
	}
	e.mu.Unlock()
	for _, ep := range eps {
		ep.shutdown()
	}
	return nil
}

// OpenConns implements reactor.HandoverEngine.
func (e *netEngine) OpenConns() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.conns)
}
