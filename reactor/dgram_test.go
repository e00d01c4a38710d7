package reactor_test

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/edgeloop/edgeloop/reactor"
)

// udpEcho answers each datagram with itself. With perCall > 0 it takes
// only that many per HandleRecv, leaving the rest of a received batch for
// the next call.
type udpEcho struct {
	pc      reactor.PacketConn
	perCall int
	stamps  chan time.Time
	closed  bool // WantsRecv false: datagrams queue up in the kernel
}

func (u *udpEcho) WantsRecv() bool   { return !u.closed }
func (u *udpEcho) WantsSend() bool   { return false }
func (u *udpEcho) HandleSend() error { return nil }
func (u *udpEcho) HandleRecv() error {
	for i := 0; u.perCall == 0 || i < u.perCall; i++ {
		d, err := u.pc.Recv()
		if err == reactor.ErrWouldBlock {
			return nil
		}
		if err != nil {
			return err
		}
		if u.stamps != nil {
			select {
			case u.stamps <- d.Received:
			default:
			}
		}
		if err := u.pc.SendTo(d.Data, d.From); err != nil {
			return err
		}
	}
	return nil
}

// listenUDP serves udpEcho on 127.0.0.1:0 and returns its address and a
// channel that gets the handler once made.
func listenUDP(t *testing.T, l *reactor.Loop, network, addr string, mk func(pc reactor.PacketConn) *udpEcho) (net.Addr, chan *udpEcho) {
	t.Helper()
	made := make(chan *udpEcho, 1)
	a, err := l.ListenPacket(network, addr, func(pc reactor.PacketConn) reactor.Handler {
		u := mk(pc)
		made <- u
		return u
	})
	if err != nil {
		t.Fatal(err)
	}
	return a, made
}

func udpClient(t *testing.T, addr net.Addr) *net.UDPConn {
	t.Helper()
	uc, err := net.DialUDP("udp", nil, addr.(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	uc.SetDeadline(time.Now().Add(waitTimeout))
	t.Cleanup(func() { uc.Close() })
	return uc
}

// TestUDPEcho: datagrams of every size up to the receive slot come back
// whole, one reply per request, to the sender.
func TestUDPEcho(t *testing.T) {
	forPollers(t, func(t *testing.T, b string) {
		l := newLoop(t, b)
		addr, _ := listenUDP(t, l, "udp", "127.0.0.1:0", func(pc reactor.PacketConn) *udpEcho { return &udpEcho{pc: pc} })
		uc := udpClient(t, addr)
		buf := make([]byte, 4096)
		for _, n := range []int{0, 1, 64, 1000, 2048} {
			msg := bytes.Repeat([]byte{byte(n)}, n)
			if _, err := uc.Write(msg); err != nil {
				t.Fatal(err)
			}
			k, err := uc.Read(buf)
			if err != nil {
				t.Fatalf("%d-byte datagram: %v", n, err)
			}
			if !bytes.Equal(buf[:k], msg) {
				t.Fatalf("%d-byte datagram came back as %d bytes", n, k)
			}
		}
	})
}

// TestUDPBurstAllAnswered: a burst of more datagrams than one recvmmsg
// takes must all be answered. A batch that came back full does not mean
// the socket is drained; treating it so would stall the rest until the
// next datagram arrives (edge-triggered, no new edge). Two endpoints on one
// loop, each taking one datagram per call, also check that the batch one
// leaves unfinished is kept for it, not lost or handed to the other.
func TestUDPBurstAllAnswered(t *testing.T) {
	for _, perCall := range []int{0, 1} {
		t.Run(fmt.Sprintf("perCall=%d", perCall), func(t *testing.T) {
			forPollers(t, func(t *testing.T, b string) {
				l := newLoop(t, b)
				mk := func(pc reactor.PacketConn) *udpEcho { return &udpEcho{pc: pc, perCall: perCall} }
				a1, m1 := listenUDP(t, l, "udp", "127.0.0.1:0", mk)
				a2, m2 := listenUDP(t, l, "udp", "127.0.0.1:0", mk)
				// The handlers hold their input back until the whole burst is
				// queued, so that no datagram arriving later makes a new edge.
				us := []*udpEcho{recv(t, m1, "handler 1"), recv(t, m2, "handler 2")}
				for _, u := range us {
					onPacketLoop(t, u.pc, func() { u.closed = true })
				}
				const burst = 150 // well within the default receive buffer
				c1, c2 := udpClient(t, a1), udpClient(t, a2)
				for i := 0; i < burst; i++ {
					for _, c := range []*net.UDPConn{c1, c2} {
						if _, err := c.Write([]byte(fmt.Sprintf("%s-%d", c.RemoteAddr(), i))); err != nil {
							t.Fatal(err)
						}
					}
				}
				syncLoop(t, l) // the edges have been seen
				for _, u := range us {
					onPacketLoop(t, u.pc, func() { u.closed = false; u.pc.Wake() })
				}
				for _, c := range []*net.UDPConn{c1, c2} {
					buf := make([]byte, 100)
					for i := 0; i < burst; i++ {
						k, err := c.Read(buf)
						if err != nil {
							t.Fatalf("reply %d of %d: %v (a full batch taken as drained?)", i, burst, err)
						}
						if want := fmt.Sprintf("%s-%d", c.RemoteAddr(), i); string(buf[:k]) != want {
							t.Fatalf("reply %d is %q, want %q", i, buf[:k], want)
						}
					}
				}
			})
		})
	}
}

// TestUDPTruncatedDropped: a datagram larger than WithDatagramSize is
// dropped and counted, never passed on cut short; the next one is served.
func TestUDPTruncatedDropped(t *testing.T) {
	forPollers(t, func(t *testing.T, b string) {
		l := newLoop(t, b, reactor.WithDatagramSize(100))
		addr, made := listenUDP(t, l, "udp", "127.0.0.1:0", func(pc reactor.PacketConn) *udpEcho { return &udpEcho{pc: pc} })
		u := recv(t, made, "the handler")
		uc := udpClient(t, addr)
		uc.Write(make([]byte, 101))
		uc.Write([]byte("small"))
		buf := make([]byte, 200)
		k, err := uc.Read(buf)
		if err != nil || string(buf[:k]) != "small" {
			t.Fatalf("first reply %q, %v; want only the small datagram's", buf[:k], err)
		}
		var st reactor.PacketStats
		onPacketLoop(t, u.pc, func() { st = u.pc.Stats() })
		if st.Truncated != 1 || st.Received != 1 {
			t.Errorf("stats %+v, want 1 truncated and 1 received", st)
		}
	})
}

// TestUDPReceiveTimestamp: on Linux a datagram carries the kernel's
// receive time.
func TestUDPReceiveTimestamp(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("SO_TIMESTAMPNS is Linux's; elsewhere Received is zero by design")
	}
	forPollers(t, func(t *testing.T, b string) {
		l := newLoop(t, b)
		stamps := make(chan time.Time, 1)
		addr, _ := listenUDP(t, l, "udp", "127.0.0.1:0", func(pc reactor.PacketConn) *udpEcho { return &udpEcho{pc: pc, stamps: stamps} })
		uc := udpClient(t, addr)
		before := time.Now()
		uc.Write([]byte("x"))
		got := recv(t, stamps, "the receive time")
		if got.IsZero() || got.Before(before.Add(-time.Millisecond)) || got.After(time.Now()) {
			t.Errorf("receive time %v, want between %v and now", got, before)
		}
	})
}

// TestUDPDualStack: on ":0" ("udp"), an IPv4 sender is an IPv4 address,
// and the reply reaches it.
func TestUDPDualStack(t *testing.T) {
	forPollers(t, func(t *testing.T, b string) {
		l := newLoop(t, b)
		froms := make(chan netip.AddrPort, 1)
		addr, err := l.ListenPacket("udp", ":0", func(pc reactor.PacketConn) reactor.Handler {
			return &fromRecorder{udpEcho{pc: pc}, froms}
		})
		if err != nil {
			t.Fatal(err)
		}
		port := addr.(*net.UDPAddr).Port
		uc := udpClient(t, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
		uc.Write([]byte("v4"))
		buf := make([]byte, 10)
		if k, err := uc.Read(buf); err != nil || string(buf[:k]) != "v4" {
			t.Fatalf("reply %q, %v", buf[:k], err)
		}
		if from := recv(t, froms, "the sender"); !from.Addr().Is4() {
			t.Errorf("IPv4 sender seen as %v, want an IPv4 address", from)
		}
	})
}

type fromRecorder struct {
	udpEcho
	froms chan netip.AddrPort
}

func (f *fromRecorder) HandleRecv() error {
	for {
		d, err := f.pc.Recv()
		if err != nil {
			if errors.Is(err, reactor.ErrWouldBlock) {
				return nil
			}
			return err
		}
		select {
		case f.froms <- d.From:
		default:
		}
		f.pc.SendTo(d.Data, d.From)
	}
}

// TestUDPSendFromTimer: a datagram queued outside a handler call, by a
// timer, leaves at the end of the turn.
func TestUDPSendFromTimer(t *testing.T) {
	forPollers(t, func(t *testing.T, b string) {
		l := newLoop(t, b)
		uc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		defer uc.Close()
		to := uc.LocalAddr().(*net.UDPAddr).AddrPort()
		_, err = l.ListenPacket("udp", "127.0.0.1:0", func(pc reactor.PacketConn) reactor.Handler {
			pc.(reactor.Scheduler).AfterFunc(5*time.Millisecond, func() { pc.SendTo([]byte("tick"), to) })
			return idleHandler{}
		})
		if err != nil {
			t.Fatal(err)
		}
		uc.SetDeadline(time.Now().Add(waitTimeout))
		buf := make([]byte, 10)
		if k, _, err := uc.ReadFromUDP(buf); err != nil || string(buf[:k]) != "tick" {
			t.Fatalf("got %q, %v; want the timer's datagram", buf[:k], err)
		}
	})
}

// TestDialPacket: a connected datagram endpoint sends with a zero address
// and hears its peer.
func TestDialPacket(t *testing.T) {
	forPollers(t, func(t *testing.T, b string) {
		l := newLoop(t, b)
		srv, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
		got := make(chan string, 1)
		err = l.DialPacket("udp", srv.LocalAddr().String(), func(pc reactor.PacketConn) reactor.Handler {
			pc.SendTo([]byte("ping"), netip.AddrPort{})
			return &replyCatcher{pc: pc, got: got}
		})
		if err != nil {
			t.Fatal(err)
		}
		srv.SetDeadline(time.Now().Add(waitTimeout))
		buf := make([]byte, 10)
		k, from, err := srv.ReadFromUDP(buf)
		if err != nil || string(buf[:k]) != "ping" {
			t.Fatalf("server got %q, %v", buf[:k], err)
		}
		srv.WriteToUDP([]byte("pong"), from)
		if s := recv(t, got, "the reply"); s != "pong" {
			t.Errorf("client got %q", s)
		}
	})
}

type replyCatcher struct {
	pc  reactor.PacketConn
	got chan string
}

func (r *replyCatcher) WantsRecv() bool   { return true }
func (r *replyCatcher) WantsSend() bool   { return false }
func (r *replyCatcher) HandleSend() error { return nil }
func (r *replyCatcher) HandleRecv() error {
	for {
		d, err := r.pc.Recv()
		if err != nil {
			if errors.Is(err, reactor.ErrWouldBlock) {
				return nil
			}
			return err
		}
		r.got <- string(d.Data)
	}
}

// onPacketLoop runs fn on pc's loop goroutine and waits for it.
func onPacketLoop(t *testing.T, pc reactor.PacketConn, fn func()) {
	t.Helper()
	done := make(chan struct{})
	if err := pc.Post(func() { fn(); close(done) }); err != nil {
		t.Fatal(err)
	}
	recv(t, done, "a Post to the endpoint's loop")
}

// udpCounter counts datagrams and answers none: with no sends there are no
// write-space edges either, which on epoll report the read side again and
// could hide a batch wrongly taken as drained.
type udpCounter struct {
	pc     reactor.PacketConn
	n      int
	closed bool
}

func (u *udpCounter) WantsRecv() bool   { return !u.closed }
func (u *udpCounter) WantsSend() bool   { return false }
func (u *udpCounter) HandleSend() error { return nil }
func (u *udpCounter) HandleRecv() error {
	for {
		_, err := u.pc.Recv()
		if err == reactor.ErrWouldBlock {
			return nil
		}
		if err != nil {
			return err
		}
		u.n++
	}
}

// TestUDPFullBatchIsNotDrained: a burst queued before the endpoint reads
// is received whole, although no datagram arrives after the first read.
func TestUDPFullBatchIsNotDrained(t *testing.T) {
	forPollers(t, func(t *testing.T, b string) {
		l := newLoop(t, b)
		made := make(chan *udpCounter, 1)
		addr, err := l.ListenPacket("udp", "127.0.0.1:0", func(pc reactor.PacketConn) reactor.Handler {
			u := &udpCounter{pc: pc, closed: true}
			made <- u
			return u
		})
		if err != nil {
			t.Fatal(err)
		}
		u := recv(t, made, "the handler")
		uc := udpClient(t, addr)
		const burst = 150
		for i := 0; i < burst; i++ {
			if _, err := uc.Write([]byte("x")); err != nil {
				t.Fatal(err)
			}
		}
		syncLoop(t, l)
		onPacketLoop(t, u.pc, func() { u.closed = false; u.pc.Wake() })
		deadline := time.Now().Add(2 * time.Second)
		for {
			var n int
			onPacketLoop(t, u.pc, func() { n = u.n })
			if n == burst {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("received %d of %d queued datagrams: a full batch was taken as drained", n, burst)
			}
			time.Sleep(time.Millisecond) // polling a count, with a deadline
		}
	})
}
