package stdnet

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgeloop/edgeloop/reactor"
	"golang.org/x/sys/unix"
)

// maxDatagram is the largest UDP payload over IPv4: 65535 less the IP and
// UDP headers. SendTo refuses more, as the native loop does.
const maxDatagram = 65507

// recvBuffer is an endpoint's receive buffer: larger than any UDP payload,
// over IPv4 (65507 bytes) or IPv6 (65527, jumbograms aside), so nothing is
// cut short in practice. A datagram that still is (recvmsg's MSG_TRUNC) is
// dropped and counted in Truncated, never handed on.
const recvBuffer = 64 << 10

// netEndpoint is a datagram socket of the net backend, run as a stream
// connection is: a goroutine of its own blocks in ReadMsgUDPAddrPort while
// the handler wants input, into a buffer it owns (nothing is allocated per
// datagram), and hands what it read to HandleRecv under the endpoint's
// mutex, which also serializes posted functions. SendTo writes at once.
type netEndpoint struct {
	e      *netEngine
	uc     *net.UDPConn
	dialed bool           // connected: SendTo's zero address is the peer
	peer   netip.AddrPort // the connected peer, if dialed

	mu       sync.Mutex // serializes handler calls and posted functions
	buf, oob []byte
	in       reactor.Datagram // the datagram read last, for Recv
	have     bool             // in has not been taken
	rerr     error            // a receive error for Recv to report
	stats    reactor.PacketStats
	warned   bool // a truncated datagram has been logged
	closed   bool
	closeErr error

	wake   chan struct{} // a posted function may have changed the handler's wants
	shut   atomic.Bool   // Shutdown closed the socket
	forced atomic.Bool   // Shutdown's deadline passed with the handler in a call
}

// ListenPacket implements reactor.PacketEngine: net.ListenPacket and a
// goroutine that runs the handler. "udp" on ":PORT" is dual-stack, and an
// IPv4 sender appears as an IPv4 address.
func (e *netEngine) ListenPacket(network, address string, f reactor.PacketFactory) (net.Addr, error) {
	if err := checkPacketNetwork(network); err != nil {
		return nil, err
	}
	e.mu.Lock()
	draining := e.draining
	e.mu.Unlock()
	if draining {
		return nil, reactor.ErrClosed
	}
	pc, err := net.ListenPacket(network, address)
	if err != nil {
		return nil, err
	}
	uc := pc.(*net.UDPConn)
	if err := e.startEndpoint(uc, false, f); err != nil {
		return nil, err
	}
	return uc.LocalAddr(), nil
}

// DialPacket implements reactor.PacketEngine: net.Dial, then the same
// goroutine as ListenPacket's. A UDP connect sends nothing, so it is done
// before DialPacket returns.
func (e *netEngine) DialPacket(network, address string, f reactor.PacketFactory) error {
	if err := checkPacketNetwork(network); err != nil {
		return err
	}
	e.mu.Lock()
	draining := e.draining
	e.mu.Unlock()
	if draining {
		return reactor.ErrClosed
	}
	c, err := net.Dial(network, address)
	if err != nil {
		return err
	}
	return e.startEndpoint(c.(*net.UDPConn), true, f)
}

// checkPacketNetwork accepts the networks the native loop's ListenPacket
// accepts.
func checkPacketNetwork(network string) error {
	switch network {
	case "udp", "udp4", "udp6":
		return nil
	}
	return fmt.Errorf("%w: network %q", reactor.ErrUnsupported, network)
}

// startEndpoint runs uc's goroutine; it closes uc if the engine is draining.
func (e *netEngine) startEndpoint(uc *net.UDPConn, dialed bool, f reactor.PacketFactory) error {
	ep := &netEndpoint{e: e, uc: uc, dialed: dialed, wake: make(chan struct{}, 1)}
	if dialed {
		ep.peer = unmapped(uc.RemoteAddr().(*net.UDPAddr).AddrPort())
	}
	if err := enableTimestamps(uc); err != nil {
		uc.Close()
		return err
	}
	e.mu.Lock()
	if e.draining {
		e.mu.Unlock()
		uc.Close()
		return reactor.ErrClosed
	}
	e.eps[ep] = struct{}{}
	e.wg.Add(1)
	e.mu.Unlock()
	go ep.run(f)
	return nil
}

// run is the endpoint's goroutine: it makes the handler, then reads while
// the handler wants input and waits for a posted function otherwise.
func (ep *netEndpoint) run(f reactor.PacketFactory) {
	defer ep.e.wg.Done()
	ep.buf = make([]byte, recvBuffer)
	ep.oob = make([]byte, oobSpace)
	ep.mu.Lock()
	h := f(ep)
	ep.mu.Unlock()
	if h == nil {
		ep.finish(nil, errors.New("reactor: packet factory returned no handler"))
		return
	}
	for {
		ep.mu.Lock()
		err := ep.turn(h)
		closed := ep.closed
		wantsRecv := !closed && err == nil && h.WantsRecv()
		wantsSend := !closed && err == nil && h.WantsSend()
		pending := ep.have || ep.rerr != nil
		ep.mu.Unlock()
		switch {
		case err != nil || closed || ep.shut.Load():
			ep.finish(h, err)
			return
		case wantsRecv && pending:
			// The handler returned without taking the datagram: it is
			// called again, as the native loop calls again for a held one.
		case wantsRecv:
			ep.receive()
		case !wantsSend:
			<-ep.wake // nothing to do until a posted function changes that
		}
	}
}

// turn calls the handler until it wants nothing it can have right now.
// Called with mu held.
func (ep *netEndpoint) turn(h reactor.Handler) error {
	for !ep.closed {
		did := false
		if (ep.have || ep.rerr != nil) && h.WantsRecv() {
			if err := h.HandleRecv(); err != nil {
				return err
			}
			if ep.have || ep.rerr != nil {
				return nil // not taken: run calls again, letting posted functions in
			}
			did = true
		}
		if !ep.closed && h.WantsSend() {
			did = true
			if err := h.HandleSend(); err != nil {
				return err
			}
		}
		if !did {
			return nil
		}
	}
	return nil
}

// receive blocks for the next datagram and keeps it for Recv.
func (ep *netEndpoint) receive() {
	n, oobn, flags, from, err := ep.uc.ReadMsgUDPAddrPort(ep.buf, ep.oob)
	if isTimeout(err) {
		ep.uc.SetReadDeadline(time.Time{}) // a kick, not a failure
		return
	}
	ep.mu.Lock()
	defer ep.mu.Unlock()
	switch {
	case errors.Is(err, net.ErrClosed):
		ep.closed = true // by Close or Shutdown; run finishes
	case err != nil:
		// An ICMP error on a connected socket (ECONNREFUSED), say: the next
		// Recv reports it, as on the native loop; the socket stays open.
		ep.rerr = err
	case flags&unix.MSG_TRUNC != 0:
		ep.truncated(n, from)
	default:
		ep.in = reactor.Datagram{Data: ep.buf[:n], From: unmapped(from), Received: timestamp(ep.oob[:oobn])}
		ep.have = true
	}
}

// truncated counts and, once per endpoint, logs a datagram that did not fit.
func (ep *netEndpoint) truncated(n int, from netip.AddrPort) {
	ep.stats.Truncated++
	if !ep.warned {
		ep.warned = true
		ep.e.log.Warn("stdnet: datagram larger than the receive buffer dropped; further ones are counted in Stats",
			"endpoint", ep.String(), "from", unmapped(from), "size", n, "buffer", len(ep.buf))
	}
}

// unmapped turns an IPv4-mapped IPv6 address into the IPv4 address.
func unmapped(a netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
}

// finish closes the socket and tells the handler.
func (ep *netEndpoint) finish(h reactor.Handler, err error) {
	ep.mu.Lock()
	if !ep.closed {
		ep.closed = true
		ep.closeErr = err
	} else if err != nil && ep.closeErr == nil {
		ep.closeErr = err
	}
	if ep.forced.Load() {
		ep.closeErr = reactor.ErrShutdown
	}
	ep.uc.Close()
	cerr := ep.closeErr
	ep.mu.Unlock()
	ep.e.mu.Lock()
	delete(ep.e.eps, ep)
	ep.e.mu.Unlock()
	if ch, ok := h.(reactor.CloseHandler); ok && h != nil {
		ch.HandleClose(cerr)
	}
}

// shutdown closes the socket for Shutdown; the goroutine finishes with nil
// for HandleClose, as on the native loop.
func (ep *netEndpoint) shutdown() {
	ep.shut.Store(true)
	ep.uc.Close() // ends a blocking read
	ep.kick()
}

// Recv implements reactor.PacketConn: the datagram the goroutine read last,
// once, then reactor.ErrWouldBlock until the next. Its Data is valid until
// the handler call returns.
func (ep *netEndpoint) Recv() (reactor.Datagram, error) {
	if ep.closed {
		return reactor.Datagram{}, reactor.ErrClosed
	}
	if ep.have {
		ep.have = false
		ep.stats.Received++
		return ep.in, nil
	}
	if ep.rerr != nil {
		err := ep.rerr
		ep.rerr = nil
		return reactor.Datagram{}, err
	}
	return reactor.Datagram{}, reactor.ErrWouldBlock
}

// SendTo implements reactor.PacketConn. It writes at once, so nothing is
// ever queued: it counts Sent, or Dropped for a datagram the kernel
// refuses (ENOBUFS, an earlier ICMP error, ...). A zero to is the
// connected peer; a dialled endpoint sends only to its peer (package net
// refuses another address on a connected socket).
func (ep *netEndpoint) SendTo(p []byte, to netip.AddrPort) error {
	if ep.closed || ep.shut.Load() {
		return reactor.ErrClosed
	}
	if len(p) > maxDatagram {
		return fmt.Errorf("stdnet: datagram of %d bytes: over the %d-byte limit", len(p), maxDatagram)
	}
	to = unmapped(to) // package net maps it back for an IPv6 socket
	var err error
	switch {
	case ep.dialed && (!to.IsValid() || to == ep.peer):
		_, err = ep.uc.Write(p)
	case !to.IsValid():
		return errors.New("stdnet: send to the zero address from an endpoint that is not dialled")
	default:
		_, err = ep.uc.WriteToUDPAddrPort(p, to)
	}
	switch {
	case err == nil:
		ep.stats.Sent++
	case errors.Is(err, net.ErrClosed):
		return reactor.ErrClosed
	case aboutAddress(err):
		return err // about to: the wrong family, or not the peer
	default:
		ep.stats.Dropped++ // refused, as the network would drop it
	}
	return nil
}

// aboutAddress reports whether a send failed for its address, not for
// the network. A function of its own: the target of errors.As escapes,
// and SendTo allocates nothing.
func aboutAddress(err error) bool {
	var addrErr *net.AddrError
	return errors.As(err, &addrErr) || errors.Is(err, net.ErrWriteToConnected)
}

// Close implements reactor.PacketConn: the socket closes now, and
// HandleClose follows once the current call has returned.
func (ep *netEndpoint) Close() error {
	if ep.closed {
		return reactor.ErrClosed
	}
	ep.closed = true
	ep.uc.Close() // ends a blocking read; run finishes
	ep.kick()
	return nil
}

// Wake implements reactor.PacketConn: the goroutine consults the handler
// again. It is safe from any goroutine.
func (ep *netEndpoint) Wake() { ep.kick() }

// Post implements reactor.PacketConn: fn runs on a goroutine of its own
// under the endpoint's mutex, in step with the handler's calls, as
// Conn.Post does on this backend; the handler is consulted after it.
func (ep *netEndpoint) Post(fn func()) error {
	go func() {
		ep.mu.Lock()
		fn()
		ep.mu.Unlock()
		ep.kick()
	}()
	return nil
}

// kick makes the goroutine look at its handler again: it ends a blocking
// read with an immediate deadline. It must not take mu.
func (ep *netEndpoint) kick() {
	select {
	case ep.wake <- struct{}{}:
	default:
	}
	ep.uc.SetReadDeadline(time.Now())
}

// Fd implements reactor.PacketConn: the socket belongs to package net, so -1.
func (ep *netEndpoint) Fd() int { return -1 }

// LocalAddr implements reactor.PacketConn.
func (ep *netEndpoint) LocalAddr() net.Addr { return ep.uc.LocalAddr() }

// Stats implements reactor.PacketConn.
func (ep *netEndpoint) Stats() reactor.PacketStats { return ep.stats }

// String implements reactor.PacketConn.
func (ep *netEndpoint) String() string {
	if ep.dialed {
		return fmt.Sprintf("net-udp(%v->%v)", ep.uc.LocalAddr(), ep.peer)
	}
	return fmt.Sprintf("net-udp(%v)", ep.uc.LocalAddr())
}
