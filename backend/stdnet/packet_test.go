package stdnet_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/edgeloop/edgeloop/backend/stdnet"
	"github.com/edgeloop/edgeloop/protocols/echo"
	"github.com/edgeloop/edgeloop/reactor"
	"go.uber.org/goleak"
)

// wait bounds every wait in these tests.
const wait = 10 * time.Second

// newLoop starts a Loop on the net backend, shut down when the test ends.
func newLoop(t *testing.T, opts ...reactor.Option) *reactor.Loop {
	t.Helper()
	l, err := reactor.New(append([]reactor.Option{reactor.WithEngine(stdnet.Engine)}, opts...)...)
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

// twice calls Recv twice per HandleRecv and reports both results, then
// echoes the datagram.
type twice struct {
	pc      reactor.PacketConn
	results chan [2]error
	stamps  chan time.Time
}

func (h *twice) WantsRecv() bool   { return true }
func (h *twice) WantsSend() bool   { return false }
func (h *twice) HandleSend() error { return nil }
func (h *twice) HandleRecv() error {
	d, err1 := h.pc.Recv()
	_, err2 := h.pc.Recv()
	h.results <- [2]error{err1, err2}
	if err1 != nil {
		return nil
	}
	h.stamps <- d.Received
	return h.pc.SendTo(d.Data, d.From)
}

// TestRecvOnce: Recv returns the datagram just read once, then
// ErrWouldBlock; Stats counts it, and its reply; on Linux it carries the
// kernel's receive time.
func TestRecvOnce(t *testing.T) {
	l := newLoop(t)
	results := make(chan [2]error, 4)
	stamps := make(chan time.Time, 4)
	pcs := make(chan reactor.PacketConn, 1)
	addr, err := l.ListenPacket("udp", "127.0.0.1:0", func(pc reactor.PacketConn) reactor.Handler {
		pcs <- pc
		return &twice{pc: pc, results: results, stamps: stamps}
	})
	if err != nil {
		t.Fatal(err)
	}
	pc := recv(t, pcs, "the endpoint")
	c := client(t, addr)
	before := time.Now()
	c.Write([]byte("x"))
	buf := make([]byte, 8)
	if n, err := c.Read(buf); err != nil || string(buf[:n]) != "x" {
		t.Fatalf("reply %q, %v", buf[:n], err)
	}
	if r := recv(t, results, "the handler call"); r[0] != nil || !errors.Is(r[1], reactor.ErrWouldBlock) {
		t.Errorf("Recv, Recv = %v, %v; want the datagram, then ErrWouldBlock", r[0], r[1])
	}
	at := recv(t, stamps, "the receive time")
	if runtime.GOOS == "linux" && (at.Before(before.Add(-time.Millisecond)) || at.After(time.Now())) {
		t.Errorf("receive time %v, want between %v and now (SO_TIMESTAMPNS)", at, before)
	}
	stats := make(chan reactor.PacketStats, 1)
	pc.Post(func() { stats <- pc.Stats() })
	if st := recv(t, stats, "the stats"); st.Received != 1 || st.Sent != 1 || st.Dropped != 0 || st.Truncated != 0 {
		t.Errorf("stats %+v, want 1 received and 1 sent", st)
	}
}

// TestPacketNoAllocPerDatagram: an echoed datagram allocates nothing on
// the server (the client's Write and Read allocate nothing either).
func TestPacketNoAllocPerDatagram(t *testing.T) {
	l := newLoop(t)
	addr, err := l.ListenPacket("udp", "127.0.0.1:0", echo.NewPacket)
	if err != nil {
		t.Fatal(err)
	}
	c := client(t, addr)
	msg, buf := []byte("allocation"), make([]byte, 64)
	roundTrip := func() {
		c.Write(msg)
		if n, err := c.Read(buf); err != nil || !bytes.Equal(buf[:n], msg) {
			t.Fatalf("reply %q, %v", buf[:n], err)
		}
	}
	roundTrip() // the endpoint's buffers are made
	if a := testing.AllocsPerRun(200, roundTrip); a >= 1 {
		t.Errorf("%.1f allocations per echoed datagram, want none", a)
	}
}

// TestSendToWrongFamily: an IPv6 address on an IPv4 endpoint is an error
// about the address, not a drop.
func TestSendToWrongFamily(t *testing.T) {
	l := newLoop(t)
	errs := make(chan error, 1)
	_, err := l.ListenPacket("udp4", "127.0.0.1:0", func(pc reactor.PacketConn) reactor.Handler {
		errs <- pc.SendTo([]byte("x"), netip.MustParseAddrPort("[::1]:9"))
		return echo.NewPacket(pc)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := recv(t, errs, "SendTo's result"); err == nil {
		t.Error("SendTo an IPv6 address from an IPv4 socket: nil error")
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
// after the call, with nil, and its port is free at once.
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
}

// TestNoLeaksWithEndpoints: after Shutdown, the endpoints' goroutines and
// the idle sweep's are gone.
func TestNoLeaksWithEndpoints(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	l, err := reactor.New(reactor.WithEngine(stdnet.Engine), reactor.WithIdleTimeout(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	addr, err := l.ListenPacket("udp", "127.0.0.1:0", echo.NewPacket)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 1)
	err = l.DialPacket("udp", addr.String(), func(pc reactor.PacketConn) reactor.Handler {
		pc.SendTo([]byte("hello"), netip.AddrPort{})
		return &catcher{pc: pc, got: got}
	})
	if err != nil {
		t.Fatal(err)
	}
	if s := recv(t, got, "the echo of the dialled endpoint's datagram"); s != "hello" {
		t.Errorf("dialled endpoint got %q, want hello", s)
	}
	shutdown(t, l)
	goleak.VerifyNone(t, ignore)
}

// catcher offers each datagram it receives on got.
type catcher struct {
	pc  reactor.PacketConn
	got chan string
}

func (h *catcher) WantsRecv() bool   { return true }
func (h *catcher) WantsSend() bool   { return false }
func (h *catcher) HandleSend() error { return nil }
func (h *catcher) HandleRecv() error {
	for {
		d, err := h.pc.Recv()
		if err != nil {
			return nil
		}
		h.got <- string(d.Data)
	}
}
