//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package gnet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"

	"github.com/edgeloop/edgeloop/reactor"
	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"
)

// maxDatagram is the largest UDP payload over IPv4: 65535 less the IP and
// UDP headers. SendTo refuses more, as the native loop does.
const maxDatagram = 65507

// packetBuffer is gnet's read buffer for a datagram engine. gnet reads
// with recvfrom and no MSG_TRUNC, so a datagram cut short looks whole but
// fills the buffer; no UDP payload is this long (65527 bytes at most, IPv6
// jumbograms aside), so one that fills it was cut short and is dropped and
// counted in Truncated.
const packetBuffer = 64 << 10

// packetServer serves a datagram socket: a gnet engine of its own with one
// event loop ("udp://addr"), whose OnTraffic gets one datagram per call.
// gnet makes a short-lived gnet.Conn per datagram, so the handler belongs
// to the endpoint, made once by ListenPacket.
type packetServer struct {
	*server
	ep *endpoint
}

// endpoint adapts a gnet datagram engine to reactor.PacketConn. Its mutex
// serializes the handler's calls: those from OnTraffic on gnet's event
// loop, and those after posted functions and Wake on goroutines of their
// own (gnet gives no way onto its loop before the first datagram).
type endpoint struct {
	s  *server
	mu sync.Mutex
	h  reactor.Handler

	cur  gnet.Conn        // the callback's datagram's conn; nil outside OnTraffic
	from netip.AddrPort   // its sender
	in   reactor.Datagram // the callback's datagram, for Recv
	have bool             // in has not been taken

	sa4      unix.SockaddrInet4 // reused by sendTo: no allocation per datagram
	sa6      unix.SockaddrInet6
	stats    reactor.PacketStats
	warned   bool // a truncated datagram has been logged
	closed   bool
	closeErr error
}

// ListenPacket implements reactor.PacketEngine: a gnet engine with one
// event loop per endpoint (see the package doc). "udp" on ":PORT" is
// dual-stack, and an IPv4 sender appears as an IPv4 address.
func (e *engine) ListenPacket(network, address string, f reactor.PacketFactory) (net.Addr, error) {
	switch network {
	case "udp", "udp4", "udp6":
	default:
		return nil, fmt.Errorf("%w: network %q", reactor.ErrUnsupported, network)
	}
	// gnet sets SO_REUSEPORT on every UDP socket, which would let it join
	// another socket's group on the port: a plain bind first fails with
	// EADDRINUSE if anything holds it, as the native loop's probe does.
	if _, port, err := net.SplitHostPort(address); err == nil && port != "0" {
		pc, err := net.ListenPacket(network, address)
		if err != nil {
			return nil, err
		}
		pc.Close()
	}
	e.mu.Lock()
	if e.draining {
		e.mu.Unlock()
		return nil, reactor.ErrClosed
	}
	s := e.newServer(address)
	s.keepFD = true
	ep := &endpoint{s: s}
	s.onStop = ep.finish
	ep.mu.Lock() // OnTraffic waits for the handler
	err := e.run(s, &packetServer{server: s, ep: ep}, network+"://"+address,
		gnet.WithNumEventLoop(1),
		gnet.WithReadBufferCap(packetBuffer))
	e.mu.Unlock() // before the Factory, which may call the Loop
	if err != nil {
		ep.mu.Unlock()
		return nil, err
	}
	ep.h = f(ep)
	if ep.h == nil && !ep.closed {
		ep.closeWith(errors.New("reactor: packet factory returned no handler"))
	}
	ep.mu.Unlock()
	return s.bound, nil
}

// DialPacket implements reactor.PacketEngine; the gnet backend only serves
// (see the package doc).
func (e *engine) DialPacket(string, string, reactor.PacketFactory) error {
	return fmt.Errorf("%w: the gnet backend serves; dial through gnet.Client instead", reactor.ErrUnsupported)
}

// OnTraffic hands the datagram to the handler. One that arrives while the
// handler does not want input, or that it leaves untaken, is dropped:
// gnet reads every datagram as it comes.
func (ps *packetServer) OnTraffic(gc gnet.Conn) gnet.Action {
	ep := ps.ep
	ep.mu.Lock()
	defer ep.mu.Unlock()
	if ep.closed || ep.h == nil || !ep.h.WantsRecv() {
		return gnet.None
	}
	data, _ := gc.Next(-1) // gnet's read buffer: valid during this call
	from := netip.AddrPort{}
	if ua, ok := gc.RemoteAddr().(*net.UDPAddr); ok {
		from = unmapped(ua.AddrPort())
	}
	if len(data) >= packetBuffer {
		ep.truncated(len(data), from)
		return gnet.None
	}
	ep.cur, ep.from = gc, from
	ep.in, ep.have = reactor.Datagram{Data: data, From: from}, true
	if err := ep.h.HandleRecv(); err != nil {
		ep.closeWith(err)
	}
	ep.pumpSend()
	ep.cur, ep.have, ep.in = nil, false, reactor.Datagram{}
	return gnet.None
}

// pumpSend calls HandleSend while the handler wants to send, at most
// maxRounds times, as the stream adapter does. Called with mu held.
func (ep *endpoint) pumpSend() {
	for i := 0; i < maxRounds && !ep.closed && ep.h != nil && ep.h.WantsSend(); i++ {
		if err := ep.h.HandleSend(); err != nil {
			ep.closeWith(err)
		}
	}
}

// truncated counts and, once per endpoint, logs a datagram that did not fit.
func (ep *endpoint) truncated(n int, from netip.AddrPort) {
	ep.stats.Truncated++
	if !ep.warned {
		ep.warned = true
		ep.s.e.cfg.Logger.Warn("gnet: datagram larger than the receive buffer dropped; further ones are counted in Stats",
			"endpoint", ep.String(), "from", from, "size", n, "buffer", packetBuffer)
	}
}

// unmapped turns an IPv4-mapped IPv6 address into the IPv4 address.
func unmapped(a netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
}

// closeWith closes the endpoint: its gnet engine stops, on a goroutine of
// its own (Engine.Stop polls), and finish tells the handler once gnet.Run
// has returned, after the current call. Called with mu held.
func (ep *endpoint) closeWith(err error) {
	if ep.closed {
		return
	}
	ep.closed, ep.closeErr = true, err
	ep.s.closing.Store(true)
	go ep.s.eng.Stop(context.Background())
}

// finish runs when the endpoint's gnet engine has stopped (Close,
// Shutdown, or the engine dying): it closes the adapter's duplicate of the
// socket and calls HandleClose.
func (ep *endpoint) finish() {
	ep.mu.Lock()
	ep.closed = true
	if ep.s.fd >= 0 {
		unix.Close(ep.s.fd)
		ep.s.fd = -1
	}
	h, err := ep.h, ep.closeErr
	ep.mu.Unlock()
	if ch, ok := h.(reactor.CloseHandler); ok {
		ch.HandleClose(err)
	}
}

// Recv implements reactor.PacketConn: inside OnTraffic, the callback's
// datagram once, then reactor.ErrWouldBlock. Received is zero: gnet does
// not say when the kernel received it.
func (ep *endpoint) Recv() (reactor.Datagram, error) {
	if ep.closed {
		return reactor.Datagram{}, reactor.ErrClosed
	}
	if !ep.have {
		return reactor.Datagram{}, reactor.ErrWouldBlock
	}
	ep.have = false
	ep.stats.Received++
	return ep.in, nil
}

// SendTo implements reactor.PacketConn. gnet cannot batch: each datagram
// is its own sendto, at once. A reply to the sender of the callback's
// datagram goes through gnet's Conn.Write; any other, or one sent outside
// OnTraffic, through the adapter's duplicate of the socket. A datagram the
// kernel refuses (EAGAIN, ENOBUFS, ...) is dropped and counted.
func (ep *endpoint) SendTo(p []byte, to netip.AddrPort) error {
	if ep.closed {
		return reactor.ErrClosed
	}
	if len(p) > maxDatagram {
		return fmt.Errorf("gnet: datagram of %d bytes: over the %d-byte limit", len(p), maxDatagram)
	}
	to = unmapped(to)
	if !to.IsValid() {
		return errors.New("gnet: send to the zero address: the gnet backend does not dial")
	}
	var err error
	if ep.cur != nil && to == ep.from {
		_, err = ep.cur.Write(p)
	} else if err = ep.sendTo(p, to); errors.Is(err, errFamily) {
		return fmt.Errorf("gnet: send to %v: %w", to, err)
	}
	if err != nil {
		ep.stats.Dropped++
		return nil
	}
	ep.stats.Sent++
	return nil
}

// errFamily is sendTo's error for an IPv6 address on an IPv4 socket.
var errFamily = errors.New("an IPv6 address from an IPv4 socket")

// sendTo sends p to to on the adapter's duplicate of the socket, mapping an
// IPv4 address for an IPv6 socket as the native loop does.
func (ep *endpoint) sendTo(p []byte, to netip.AddrPort) error {
	a := to.Addr()
	var sa unix.Sockaddr
	switch {
	case ep.s.family == unix.AF_INET && !a.Is4():
		return errFamily
	case ep.s.family == unix.AF_INET:
		ep.sa4.Addr, ep.sa4.Port = a.As4(), int(to.Port())
		sa = &ep.sa4
	default:
		ep.sa6.Addr, ep.sa6.Port, ep.sa6.ZoneId = a.As16(), int(to.Port()), 0
		sa = &ep.sa6
	}
	if err := unix.Sendto(ep.s.fd, p, 0, sa); err != nil {
		return os.NewSyscallError("sendto", err)
	}
	return nil
}

// Close implements reactor.PacketConn: the engine stops and the socket
// closes; HandleClose follows once the current call has returned.
func (ep *endpoint) Close() error {
	if ep.closed {
		return reactor.ErrClosed
	}
	ep.closeWith(nil)
	return nil
}

// Post implements reactor.PacketConn: fn runs on a goroutine of its own
// under the endpoint's mutex, in step with the handler's calls, and the
// handler is consulted for sending after it.
func (ep *endpoint) Post(fn func()) error {
	go func() {
		ep.mu.Lock()
		defer ep.mu.Unlock()
		fn()
		ep.pumpSend()
	}()
	return nil
}

// Wake implements reactor.PacketConn: the handler is consulted for sending
// on a goroutine of its own. Input comes only with gnet's OnTraffic.
func (ep *endpoint) Wake() { ep.Post(func() {}) }

// Fd implements reactor.PacketConn: the socket is gnet's, so -1.
func (ep *endpoint) Fd() int { return -1 }

// LocalAddr implements reactor.PacketConn.
func (ep *endpoint) LocalAddr() net.Addr { return ep.s.bound }

// Stats implements reactor.PacketConn.
func (ep *endpoint) Stats() reactor.PacketStats { return ep.stats }

// String implements reactor.PacketConn.
func (ep *endpoint) String() string { return fmt.Sprintf("gnet-udp(%v)", ep.s.bound) }
