package reactor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync/atomic"

	"github.com/edgeloop/edgeloop/poller"
	"golang.org/x/sys/unix"
)

// group is the engine of the poller backends: N event loops, each with its
// own poller, its own copy of every listener (SO_REUSEPORT spreads accepts
// across them) and its own connections.
type group struct {
	loops  []*eventLoop
	next   atomic.Uint32 // round robin for Dial
	doneCh chan struct{}
}

func newGroup(o *options) (*group, error) {
	g := &group{doneCh: make(chan struct{})}
	for i := 0; i < o.loops; i++ {
		p, err := poller.Open(o.backend)
		if err != nil {
			for _, l := range g.loops {
				l.post(func() { l.forceClose() })
			}
			if errors.Is(err, poller.ErrUnknownBackend) {
				return nil, fmt.Errorf("%w %q", ErrUnknownBackend, o.backend)
			}
			return nil, err
		}
		l := newEventLoop(p, o)
		g.loops = append(g.loops, l)
		go l.run()
	}
	go func() {
		for _, l := range g.loops {
			<-l.done
		}
		close(g.doneCh)
	}()
	return g, nil
}

func (g *group) listen(network, address string, f Factory) (net.Addr, error) {
	sa, domain, err := resolve(network, address)
	if err != nil {
		return nil, err
	}
	if len(g.loops) > 1 {
		// SO_REUSEPORT lets any process of this user join a port's group, so
		// a second server would silently share the port. A plain bind first
		// fails with EADDRINUSE if anything holds it.
		if err := probeBind(domain, sa); err != nil {
			return nil, err
		}
	}
	var fds []int
	for i, l := range g.loops {
		fd, err := listenSocket(domain, sa, len(g.loops) > 1)
		if err == nil && i == 0 {
			// The first bind picked the port for "…:0"; the others share it.
			sa, err = unix.Getsockname(fd)
		}
		if err == nil {
			ln := &listener{fd: fd, factory: f}
			err = l.call(func() error {
				if l.draining {
					return ErrClosed
				}
				if err := l.p.Register(fd, token(int32(fd), 0)); err != nil {
					return err
				}
				l.lns[int32(fd)] = ln
				return nil
			})
			if err != nil {
				unix.Close(fd)
			}
		}
		if err != nil {
			for j, fd := range fds {
				g.loops[j].call(func() error { g.loops[j].dropListener(fd); return nil })
			}
			return nil, err
		}
		fds = append(fds, fd)
	}
	return sockaddrToTCP(sa), nil
}

// dropListener undoes a listener registration.
func (l *eventLoop) dropListener(fd int) {
	if _, ok := l.lns[int32(fd)]; ok {
		l.p.Deregister(fd)
		delete(l.lns, int32(fd))
	}
	unix.Close(fd)
}

// probeBind binds a socket without SO_REUSEPORT to sa and closes it: it fails
// if the address is taken, even by a SO_REUSEPORT group. Port 0 needs no probe.
func probeBind(domain int, sa unix.Sockaddr) error {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		if a.Port == 0 {
			return nil
		}
	case *unix.SockaddrInet6:
		if a.Port == 0 {
			return nil
		}
	}
	fd, err := newSocket(domain)
	if err != nil {
		return os.NewSyscallError("socket", err)
	}
	defer unix.Close(fd)
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1) // as the real ones: TIME_WAIT is no conflict
	if err := unix.Bind(fd, sa); err != nil {
		return os.NewSyscallError("bind", err)
	}
	return nil
}

// listenSocket makes a bound, listening, non-blocking socket.
func listenSocket(domain int, sa unix.Sockaddr, reusePort bool) (int, error) {
	fd, err := newSocket(domain)
	if err != nil {
		return -1, os.NewSyscallError("socket", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		unix.Close(fd)
		return -1, os.NewSyscallError("setsockopt", err)
	}
	if reusePort {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
			unix.Close(fd)
			return -1, os.NewSyscallError("setsockopt", err)
		}
	}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return -1, os.NewSyscallError("bind", err)
	}
	if err := unix.Listen(fd, unix.SOMAXCONN); err != nil {
		unix.Close(fd)
		return -1, os.NewSyscallError("listen", err)
	}
	return fd, nil
}

// resolve turns a TCP address into a socket address and its family.
func resolve(network, address string) (unix.Sockaddr, int, error) {
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return nil, 0, fmt.Errorf("%w: network %q", ErrUnsupported, network)
	}
	a, err := net.ResolveTCPAddr(network, address)
	if err != nil {
		return nil, 0, err
	}
	if ip4 := a.IP.To4(); ip4 != nil && network != "tcp6" {
		sa := &unix.SockaddrInet4{Port: a.Port}
		copy(sa.Addr[:], ip4)
		return sa, unix.AF_INET, nil
	}
	if a.IP == nil && network != "tcp6" {
		return &unix.SockaddrInet4{Port: a.Port}, unix.AF_INET, nil
	}
	sa := &unix.SockaddrInet6{Port: a.Port}
	copy(sa.Addr[:], a.IP.To16())
	return sa, unix.AF_INET6, nil
}

func (g *group) dial(network, address string, f Factory) error {
	sa, domain, err := resolve(network, address)
	if err != nil {
		return err
	}
	l := g.loops[int(g.next.Add(1))%len(g.loops)]
	return l.call(func() error {
		if l.draining {
			return ErrClosed
		}
		fd, err := newSocket(domain)
		if err != nil {
			return os.NewSyscallError("socket", err)
		}
		unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
		flags := fConnecting
		switch err := unix.Connect(fd, sa); err {
		case nil:
			flags = fWritable
		case unix.EINPROGRESS, unix.EINTR:
		default:
			unix.Close(fd)
			return os.NewSyscallError("connect", err)
		}
		_, err = l.addConn(fd, f, flags)
		return err
	})
}

func (g *group) post(fn func()) error {
	return g.loops[int(g.next.Add(1))%len(g.loops)].post(fn)
}

func (g *group) shutdown(ctx context.Context) error {
	for _, l := range g.loops {
		l.post(l.beginDrain)
	}
	select {
	case <-g.doneCh:
		return nil
	case <-ctx.Done():
	}
	for _, l := range g.loops {
		l.post(l.forceClose)
	}
	<-g.doneCh
	return ctx.Err()
}

func (g *group) done() <-chan struct{} { return g.doneCh }
