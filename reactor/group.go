package reactor

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgeloop/edgeloop/internal/acceptfail"
	"github.com/edgeloop/edgeloop/internal/sockaddr"
	"github.com/edgeloop/edgeloop/internal/unixsock"
	"github.com/edgeloop/edgeloop/poller"
	"golang.org/x/sys/unix"
)

// group is the native engine: N event loops, each with its own poller and
// its own connections. With BalanceReusePort each loop has its own copy of
// every listener (SO_REUSEPORT spreads accepts across them); otherwise a
// listener lives on one loop, which hands the connections it accepts to the
// others (handoff.go).
type group struct {
	loops     []*eventLoop
	table     *fdTable      // entries by descriptor, shared by the loops
	balance   Balance       // how accepted connections are spread
	next      atomic.Uint32 // round robin for Dial and Post
	listeners atomic.Uint32 // round robin for the loop of a spreading listener
	draining  atomic.Bool
	doneCh    chan struct{}

	adoptMu sync.Mutex
	adopted map[string][]int // sockets adopted per loop, by "NETWORK ADDR" (adoptLoop)
}

func newGroup(o *options) (*group, error) {
	open := o.openPoller
	if open == nil {
		open = poller.New
	}
	g := &group{doneCh: make(chan struct{}), table: newFDTable(), balance: o.balance}
	for i := 0; i < o.loops; i++ {
		p, err := open()
		if err != nil {
			for _, l := range g.loops {
				l.post(l.forceClose)
			}
			return nil, err
		}
		l := newEventLoop(i, p, g.table, o)
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

// Listen binds and listens on the calling goroutine, so that its errors are
// returned, then hands each loop its socket through the loop's task queue:
// it never waits for a loop, so a handler may call it.
func (g *group) Listen(network, address string, f Factory) (net.Addr, error) {
	if g.draining.Load() {
		return nil, ErrClosed
	}
	sa, domain, err := resolve(network, address)
	if err != nil {
		return nil, err
	}
	if domain == unix.AF_UNIX {
		return g.listenUnix(sa.(*unix.SockaddrUnix), f)
	}
	if g.balance != BalanceReusePort && len(g.loops) > 1 {
		return g.listenSpread(domain, sa, network, f)
	}
	sa, err = g.perLoop(sa,
		func() error { return probeBind(domain, sa, network) },
		func(sa unix.Sockaddr, reuse bool) (int, error) { return listenSocket(domain, sa, network, reuse) },
		func(l *eventLoop, fd int) func() {
			return func() { l.addListener(fd, f, nil, g.balance, nil) }
		})
	if err != nil {
		return nil, err
	}
	return sockaddr.ToNet(sa), nil
}

// perLoop makes one socket per loop with open, bound to sa, and hands each
// to its loop with the task add makes. With several loops the sockets
// share the port (SO_REUSEPORT); since any process of this user may join
// such a group, a second server would silently share the port, so probe
// (a plain bind) must fail first if anything holds it. It returns the
// address the first socket got, the port picked for "...:0".
func (g *group) perLoop(sa unix.Sockaddr, probe func() error,
	open func(sa unix.Sockaddr, reuse bool) (int, error), add func(l *eventLoop, fd int) func()) (unix.Sockaddr, error) {
	reuse := len(g.loops) > 1
	if reuse && port(sa) != 0 {
		if err := probe(); err != nil {
			return nil, err
		}
	}
	fds := make([]int, 0, len(g.loops))
	fail := func(err error) (unix.Sockaddr, error) {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return nil, err
	}
	for i := range g.loops {
		fd, err := open(sa, reuse)
		if err != nil {
			return fail(err)
		}
		fds = append(fds, fd)
		if i == 0 {
			// The first bind picked the port for "…:0"; the others share it.
			if sa, err = unix.Getsockname(fd); err != nil {
				return fail(os.NewSyscallError("getsockname", err))
			}
		}
	}
	for i, l := range g.loops {
		if err := l.post(add(l, fds[i])); err != nil {
			// The loop has exited. The sockets already handed over are
			// their loops' to close now; close only the rest.
			for _, fd := range fds[i:] {
				unix.Close(fd)
			}
			return nil, err
		}
	}
	return sa, nil
}

// listenSpread makes one listening socket, with no SO_REUSEPORT (so a
// plain bind refuses a taken address), on one loop - the listeners take
// turns - which hands what it accepts to the group's loops as g.balance
// says.
func (g *group) listenSpread(domain int, sa unix.Sockaddr, network string, f Factory) (net.Addr, error) {
	fd, err := listenSocket(domain, sa, network, false)
	if err != nil {
		return nil, err
	}
	if sa, err = unix.Getsockname(fd); err != nil {
		unix.Close(fd)
		return nil, os.NewSyscallError("getsockname", err)
	}
	l := g.loops[int(g.listeners.Add(1)-1)%len(g.loops)]
	if err := l.post(func() { l.addListener(fd, f, g, g.balance, nil) }); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return sockaddr.ToNet(sa), nil
}

// listenUnix listens on a Unix socket: one socket on one loop, as
// listenSpread, since SO_REUSEPORT spreads nothing for Unix sockets. With
// several loops it hands connections over as WithBalance says, round robin
// for the default (BalanceReusePort). No bind probe: it would make the
// socket file that the real bind then finds taken. A stale file (nobody
// listens) is removed first; a live server's is left alone.
func (g *group) listenUnix(sa *unix.SockaddrUnix, f Factory) (net.Addr, error) {
	if err := unixsock.Prepare(sa.Name); err != nil {
		return nil, err
	}
	fd, err := listenSocket(unix.AF_UNIX, sa, "unix", false)
	if err != nil {
		return nil, err // Loop.Listen names the path
	}
	file, err := unixsock.Bound(sa.Name)
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	var spread *group
	balance := g.balance
	if len(g.loops) > 1 {
		spread = g
		if balance == BalanceReusePort {
			balance = BalanceRoundRobin
		}
	}
	l := g.loops[int(g.listeners.Add(1)-1)%len(g.loops)]
	if err := l.post(func() { l.addListener(fd, f, spread, balance, file) }); err != nil {
		unix.Close(fd)
		file.Remove()
		return nil, err
	}
	return &net.UnixAddr{Name: sa.Name, Net: "unix"}, nil
}

// addListener registers a listening socket on this loop and tries an accept
// at once: connections may have queued before the registration. With a
// group, the listener spreads its connections over the group's loops.
// balance is how it spreads them. file is a Unix socket's file, removed
// when the listener closes.
func (l *eventLoop) addListener(fd int, f Factory, g *group, balance Balance, file *unixsock.File) {
	if l.draining {
		unix.Close(fd)
		file.Remove()
		return
	}
	c, err := l.register(fd, kindListener, fReadable)
	if err != nil {
		unix.Close(fd)
		file.Remove()
		l.log.Error("reactor: listener not registered; it accepts nothing", "fd", fd, "err", err)
		return
	}
	a := &acceptor{l: l, c: c, f: f, file: file}
	if sa, err := unix.Getsockname(fd); err == nil {
		_, a.unix = sa.(*unix.SockaddrUnix)
	}
	if g != nil {
		a.spread, a.balance = g.loops, balance
	}
	c.h = a
	l.schedule(c)
}

// acceptor is a listener's handler: its HandleRecv accepts connections.
type acceptor struct {
	l       *eventLoop
	c       *conn
	f       Factory
	resting bool               // accept failed, not for one connection's sake; see acceptRetry
	failed  acceptfail.Episode // accept has failed since it last worked; logged at its start and end

	spread  []*eventLoop // the loops to hand connections to; nil: keep them
	balance Balance      // how to pick among spread
	next    int          // BalanceRoundRobin's next pick

	unix bool           // a Unix socket's listener
	file *unixsock.File // its file, removed when the listener closes
}

func (a *acceptor) WantsRecv() bool   { return !a.resting }
func (a *acceptor) WantsSend() bool   { return false }
func (a *acceptor) HandleSend() error { return nil }

// HandleRecv accepts until EAGAIN or the loop's budget, counting each
// connection as acceptCost bytes; an edge-triggered listener with a queue
// left is rescheduled by the loop, as any entry out of budget.
func (a *acceptor) HandleRecv() error {
	l := a.l
	if a.spread != nil {
		defer l.wakeInboxes() // one wake per target per batch
	}
	admit := l.adm != nil && !a.unix // a Unix socket's peer has no IP: admitted
	for l.spent < l.budget {
		var fd int
		var err error
		var peer netip.Addr
		if admit {
			fd, peer, err = l.sa.accept(int(a.c.fd))
		} else {
			fd, err = l.accept(int(a.c.fd))
		}
		if err == unix.EAGAIN {
			a.c.flags &^= fReadable
			// An empty backlog ends a run of failures, not the first accept
			// that works: at its descriptor limit, a server under load
			// accepts one connection per close and fails on the next, and
			// logging each of those as a new run would log per close.
			a.recovered()
			return nil
		}
		if err != nil {
			if acceptfail.Classify(err) == acceptfail.Retry {
				// The error was the connection's (aborted, or its network
				// gone), not the listener's: take the next one now. An
				// edge-triggered listener hears of those only once. It
				// counts against the budget so that a run of them cannot
				// hold the turn.
				l.spent += acceptCost
				continue
			}
			// EMFILE and the like: the connection stays in the backlog and
			// live connections are untouched. No edge comes when
			// descriptors are freed, so the listener rests and tries again
			// (rest). A broken listener (EBADF...) rests too: retrying it
			// at once would spin.
			a.c.flags &^= fReadable
			a.rest(err)
			return nil
		}
		l.spent += acceptCost
		if admit && !l.admit(fd, peer) {
			continue // refused: closed, never registered
		}
		if !a.unix { // Nagle is TCP's
			unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
		}
		if t := a.target(); t != l && t.handOff(l, fd, a.f, peer) {
			continue
		}
		l.addAdmitted(fd, a.f, peer) // its own, or its target has exited
	}
	return nil
}

// recovered ends a run of failures, if accept was failing, and logs it:
// the backlog is empty, so no connection waits for a descriptor.
func (a *acceptor) recovered() {
	if a.failed.Failing() {
		a.failed.End(a.l.log, "reactor", a.logAttrs()...)
	}
}

// rest stops accepting until acceptRetry has passed or a connection of the
// loop closes, and logs the first failure since accept last worked.
func (a *acceptor) rest(err error) {
	l := a.l
	var attrs []any // only the first failure of a run is logged
	if !a.failed.Failing() {
		attrs = append(a.logAttrs(), "retry", "when a connection closes, or every "+acceptRetry.String())
	}
	a.failed.Fail(l.log, "reactor", os.NewSyscallError(acceptCall, err), attrs...)
	a.resting = true
	if len(l.resting) == 0 {
		l.restUntil = time.Now().Add(acceptRetry)
		l.table.rests(l)
	}
	l.resting = append(l.resting, a.c)
}

// logAttrs names the listener in log records: its address and its loop
// (each loop has its own socket for a listener, and its own episodes).
func (a *acceptor) logAttrs() []any {
	var addr net.Addr
	if sa, err := unix.Getsockname(int(a.c.fd)); err == nil {
		addr = sockaddr.ToNet(sa)
	}
	return []any{"listener", addr, "loop", a.l.id}
}

// probeBind binds a socket without SO_REUSEPORT to sa and closes it: it fails
// if the address is taken, even by a SO_REUSEPORT group. perLoop skips it
// for port 0, which needs no probe.
func probeBind(domain int, sa unix.Sockaddr, network string) error {
	fd, err := newSocket(domain)
	if err != nil {
		return os.NewSyscallError("socket", err)
	}
	defer unix.Close(fd)
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1) // as the real ones: TIME_WAIT is no conflict
	dualStack(fd, sa, network)
	if err := unix.Bind(fd, sa); err != nil {
		return os.NewSyscallError("bind", err)
	}
	return nil
}

// listenSocket makes a bound, listening, non-blocking socket.
func listenSocket(domain int, sa unix.Sockaddr, network string, reusePort bool) (int, error) {
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
	dualStack(fd, sa, network)
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

// dualStack sets IPV6_V6ONLY on an IPv6 socket bound to the unspecified
// address as package net does: off for "tcp" and "udp" (":PORT" takes IPv4
// peers too), on for "tcp6" and "udp6".
func dualStack(fd int, sa unix.Sockaddr, network string) {
	if a, ok := sa.(*unix.SockaddrInet6); ok && a.Addr == [16]byte{} {
		v6only := 0
		if network == "tcp6" || network == "udp6" {
			v6only = 1
		}
		unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, v6only)
	}
}

// resolve turns a TCP or Unix address into a socket address and its
// family. "tcp" with no host (":7007") is the IPv6 wildcard, dual-stack,
// where the system has IPv6, and 0.0.0.0 where it has not.
//
// "unix" takes a path, "unix:///path" or, on Linux, an abstract name
// ("@name"), and gives AF_UNIX.
func resolve(network, address string) (unix.Sockaddr, int, error) {
	switch network {
	case "tcp", "tcp4", "tcp6":
	case "unix":
		sa, err := unixsock.Sockaddr(unixsock.Path(address))
		if err != nil {
			return nil, 0, err
		}
		return sa, unix.AF_UNIX, nil
	default:
		return nil, 0, fmt.Errorf("%w: network %q", ErrUnsupported, network)
	}
	a, err := net.ResolveTCPAddr(network, address)
	if err != nil {
		return nil, 0, err
	}
	if a.IP == nil && network == "tcp" && hasIPv6() {
		return &unix.SockaddrInet6{Port: a.Port}, unix.AF_INET6, nil
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

// hasIPv6 reports whether the system can make an IPv6 socket.
func hasIPv6() bool {
	fd, err := newSocket(unix.AF_INET6)
	if err != nil {
		return false
	}
	unix.Close(fd)
	return true
}

// Dial connects on the calling goroutine (a non-blocking connect returns at
// once) and hands the socket to a loop through its task queue, so a handler
// may call it: it never waits for a loop.
func (g *group) Dial(network, address string, f Factory) error {
	return g.dialOn(g.loops[int(g.next.Add(1))%len(g.loops)], network, address, f)
}

// dialOn is Dial onto the loop l.
func (g *group) dialOn(l *eventLoop, network, address string, f Factory) error {
	if g.draining.Load() {
		return ErrClosed
	}
	sa, domain, err := resolve(network, address)
	if err != nil {
		return err
	}
	fd, err := newSocket(domain)
	if err != nil {
		return os.NewSyscallError("socket", err)
	}
	if domain != unix.AF_UNIX {
		unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	}
	flags := fConnecting
	var failed error
	switch err := unix.Connect(fd, sa); err {
	case nil:
		flags = fWritable
	case unix.EINPROGRESS, unix.EINTR:
	default:
		if domain != unix.AF_UNIX {
			unix.Close(fd)
			return os.NewSyscallError("connect", err)
		}
		// A Unix socket connects at once, even non-blocking: its refusal
		// (ECONNREFUSED, ENOENT, EAGAIN for a full backlog) comes now,
		// where TCP's comes as an event. HandleClose hears it all the
		// same, as the doc of Dial says.
		failed = os.NewSyscallError("connect", err)
	}
	err = l.post(func() {
		c, err := l.addConn(fd, f, flags)
		switch {
		case err != nil:
			l.log.Error("reactor: dialled connection not registered", "addr", address, "err", err)
		case l.draining:
			l.closeConn(c, ErrClosed) // Shutdown began after Dial returned
		case failed != nil:
			l.closeConn(c, failed)
		}
	})
	if err != nil {
		unix.Close(fd)
	}
	return err
}

// Post implements Engine.Post: fn runs on one of the loops, round robin.
func (g *group) Post(fn func()) error {
	return g.loops[int(g.next.Add(1))%len(g.loops)].post(fn)
}

// Shutdown implements Engine.Shutdown. It never waits past ctx: once ctx
// ends it asks each loop to close what is left and returns.
func (g *group) Shutdown(ctx context.Context) error {
	g.draining.Store(true)
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
	return ctx.Err()
}

// Done implements Engine.Done.
func (g *group) Done() <-chan struct{} { return g.doneCh }

// Err implements Engine.Err: the first loop's poller failure, if any loop
// has stopped for one.
func (g *group) Err() error {
	for _, l := range g.loops {
		select {
		case <-l.done:
			if l.err != nil {
				return l.err
			}
		default:
		}
	}
	return nil
}
