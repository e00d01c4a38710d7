package reactor

import (
	"errors"
	"fmt"
	"net"
	"os"

	"github.com/edgeloop/edgeloop/internal/sockaddr"
	"golang.org/x/sys/unix"
)

// ListenerFile is one listening socket (or bound datagram socket) of a
// Loop, duplicated as an *os.File, with what it takes to adopt it again:
// ListenFile for "tcp" and "unix", ListenPacketFile for "udp".
type ListenerFile struct {
	// Network is "tcp", "unix" or "udp".
	Network string
	// Addr is the socket's address: HOST:PORT, or the Unix socket's path.
	Addr string
	// File is a duplicate of the socket's descriptor, close-on-exec (to
	// pass it to a child, put it in exec.Cmd.ExtraFiles). The caller
	// closes it.
	File *os.File
}

// HandoverEngine is implemented by an Engine that can hand its sockets to
// another process and adopt inherited ones; each method has the meaning of
// the Loop method of the same name.
type HandoverEngine interface {
	ListenerFiles() ([]ListenerFile, error)
	ListenFile(f *os.File, fac Factory) (net.Addr, error)
	ListenPacketFile(f *os.File, fac PacketFactory) (net.Addr, error)
	StopAccepting() error
	OpenConns() int
}

// handover returns r's engine as a HandoverEngine, or ErrUnsupported.
func (r *Loop) handover() (HandoverEngine, error) {
	h, ok := r.eng.(HandoverEngine)
	if !ok {
		return nil, ErrUnsupported
	}
	return h, nil
}

// ListenerFiles returns every listening socket the loop holds, and every
// datagram socket ListenPacket bound, each duplicated as a close-on-exec
// *os.File: to hand them to another process (a successor in a restart),
// which adopts them with ListenFile and ListenPacketFile. With
// BalanceReusePort each event loop has a socket of its own for each
// address (SO_REUSEPORT), and all of them are returned: each has its own
// accept queue, and one left behind would take the connections queued on
// it when this process closes it. Sockets made by Dial and DialPacket are
// not listed.
//
// It waits for each event loop to list its own, so it is safe from any
// goroutine but a loop's (from a handler it would wait forever). The
// duplicates share the sockets: the kernel keeps a socket, and the
// connections in its backlog, while any process holds a descriptor of it.
// On the gnet backend it returns ErrUnsupported.
func (r *Loop) ListenerFiles() ([]ListenerFile, error) {
	h, err := r.handover()
	if err != nil {
		return nil, err
	}
	return h.ListenerFiles()
}

// ListenFile adopts f, a listening stream socket (TCP or Unix) made by
// another process or inherited (from a predecessor's ListenerFiles, or
// systemd's socket activation), and accepts connections on it with
// handlers made by f. It duplicates f's descriptor, so the caller may
// close f after. It refuses a socket that is not listening (SO_ACCEPTCONN)
// or not a stream one; it makes the socket non-blocking, a flag the socket
// shares with every process that holds it.
//
// The socket goes to one event loop: the one that has adopted the fewest
// sockets of its address, so that the N sockets of a predecessor's
// SO_REUSEPORT group go one per loop, in whatever order. With several
// loops it keeps what it accepts if it is one of a SO_REUSEPORT
// group and the balance is BalanceReusePort (the kernel spreads the
// connections over the group's sockets, one per loop of the process that
// made them); otherwise its loop hands connections to the others as
// WithBalance says (round robin for BalanceReusePort).
//
// A Unix socket's file is left in place when the listener closes: it
// belongs to whoever bound it. On the gnet backend it returns
// ErrUnsupported.
func (r *Loop) ListenFile(f *os.File, fac Factory) (net.Addr, error) {
	if fac == nil {
		return nil, fmt.Errorf("listen file %s: %w", f.Name(), ErrNilFactory)
	}
	h, err := r.handover()
	if err == nil {
		var a net.Addr
		if a, err = h.ListenFile(f, fac); err == nil {
			return a, nil
		}
	}
	return nil, fmt.Errorf("listen file %s: %w", f.Name(), err)
}

// ListenPacketFile adopts f, a bound datagram socket (UDP) made by another
// process or inherited, as ListenFile adopts a listener, and serves it
// with the handler fac makes. It goes to one event loop, chosen as for
// ListenFile. On the gnet backend it returns ErrUnsupported.
func (r *Loop) ListenPacketFile(f *os.File, fac PacketFactory) (net.Addr, error) {
	if fac == nil {
		return nil, fmt.Errorf("listen file %s: %w", f.Name(), ErrNilFactory)
	}
	h, err := r.handover()
	if err == nil {
		var a net.Addr
		if a, err = h.ListenPacketFile(f, fac); err == nil {
			return a, nil
		}
	}
	return nil, fmt.Errorf("listen file %s: %w", f.Name(), err)
}

// StopAccepting closes this process's descriptors of every listener and
// bound datagram socket, and returns once every event loop has. Unix
// socket files are left in place. Connections already accepted carry on;
// Shutdown then drains them.
//
// It is for the old process of a restart, once its successor holds the
// same sockets (ListenerFiles): the sockets, and the connections waiting
// in their backlogs, live on in the successor, which accepts them. Without
// a successor, the connections in the backlogs are refused when the last
// descriptor closes, as with Shutdown. It is safe from any goroutine but a
// loop's. On the gnet backend it returns ErrUnsupported.
func (r *Loop) StopAccepting() error {
	h, err := r.handover()
	if err != nil {
		return err
	}
	return h.StopAccepting()
}

// OpenConns returns the number of stream connections open (accepted or
// dialled, not yet closed), for a caller that waits for them to finish
// after StopAccepting. It is safe from any goroutine; with several loops
// the sum is not a snapshot of one instant. On the gnet backend it returns
// -1.
func (r *Loop) OpenConns() int {
	h, err := r.handover()
	if err != nil {
		return -1
	}
	return h.OpenConns()
}

// onEveryLoop runs fn on each loop and waits for all; fn's errors are
// joined. A loop that has exited counts as ErrClosed.
func (g *group) onEveryLoop(fn func(l *eventLoop) error) error {
	errs := make(chan error, len(g.loops))
	for _, l := range g.loops {
		if err := l.post(func() { errs <- fn(l) }); err != nil {
			errs <- err
		}
	}
	var all []error
	for range g.loops {
		all = append(all, <-errs)
	}
	return errors.Join(all...)
}

// ListenerFiles implements HandoverEngine.
func (g *group) ListenerFiles() ([]ListenerFile, error) {
	if g.draining.Load() {
		return nil, ErrClosed
	}
	files := make(chan []ListenerFile, len(g.loops))
	err := g.onEveryLoop(func(l *eventLoop) error {
		var out []ListenerFile
		var err error
		for c := range l.owned {
			if c.flags&fClosed != 0 || (c.kind != kindListener && c.kind != kindPacket) {
				continue
			}
			var lf ListenerFile
			if lf, err = listenerFile(int(c.fd), c.kind); err != nil {
				break
			}
			if lf.File != nil {
				out = append(out, lf)
			}
		}
		files <- out
		return err
	})
	var out []ListenerFile
	for range g.loops {
		select {
		case fs := <-files:
			out = append(out, fs...)
		default:
		}
	}
	if err != nil {
		for _, lf := range out {
			lf.File.Close()
		}
		return nil, err
	}
	return out, nil
}

// listenerFile duplicates fd, a listener or datagram socket of kind, as a
// ListenerFile. A connected datagram socket (DialPacket's) gives none.
func listenerFile(fd int, kind uint8) (ListenerFile, error) {
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return ListenerFile{}, os.NewSyscallError("getsockname", err)
	}
	lf := ListenerFile{Network: "tcp"}
	switch a := sa.(type) {
	case *unix.SockaddrUnix:
		lf.Network, lf.Addr = "unix", a.Name
	default:
		lf.Addr = sockaddr.ToNet(sa).String()
	}
	if kind == kindPacket {
		if _, err := unix.Getpeername(fd); err == nil {
			return ListenerFile{}, nil // DialPacket's
		}
		lf.Network = "udp"
	}
	dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return ListenerFile{}, os.NewSyscallError("fcntl", err)
	}
	// os.NewFile leaves a non-blocking descriptor as it is, and its Fd
	// (which exec.Cmd calls) does not make it blocking: the flag belongs
	// to the socket, which this process's loops still accept on.
	lf.File = os.NewFile(uintptr(dup), lf.Network+":"+lf.Addr)
	return lf, nil
}

// adoptFD duplicates f's descriptor (close-on-exec), checks it is a socket
// of type typ (and listening, for a stream one), and makes it
// non-blocking. It does not use f.Fd, which may make the socket blocking.
func adoptFD(f *os.File, typ int) (int, unix.Sockaddr, error) {
	if f == nil {
		return -1, nil, errors.New("reactor: nil file")
	}
	sc, err := f.SyscallConn()
	if err != nil {
		return -1, nil, err
	}
	fd := -1
	var dupErr error
	if err := sc.Control(func(s uintptr) {
		fd, dupErr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return -1, nil, err
	}
	if dupErr != nil {
		return -1, nil, os.NewSyscallError("fcntl", dupErr)
	}
	fail := func(err error) (int, unix.Sockaddr, error) {
		unix.Close(fd)
		return -1, nil, err
	}
	got, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
	if err != nil {
		return fail(os.NewSyscallError("getsockopt", err)) // ENOTSOCK: not a socket
	}
	if got != typ {
		return fail(fmt.Errorf("reactor: socket of type %d, want %d (%s)", got, typ, socketTypeName(typ)))
	}
	if typ == unix.SOCK_STREAM {
		if ok, err := acceptConn(fd); err != nil {
			return fail(os.NewSyscallError("getsockopt", err))
		} else if !ok {
			return fail(errors.New("reactor: the socket is not listening"))
		}
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return fail(os.NewSyscallError("getsockname", err))
	}
	switch sa.(type) {
	case *unix.SockaddrInet4, *unix.SockaddrInet6:
	case *unix.SockaddrUnix:
		if typ != unix.SOCK_STREAM {
			return fail(fmt.Errorf("%w: a Unix datagram socket", ErrUnsupported))
		}
	default:
		return fail(fmt.Errorf("%w: socket family of %T", ErrUnsupported, sa))
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		return fail(os.NewSyscallError("fcntl", err))
	}
	return fd, sa, nil
}

// acceptConn reports whether fd is a listening socket (SO_ACCEPTCONN).
func acceptConn(fd int) (bool, error) {
	v, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ACCEPTCONN)
	return v != 0, err
}

// socketTypeName names a socket type for an error.
func socketTypeName(typ int) string {
	if typ == unix.SOCK_STREAM {
		return "stream"
	}
	return "datagram"
}

// ListenFile implements HandoverEngine.
func (g *group) ListenFile(f *os.File, fac Factory) (net.Addr, error) {
	if g.draining.Load() {
		return nil, ErrClosed
	}
	fd, sa, err := adoptFD(f, unix.SOCK_STREAM)
	if err != nil {
		return nil, err
	}
	var spread *group
	balance := g.balance
	if len(g.loops) > 1 {
		reuse, _ := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT)
		_, isUnix := sa.(*unix.SockaddrUnix)
		if balance != BalanceReusePort || reuse == 0 || isUnix {
			spread = g
			if balance == BalanceReusePort {
				balance = BalanceRoundRobin
			}
		}
	}
	l := g.adoptLoop("tcp", sa)
	if err := l.post(func() { l.addListener(fd, fac, spread, balance, nil) }); err != nil {
		unix.Close(fd)
		return nil, err
	}
	if u, ok := sa.(*unix.SockaddrUnix); ok {
		return &net.UnixAddr{Name: u.Name, Net: "unix"}, nil
	}
	return sockaddr.ToNet(sa), nil
}

// adoptLoop picks the loop for an adopted socket bound to sa: the one that
// has adopted the fewest of network's sockets at that address, so that a
// predecessor's SO_REUSEPORT group (a socket per loop) is spread one per
// loop whatever order the sockets come in; the first such loop counting
// from a turn that moves with every socket adopted.
func (g *group) adoptLoop(network string, sa unix.Sockaddr) *eventLoop {
	key := network + " " + sockaddr.ToNet(sa).String()
	g.adoptMu.Lock()
	defer g.adoptMu.Unlock()
	if g.adopted == nil {
		g.adopted = map[string][]int{}
	}
	counts := g.adopted[key]
	if counts == nil {
		counts = make([]int, len(g.loops))
		g.adopted[key] = counts
	}
	start := int(g.listeners.Add(1) - 1)
	best := start % len(g.loops)
	for i := range g.loops {
		if j := (start + i) % len(g.loops); counts[j] < counts[best] {
			best = j
		}
	}
	counts[best]++
	return g.loops[best]
}

// ListenPacketFile implements HandoverEngine.
func (g *group) ListenPacketFile(f *os.File, fac PacketFactory) (net.Addr, error) {
	if g.draining.Load() {
		return nil, ErrClosed
	}
	fd, sa, err := adoptFD(f, unix.SOCK_DGRAM)
	if err != nil {
		return nil, err
	}
	family := unix.AF_INET
	if _, ok := sa.(*unix.SockaddrInet6); ok {
		family = unix.AF_INET6
	}
	if err := enableTimestamps(fd); err != nil {
		unix.Close(fd)
		return nil, os.NewSyscallError("setsockopt", err)
	}
	l := g.adoptLoop("udp", sa)
	if err := l.post(func() { l.addEndpoint(fd, family, fac) }); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return sockaddr.ToNetUDP(sa), nil
}

// StopAccepting implements HandoverEngine.
func (g *group) StopAccepting() error {
	return g.onEveryLoop(func(l *eventLoop) error {
		for c := range l.owned {
			switch {
			case c.flags&fClosed != 0:
			case c.kind == kindListener:
				if a, ok := c.h.(*acceptor); ok {
					a.file.Forget() // the successor serves the path now
				}
				l.closeConn(c, nil)
			case c.kind == kindPacket:
				if _, err := unix.Getpeername(int(c.fd)); err != nil { // bound, not DialPacket's
					l.closeConn(c, nil)
				}
			}
		}
		return nil
	})
}

// OpenConns implements HandoverEngine: the loops' load counters, which
// count open stream connections and those handed over not yet taken.
func (g *group) OpenConns() int {
	n := 0
	for _, l := range g.loops {
		n += int(l.load.Load())
	}
	return n
}
