//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package gnet_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/edgeloop/edgeloop/backend/gnet"
	"github.com/edgeloop/edgeloop/protocols/echo"
	"github.com/edgeloop/edgeloop/reactor"
	"go.uber.org/goleak"
	"golang.org/x/sys/unix"
)

// wait bounds every wait in these tests.
const wait = 10 * time.Second

// newLoop starts a Loop on the gnet backend, shut down when the test ends.
func newLoop(t *testing.T, opts ...reactor.Option) *reactor.Loop {
	t.Helper()
	l, err := reactor.New(append([]reactor.Option{reactor.WithEngine(gnet.Engine)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { shutdown(t, l) })
	return l
}

func shutdown(t *testing.T, l *reactor.Loop) {
	t.Helper()
	select {
	case <-l.Done():
		return
	default:
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := l.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

// client is a UDP socket connected to addr.
func client(t *testing.T, addr net.Addr) *net.UDPConn {
	t.Helper()
	c, err := net.DialUDP("udp", nil, addr.(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(wait))
	t.Cleanup(func() { c.Close() })
	return c
}

func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(wait):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// relay calls Recv twice per HandleRecv, reports both results, and sends
// the datagram to both its sender and a third party.
type relay struct {
	pc      reactor.PacketConn
	third   netip.AddrPort
	results chan [2]error
}

func (h *relay) WantsRecv() bool   { return true }
func (h *relay) WantsSend() bool   { return false }
func (h *relay) HandleSend() error { return nil }
func (h *relay) HandleRecv() error {
	d, err1 := h.pc.Recv()
	_, err2 := h.pc.Recv()
	h.results <- [2]error{err1, err2}
	if err1 != nil {
		return nil
	}
	if err := h.pc.SendTo(d.Data, d.From); err != nil {
		return err
	}
	return h.pc.SendTo(d.Data, h.third)
}

// TestRecvOnceAndSendTo: Recv returns the callback's datagram once, then
// ErrWouldBlock; SendTo reaches the sender (gnet's Conn.Write), a third
// address (the adapter's socket), and from a posted function, outside any
// callback; Stats counts all of it.
func TestRecvOnceAndSendTo(t *testing.T) {
	l := newLoop(t)
	third, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer third.Close()
	third.SetDeadline(time.Now().Add(wait))
	results := make(chan [2]error, 4)
	pcs := make(chan reactor.PacketConn, 1)
	addr, err := l.ListenPacket("udp", "127.0.0.1:0", func(pc reactor.PacketConn) reactor.Handler {
		pcs <- pc
		return &relay{pc: pc, third: third.LocalAddr().(*net.UDPAddr).AddrPort(), results: results}
	})
	if err != nil {
		t.Fatal(err)
	}
	pc := recv(t, pcs, "the endpoint")
	c := client(t, addr)
	c.Write([]byte("x"))
	buf := make([]byte, 8)
	if n, err := c.Read(buf); err != nil || string(buf[:n]) != "x" {
		t.Fatalf("reply to the sender %q, %v", buf[:n], err)
	}
	if n, _, err := third.ReadFromUDP(buf); err != nil || string(buf[:n]) != "x" {
		t.Fatalf("copy to the third address %q, %v", buf[:n], err)
	}
	if r := recv(t, results, "the handler call"); r[0] != nil || !errors.Is(r[1], reactor.ErrWouldBlock) {
		t.Errorf("Recv, Recv = %v, %v; want the datagram, then ErrWouldBlock", r[0], r[1])
	}

	to := c.LocalAddr().(*net.UDPAddr).AddrPort()
	stats := make(chan reactor.PacketStats, 1)
	pc.Post(func() {
		if err := pc.SendTo([]byte("posted"), to); err != nil {
			t.Errorf("SendTo from a posted function: %v", err)
		}
		stats <- pc.Stats()
	})
	if n, err := c.Read(buf); err != nil || string(buf[:n]) != "posted" {
		t.Fatalf("datagram from a posted function %q, %v", buf[:n], err)
	}
	if st := recv(t, stats, "the stats"); st.Received != 1 || st.Sent != 3 || st.Dropped != 0 {
		t.Errorf("stats %+v, want 1 received and 3 sent", st)
	}
}

// closer closes its endpoint on the first datagram and reports
// HandleClose.
type closer struct {
	pc     reactor.PacketConn
	closed chan error
	inCall bool
}

func (h *closer) WantsRecv() bool   { return true }
func (h *closer) WantsSend() bool   { return false }
func (h *closer) HandleSend() error { return nil }
func (h *closer) HandleRecv() error {
	h.inCall = true
	defer func() { h.inCall = false }()
	if _, err := h.pc.Recv(); err != nil {
		return nil
	}
	return h.pc.Close()
}
func (h *closer) HandleClose(err error) {
	if h.inCall {
		err = errors.New("HandleClose inside the call that closed")
	}
	h.closed <- err
}

// TestCloseFromHandler: an endpoint its handler closes hears HandleClose
// after the call, with nil; its port is free, and the Loop, whose engine
// for it stopped on purpose, serves on: it is not taken for a dead engine.
func TestCloseFromHandler(t *testing.T) {
	l := newLoop(t)
	closed := make(chan error, 1)
	addr, err := l.ListenPacket("udp", "127.0.0.1:0", func(pc reactor.PacketConn) reactor.Handler {
		return &closer{pc: pc, closed: closed}
	})
	if err != nil {
		t.Fatal(err)
	}
	client(t, addr).Write([]byte("close"))
	if err := recv(t, closed, "HandleClose"); err != nil {
		t.Errorf("HandleClose(%v), want nil", err)
	}
	pc, err := net.ListenPacket("udp", addr.String())
	if err != nil {
		t.Fatalf("the port is still held after Close: %v", err)
	}
	pc.Close()
	if err := l.Err(); err != nil {
		t.Errorf("Loop.Err after an endpoint closed: %v", err)
	}
	addr2, err := l.ListenPacket("udp", "127.0.0.1:0", echo.NewPacket)
	if err != nil {
		t.Fatal(err)
	}
	c := client(t, addr2)
	c.Write([]byte("still"))
	buf := make([]byte, 8)
	if n, err := c.Read(buf); err != nil || string(buf[:n]) != "still" {
		t.Fatalf("another endpoint after the close: %q, %v", buf[:n], err)
	}
}

// TestListenPacketPortInUse: gnet sets SO_REUSEPORT on UDP sockets; a
// port another SO_REUSEPORT socket holds must still be refused, not
// shared.
func TestListenPacketPortInUse(t *testing.T) {
	l := newLoop(t)
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		rc.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1) })
		return serr
	}}
	held, err := lc.ListenPacket(context.Background(), "udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	_, err = l.ListenPacket("udp", held.LocalAddr().String(), echo.NewPacket)
	if !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("ListenPacket on a held port: %v, want EADDRINUSE", err)
	}
}

// TestDialPacketUnsupported: the gnet backend only serves.
func TestDialPacketUnsupported(t *testing.T) {
	l := newLoop(t)
	err := l.DialPacket("udp", "127.0.0.1:9", echo.NewPacket)
	if !errors.Is(err, reactor.ErrUnsupported) {
		t.Errorf("DialPacket: %v, want ErrUnsupported", err)
	}
}

// TestNoLeaksWithEndpoints: after Shutdown, the endpoints' gnet engines,
// their goroutines and the adapter's descriptors are gone.
func TestNoLeaksWithEndpoints(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	l, err := reactor.New(reactor.WithEngine(gnet.Engine), reactor.WithIdleTimeout(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	var addrs []net.Addr
	for range 2 {
		a, err := l.ListenPacket("udp", "127.0.0.1:0", echo.NewPacket)
		if err != nil {
			t.Fatal(err)
		}
		addrs = append(addrs, a)
	}
	if _, err := l.Listen("tcp", "127.0.0.1:0", echo.New); err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		c := client(t, a)
		c.Write([]byte("hi"))
		buf := make([]byte, 8)
		if n, err := c.Read(buf); err != nil || string(buf[:n]) != "hi" {
			t.Fatalf("echo from %v: %q, %v", a, buf[:n], err)
		}
	}
	shutdown(t, l)
	for _, a := range addrs {
		pc, err := net.ListenPacket("udp", a.String())
		if err != nil {
			t.Errorf("port of %v held after Shutdown: %v", a, err)
			continue
		}
		pc.Close()
	}
	goleak.VerifyNone(t, ignore)
}
