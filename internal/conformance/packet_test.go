package conformance

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"syscall"
	"testing"
	"time"

	"github.com/edgeloop/edgeloop/protocols/echo"
	"github.com/edgeloop/edgeloop/reactor"
)

// packetWait bounds every wait for a datagram.
const packetWait = 10 * time.Second

// listenUDP serves f on network and address and returns the bound address.
func listenUDP(t *testing.T, l *reactor.Loop, network, address string, f reactor.PacketFactory) *net.UDPAddr {
	t.Helper()
	a, err := l.ListenPacket(network, address, f)
	if err != nil {
		t.Fatalf("ListenPacket(%q, %q): %v", network, address, err)
	}
	ua, ok := a.(*net.UDPAddr)
	if !ok {
		t.Fatalf("ListenPacket returned a %T, want *net.UDPAddr", a)
	}
	return ua
}

// udpClient is a connected UDP socket to addr, closed when the test ends.
// Connected: it hears only from addr, so a reply that reaches it was sent
// to the sender.
func udpClient(t *testing.T, network string, addr *net.UDPAddr) *net.UDPConn {
	t.Helper()
	c, err := net.DialUDP(network, nil, addr)
	if err != nil {
		t.Fatalf("dial %s %v: %v", network, addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// roundTrip sends msg on c and reads one reply, which must be msg.
func roundTrip(c *net.UDPConn, msg []byte) error {
	if _, err := c.Write(msg); err != nil {
		return fmt.Errorf("send %d bytes: %w", len(msg), err)
	}
	c.SetReadDeadline(time.Now().Add(packetWait))
	buf := make([]byte, 64<<10)
	n, err := c.Read(buf)
	if err != nil {
		return fmt.Errorf("reply to %d bytes: %w", len(msg), err)
	}
	if !bytes.Equal(buf[:n], msg) {
		return fmt.Errorf("reply to a %d-byte datagram is %d bytes (%.16q), want the datagram", len(msg), n, buf[:n])
	}
	return nil
}

// senderTap is a PacketConn that offers the sender of each datagram Recv
// returns on froms, so that a test sees what the handler sees.
type senderTap struct {
	reactor.PacketConn
	froms chan netip.AddrPort
}

func (s *senderTap) Recv() (reactor.Datagram, error) {
	d, err := s.PacketConn.Recv()
	if err == nil {
		select {
		case s.froms <- d.From:
		default:
		}
	}
	return d, err
}

// closeTap is a handler that offers the error HandleClose gets on closed.
type closeTap struct {
	reactor.Handler
	closed chan error
}

func (c *closeTap) HandleClose(err error) {
	select {
	case c.closed <- err:
	default:
	}
}

// TestPacketEcho: UDP echo (echo.NewPacket) answers datagrams of 0, 1, 64
// and 1400 bytes with themselves, once each, to the sender.
func TestPacketEcho(t *testing.T) {
	ForEachBackend(t, PacketEcho, func(t *testing.T, backend string) {
		l := NewLoop(t, backend, 2)
		c := udpClient(t, "udp", listenUDP(t, l, "udp", "127.0.0.1:0", echo.NewPacket))
		for i, n := range []int{0, 1, 64, 1400} {
			if err := roundTrip(c, Payload(uint64(i), n)); err != nil {
				t.Fatal(err)
			}
		}
		// A second reply to any of them would come before this one.
		if err := roundTrip(c, []byte("end")); err != nil {
			t.Fatalf("after the sizes (a duplicate reply?): %v", err)
		}
	})
}

// TestPacketBurst: 100 datagrams sent back to back by one client, before
// it reads any reply, are all answered. Loopback with room in the receive
// buffers loses nothing, so a missing reply is the server's.
func TestPacketBurst(t *testing.T) {
	ForEachBackend(t, PacketBurst, func(t *testing.T, backend string) {
		const burst = 100
		l := NewLoop(t, backend, 2)
		c := udpClient(t, "udp", listenUDP(t, l, "udp", "127.0.0.1:0", echo.NewPacket))
		want := make([]string, burst)
		for i := range want {
			want[i] = fmt.Sprintf("burst-%03d", i)
			if _, err := c.Write([]byte(want[i])); err != nil {
				t.Fatalf("send %d: %v", i, err)
			}
		}
		got := make([]string, 0, burst)
		buf := make([]byte, 64)
		c.SetReadDeadline(time.Now().Add(packetWait))
		for len(got) < burst {
			n, err := c.Read(buf)
			if err != nil {
				t.Fatalf("after %d of %d replies: %v", len(got), burst, err)
			}
			got = append(got, string(buf[:n]))
		}
		sort.Strings(got)
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("replies differ from the datagrams sent at %q (got %q)", want[i], got[i])
			}
		}
	})
}

// TestPacketTwoClients: two clients exchanging at once on one endpoint
// each get their own replies and no other's.
func TestPacketTwoClients(t *testing.T) {
	ForEachBackend(t, PacketClients, func(t *testing.T, backend string) {
		const rounds = 200
		l := NewLoop(t, backend, 2)
		addr := listenUDP(t, l, "udp", "127.0.0.1:0", echo.NewPacket)
		clients := []*net.UDPConn{udpClient(t, "udp", addr), udpClient(t, "udp", addr)}
		errs := make(chan error, len(clients))
		for k, c := range clients {
			go func() {
				for i := range rounds {
					if err := roundTrip(c, fmt.Appendf(nil, "client-%d-%d", k, i)); err != nil {
						errs <- fmt.Errorf("client %d, round %d: %w", k, i, err)
						return
					}
				}
				errs <- nil
			}()
		}
		for range clients {
			if err := <-errs; err != nil {
				t.Error(err)
			}
		}
	})
}

// TestPacketDualStack: on "udp" ":0" (IPv6 and IPv4 alike), a datagram
// from an IPv4 client is answered, and the handler sees its sender as an
// IPv4 address, not an IPv4-mapped IPv6 one.
func TestPacketDualStack(t *testing.T) {
	ForEachBackend(t, PacketDualStack, func(t *testing.T, backend string) {
		l := NewLoop(t, backend, 1)
		froms := make(chan netip.AddrPort, 1)
		addr := listenUDP(t, l, "udp", ":0", func(pc reactor.PacketConn) reactor.Handler {
			return echo.NewPacket(&senderTap{PacketConn: pc, froms: froms})
		})
		c := udpClient(t, "udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: addr.Port})
		if err := roundTrip(c, []byte("v4")); err != nil {
			t.Fatal(err)
		}
		var from netip.AddrPort
		select {
		case from = <-froms:
		case <-time.After(packetWait):
			t.Fatal("the handler saw no sender")
		}
		want := c.LocalAddr().(*net.UDPAddr).AddrPort()
		if !from.Addr().Is4() || from != want {
			t.Errorf("IPv4 sender %v seen as %v, want it as an IPv4 address", want, from)
		}
	})
}

// TestPacketShutdown: Shutdown closes an endpoint: its handler hears
// HandleClose(nil), a datagram sent afterwards meets a closed port (the
// client gets ECONNREFUSED, not a reply), the port is free again, and
// ListenPacket after Shutdown fails with ErrClosed.
func TestPacketShutdown(t *testing.T) {
	ForEachBackend(t, PacketShutdown, func(t *testing.T, backend string) {
		l := NewLoop(t, backend, 2)
		closed := make(chan error, 1)
		addr := listenUDP(t, l, "udp", "127.0.0.1:0", func(pc reactor.PacketConn) reactor.Handler {
			return &closeTap{Handler: echo.NewPacket(pc), closed: closed}
		})
		c := udpClient(t, "udp", addr)
		if err := roundTrip(c, []byte("before")); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
		defer cancel()
		if err := l.Shutdown(ctx); err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
		select {
		case err := <-closed:
			if err != nil {
				t.Errorf("HandleClose(%v) at Shutdown, want nil", err)
			}
		case <-time.After(packetWait):
			t.Error("no HandleClose for the endpoint after Shutdown")
		}

		// Loopback answers a datagram to a closed port with an ICMP error,
		// which a connected socket reads as ECONNREFUSED: no waiting for
		// a reply that should not come.
		if _, err := c.Write([]byte("after")); err != nil && !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("send after Shutdown: %v", err)
		}
		c.SetReadDeadline(time.Now().Add(packetWait))
		buf := make([]byte, 64)
		n, err := c.Read(buf)
		switch {
		case err == nil:
			t.Errorf("a datagram after Shutdown was answered with %q", buf[:n])
		case !errors.Is(err, syscall.ECONNREFUSED):
			t.Errorf("read after Shutdown: %v, want ECONNREFUSED (the endpoint's socket still open?)", err)
		}
		if pc, err := net.ListenPacket("udp", addr.String()); err != nil {
			t.Errorf("the port is still held after Shutdown: %v", err)
		} else {
			pc.Close()
		}

		if _, err := l.ListenPacket("udp", "127.0.0.1:0", echo.NewPacket); !errors.Is(err, reactor.ErrClosed) {
			t.Errorf("ListenPacket after Shutdown: %v, want ErrClosed", err)
		}
	})
}

// replyCatcher sends "ping" to its connected peer when made and offers
// each datagram it receives on got.
type replyCatcher struct {
	pc  reactor.PacketConn
	got chan reactor.Datagram
}

func (r *replyCatcher) WantsRecv() bool   { return true }
func (r *replyCatcher) WantsSend() bool   { return false }
func (r *replyCatcher) HandleSend() error { return nil }
func (r *replyCatcher) HandleRecv() error {
	for {
		d, err := r.pc.Recv()
		if errors.Is(err, reactor.ErrWouldBlock) {
			return nil
		}
		if err != nil {
			return err
		}
		d.Data = bytes.Clone(d.Data) // valid only during the call
		select {
		case r.got <- d:
		default:
		}
	}
}

// TestPacketDial: DialPacket makes an endpoint connected to a server; a
// zero address sends to it, and its reply comes back from it.
func TestPacketDial(t *testing.T) {
	ForEachBackend(t, PacketDial, func(t *testing.T, backend string) {
		l := NewLoop(t, backend, 1)
		srv, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
		got := make(chan reactor.Datagram, 1)
		err = l.DialPacket("udp", srv.LocalAddr().String(), func(pc reactor.PacketConn) reactor.Handler {
			if err := pc.SendTo([]byte("ping"), netip.AddrPort{}); err != nil {
				t.Errorf("SendTo the zero address: %v", err)
			}
			return &replyCatcher{pc: pc, got: got}
		})
		if err != nil {
			t.Fatal(err)
		}
		srv.SetDeadline(time.Now().Add(packetWait))
		buf := make([]byte, 16)
		n, from, err := srv.ReadFromUDPAddrPort(buf)
		if err != nil || string(buf[:n]) != "ping" {
			t.Fatalf("server got %q, %v; want ping", buf[:n], err)
		}
		if _, err := srv.WriteToUDPAddrPort([]byte("pong"), from); err != nil {
			t.Fatal(err)
		}
		select {
		case d := <-got:
			if string(d.Data) != "pong" || d.From != srv.LocalAddr().(*net.UDPAddr).AddrPort() {
				t.Errorf("client got %q from %v, want pong from %v", d.Data, d.From, srv.LocalAddr())
			}
		case <-time.After(packetWait):
			t.Fatal("the dialled endpoint got no reply")
		}
	})
}
