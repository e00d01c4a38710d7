package reactor

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/edgeloop/edgeloop/internal/sockaddr"
	"golang.org/x/sys/unix"
)

// datagramCost is what one datagram counts against the budget besides its
// bytes, so that a flood of tiny datagrams still ends a turn.
const datagramCost = 64

// endpoint is a datagram socket on the native loop: the loop's entry (c)
// runs it through this wrapper of the user's handler, which implements
// PacketConn and keeps what only datagram sockets need (so a stream conn
// carries none of it).
type endpoint struct {
	c       *conn
	user    Handler
	family  int // AF_INET or AF_INET6: how SendTo writes addresses
	stats   PacketStats
	pending []held // datagrams received in a batch the handler did not finish
	heldBuf []byte // their bytes
	warned  bool   // a truncated datagram has been logged
}

// held is a datagram kept over from a batch, in endpoint.heldBuf.
type held struct {
	off, n int
	from   netip.AddrPort
	at     time.Time
}

// The wrapper forwards the handler's wants, and after each call sends what
// the handler queued and keeps what it left of a received batch.

func (e *endpoint) WantsRecv() bool { return e.user.WantsRecv() }
func (e *endpoint) WantsSend() bool { return e.user.WantsSend() }

func (e *endpoint) HandleRecv() error {
	err := e.user.HandleRecv()
	e.afterCall()
	return err
}

func (e *endpoint) HandleSend() error {
	err := e.user.HandleSend()
	e.afterCall()
	return err
}

// HandleClose passes the close on to the user's handler.
func (e *endpoint) HandleClose(err error) {
	if ch, ok := e.user.(CloseHandler); ok {
		ch.HandleClose(err)
	}
}

func (e *endpoint) afterCall() {
	l := e.c.loop
	l.flushTx()
	if l.rx != nil && l.rx.owner == e && l.rx.next < l.rx.n {
		e.hold()
	}
	if len(e.pending) > 0 {
		// Received but not handed out: no edge will come for them, so
		// the loop must call again, as for a socket still readable.
		e.c.flags |= fReadable
	}
}

// Recv implements PacketConn.Recv.
func (e *endpoint) Recv() (Datagram, error) {
	c, l := e.c, e.c.loop
	if c.flags&fClosed != 0 {
		return Datagram{}, ErrClosed
	}
	if len(e.pending) > 0 {
		h := e.pending[0]
		e.pending = e.pending[1:]
		d := Datagram{Data: e.heldBuf[h.off : h.off+h.n], From: h.from, Received: h.at}
		if len(e.pending) == 0 {
			e.pending, e.heldBuf = nil, nil // the rare case: give the memory back
		}
		e.stats.Received++
		return d, nil
	}
	for {
		if l.rx != nil && l.rx.owner == e && l.rx.next < l.rx.n {
			d, ok := l.rx.take(e)
			if !ok {
				continue // truncated: dropped and counted
			}
			l.spent += len(d.Data) + datagramCost
			e.stats.Received++
			return d, nil
		}
		if c.flags&fReadable == 0 || l.spent >= l.budget {
			return Datagram{}, ErrWouldBlock
		}
		if err := l.receive(e); err != nil {
			return Datagram{}, err
		}
	}
}

// truncated counts and, once per endpoint, logs a datagram that did not fit.
func (e *endpoint) truncated(size int, from netip.AddrPort) {
	e.stats.Truncated++
	if !e.warned {
		e.warned = true
		e.c.loop.log.Warn("reactor: datagram larger than the receive buffer dropped (WithDatagramSize, serve's --datagram-size); further ones on this socket are counted in PacketConn.Stats",
			"endpoint", e.String(), "from", from, "size", size, "buffer", e.c.loop.dgramSize)
	}
}

// hold copies the rest of the loop's batch, which belongs to e, into e: the
// next endpoint served will refill the batch.
func (e *endpoint) hold() {
	rx := e.c.loop.rx
	for rx.next < rx.n {
		d, ok := rx.take(e)
		if !ok {
			continue
		}
		e.pending = append(e.pending, held{off: len(e.heldBuf), n: len(d.Data), from: d.From, at: d.Received})
		e.heldBuf = append(e.heldBuf, d.Data...)
	}
	rx.owner = nil
}

// SendTo implements PacketConn.SendTo.
func (e *endpoint) SendTo(p []byte, to netip.AddrPort) error {
	if e.c.flags&fClosed != 0 {
		return ErrClosed
	}
	if len(p) > maxDatagram {
		return fmt.Errorf("reactor: datagram of %d bytes: over the %d-byte limit", len(p), maxDatagram)
	}
	if to.IsValid() {
		a := to.Addr()
		switch {
		case e.family == unix.AF_INET && a.Is4In6():
			to = netip.AddrPortFrom(a.Unmap(), to.Port())
		case e.family == unix.AF_INET && !a.Is4():
			return fmt.Errorf("reactor: send to %v from an IPv4 socket", to)
		case e.family == unix.AF_INET6 && a.Is4():
			to = netip.AddrPortFrom(netip.AddrFrom16(a.As16()), to.Port())
		}
	}
	e.c.loop.queueTx(e, p, to)
	return nil
}

// dropDgram forgets what the loop's vectors hold for a closing endpoint.
func (l *eventLoop) dropDgram(c *conn) {
	e, _ := c.h.(*endpoint)
	if l.rx != nil && l.rx.owner == e {
		l.rx.owner, l.rx.n, l.rx.next = nil, 0, 0
	}
	l.tx.drop(e)
}

// maxDatagram is the largest UDP payload: 65535 less the IP and UDP headers.
const maxDatagram = 65507

// Close implements PacketConn.Close.
func (e *endpoint) Close() error { return e.c.Close() }

// Wake implements PacketConn.Wake.
func (e *endpoint) Wake() { e.c.Wake() }

// Post implements PacketConn.Post.
func (e *endpoint) Post(fn func()) error { return e.c.Post(fn) }

// Fd implements PacketConn.Fd.
func (e *endpoint) Fd() int { return e.c.Fd() }

// LocalAddr implements PacketConn.LocalAddr.
func (e *endpoint) LocalAddr() net.Addr {
	if e.c.flags&fClosed != 0 {
		return nil
	}
	sa, err := unix.Getsockname(int(e.c.fd))
	if err != nil {
		return nil
	}
	return sockaddr.ToNetUDP(sa)
}

// Stats implements PacketConn.Stats.
func (e *endpoint) Stats() PacketStats { return e.stats }

// String implements PacketConn.String.
func (e *endpoint) String() string {
	return fmt.Sprintf("udp(loop=%d fd=%d gen=%d)", e.c.loop.id, e.c.fd, e.c.gen)
}

// AfterFunc implements Scheduler.
func (e *endpoint) AfterFunc(d time.Duration, f func()) *Timer { return e.c.AfterFunc(d, f) }

// Every implements Scheduler.
func (e *endpoint) Every(d time.Duration, f func()) *Timer { return e.c.Every(d, f) }

// addEndpoint registers a datagram socket and makes its handler. The
// descriptor is closed on failure.
func (l *eventLoop) addEndpoint(fd, family int, f PacketFactory) {
	if l.draining {
		unix.Close(fd)
		return
	}
	c, err := l.register(fd, kindPacket, fWritable)
	if err != nil {
		unix.Close(fd)
		l.log.Error("reactor: datagram socket not registered", "fd", fd, "err", err)
		return
	}
	l.live++
	l.initDgram()
	e := &endpoint{c: c, user: noHandler{}, family: family}
	c.h = e
	l.depth++
	h := f(e)
	l.depth--
	if h != nil {
		e.user = h
	}
	if c.flags&fClosed == 0 && h == nil {
		l.closeConn(c, fmt.Errorf("reactor: packet factory returned no handler"))
	}
	l.reportClosed()
	if c.flags&fClosed == 0 {
		l.schedule(c)
	}
}

// packetSocket makes a non-blocking datagram socket, bound to sa if bind,
// else connected to it.
func packetSocket(domain int, sa unix.Sockaddr, network string, bind, reusePort bool) (int, error) {
	fd, err := newPacketSocket(domain)
	if err != nil {
		return -1, os.NewSyscallError("socket", err)
	}
	fail := func(call string, err error) (int, error) {
		unix.Close(fd)
		return -1, os.NewSyscallError(call, err)
	}
	if err := enableTimestamps(fd); err != nil {
		return fail("setsockopt", err)
	}
	if !bind {
		if err := unix.Connect(fd, sa); err != nil {
			return fail("connect", err)
		}
		return fd, nil
	}
	if reusePort {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
			return fail("setsockopt", err)
		}
	}
	dualStack(fd, sa, network)
	if err := unix.Bind(fd, sa); err != nil {
		return fail("bind", err)
	}
	return fd, nil
}

// ListenPacket implements PacketEngine: one socket per loop, sharing the
// port with SO_REUSEPORT when there are several (the kernel spreads
// senders across them by address).
func (g *group) ListenPacket(network, address string, f PacketFactory) (net.Addr, error) {
	if g.draining.Load() {
		return nil, ErrClosed
	}
	sa, domain, err := resolvePacket(network, address)
	if err != nil {
		return nil, err
	}
	sa, err = g.perLoop(sa,
		func() error { return probeBindPacket(domain, sa, network) },
		func(sa unix.Sockaddr, reuse bool) (int, error) { return packetSocket(domain, sa, network, true, reuse) },
		func(l *eventLoop, fd int) func() { return func() { l.addEndpoint(fd, domain, f) } })
	if err != nil {
		return nil, err
	}
	return sockaddr.ToNetUDP(sa), nil
}

// DialPacket implements PacketEngine: a datagram socket connected to
// address, on one loop (round robin).
func (g *group) DialPacket(network, address string, f PacketFactory) error {
	if g.draining.Load() {
		return ErrClosed
	}
	sa, domain, err := resolvePacket(network, address)
	if err != nil {
		return err
	}
	fd, err := packetSocket(domain, sa, network, false, false)
	if err != nil {
		return err
	}
	l := g.loops[int(g.next.Add(1))%len(g.loops)]
	if err := l.post(func() { l.addEndpoint(fd, domain, f) }); err != nil {
		unix.Close(fd)
		return err
	}
	return nil
}

// probeBindPacket fails if a UDP address is taken, as probeBind for TCP.
func probeBindPacket(domain int, sa unix.Sockaddr, network string) error {
	fd, err := newPacketSocket(domain)
	if err != nil {
		return os.NewSyscallError("socket", err)
	}
	defer unix.Close(fd)
	dualStack(fd, sa, network)
	if err := unix.Bind(fd, sa); err != nil {
		return os.NewSyscallError("bind", err)
	}
	return nil
}

// port is a socket address's port.
func port(sa unix.Sockaddr) int {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return a.Port
	case *unix.SockaddrInet6:
		return a.Port
	}
	return 0
}

// resolvePacket is resolve for "udp", "udp4" and "udp6".
func resolvePacket(network, address string) (unix.Sockaddr, int, error) {
	switch network {
	case "udp", "udp4", "udp6":
	default:
		return nil, 0, fmt.Errorf("%w: network %q", ErrUnsupported, network)
	}
	return resolve("tcp"+network[3:], address)
}
