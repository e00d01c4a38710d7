package benchkit

import (
	"context"
	"encoding/binary"
	"fmt"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/edgeloop/edgeloop/reactor"
)

// lossTimeout is how long a UDP socket waits for its datagram's echo before
// it counts the datagram lost and sends the next. Loopback does not lose
// datagrams unless a receive buffer overflows, and a reply takes tens of µs:
// one 200 ms late has been dropped, not delayed.
const lossTimeout = 200 * time.Millisecond

// lossCheck is how often the load looks for lost datagrams. Losses are
// rare, so a coarse sweep costs nothing per datagram.
const lossCheck = 20 * time.Millisecond

// udpMinSize is the smallest UDP payload the load sends: it carries a
// sequence number, so that a late echo of a datagram already counted lost
// is not taken for the echo of the one sent after it.
const udpMinSize = 8

// udpLoad drives UDP echo at one server from one of edgeloop's own loops:
// each socket (DialPacket) sends one datagram, waits for its echo, records
// the round trip and sends the next. A sweep every lossCheck sends again
// for a socket whose echo is lossTimeout late, and counts a loss, so that a
// dropped datagram costs one timeout, never a stalled socket.
type udpLoad struct {
	l       *reactor.Loop
	size    int
	socks   atomic.Int64 // sockets that sent their first datagram
	done    atomic.Int64 // datagrams echoed
	done0   int64        // done at the last reset; the loop goroutine writes it
	lost    atomic.Int64 // datagrams counted lost and sent again
	lost0   int64        // lost at the last reset
	failed  atomic.Int64 // sockets that closed
	lastErr atomic.Value // error
	hist    *hdrhistogram.Histogram
	stop    atomic.Bool
	conns   int
	sweeper *reactor.Timer

	all []*udpSock // the loop goroutine's: for the sweep
}

// udpSock is one load socket.
type udpSock struct {
	g      *udpLoad
	pc     reactor.PacketConn
	msg    []byte // the datagram; its first 8 bytes are seq
	seq    uint64 // of the datagram in flight
	sentAt int64  // when it was sent, in ns
	opened bool   // the first datagram went out
	n      int64  // datagrams echoed, for tests
}

// startUDPLoad makes socks sockets connected to addr on a loop of its own,
// each keeping one size-byte datagram in flight.
func startUDPLoad(addr string, socks, size int) (*udpLoad, error) {
	if size < udpMinSize {
		return nil, fmt.Errorf("benchkit: a %d-byte datagram has no room for its %d-byte sequence number", size, udpMinSize)
	}
	l, err := reactor.New(reactor.WithLoops(1))
	if err != nil {
		return nil, err
	}
	g := &udpLoad{l: l, size: size, conns: socks, hist: newHist()}
	// One loop: the sweep runs on the sockets' goroutine.
	if g.sweeper, err = l.Every(lossCheck, g.sweep); err != nil {
		g.close()
		return nil, err
	}
	for i := 0; i < socks; i++ {
		if err := l.DialPacket("udp", addr, g.newSock); err != nil {
			g.close()
			return nil, err
		}
	}
	return g, nil
}

// newSock runs on the loop goroutine. The endpoint starts writable, so the
// loop calls HandleSend at once: that sends the first datagram.
func (g *udpLoad) newSock(pc reactor.PacketConn) reactor.Handler {
	s := &udpSock{g: g, pc: pc, msg: make([]byte, g.size)}
	for i := udpMinSize; i < len(s.msg); i++ {
		s.msg[i] = byte('a' + i%26)
	}
	g.all = append(g.all, s)
	return s
}

// WantsRecv implements reactor.Handler.
func (s *udpSock) WantsRecv() bool { return true }

// WantsSend implements reactor.Handler: only for the first datagram; the
// next ones go out from HandleRecv and the sweep.
func (s *udpSock) WantsSend() bool { return !s.opened && !s.g.stop.Load() }

// HandleSend implements reactor.Handler.
func (s *udpSock) HandleSend() error {
	s.opened = true
	s.g.socks.Add(1)
	return s.send(time.Now().UnixNano())
}

// send queues the next datagram; the loop sends it when the handler call
// (or the sweep) returns.
func (s *udpSock) send(now int64) error {
	s.seq++
	binary.LittleEndian.PutUint64(s.msg, s.seq)
	s.sentAt = now
	return s.pc.SendTo(s.msg, netip.AddrPort{})
}

// HandleRecv implements reactor.Handler: each echo of the datagram in
// flight completes a round trip and sends the next; a late echo of one
// counted lost is dropped.
func (s *udpSock) HandleRecv() error {
	for {
		d, err := s.pc.Recv()
		if err == reactor.ErrWouldBlock {
			return nil
		}
		if err != nil {
			return err
		}
		if len(d.Data) != s.g.size {
			return fmt.Errorf("benchkit: a %d-byte echo of a %d-byte datagram", len(d.Data), s.g.size)
		}
		if binary.LittleEndian.Uint64(d.Data) != s.seq || s.g.stop.Load() {
			continue
		}
		now := time.Now().UnixNano()
		s.g.hist.RecordValue((now - s.sentAt) / 1e3)
		s.g.done.Add(1)
		s.n++
		if err := s.send(now); err != nil {
			return err
		}
	}
}

// HandleClose implements reactor.CloseHandler.
func (s *udpSock) HandleClose(err error) {
	if !s.g.stop.Load() {
		s.g.failed.Add(1)
		if err != nil {
			s.g.lastErr.Store(err)
		}
	}
}

// sweep runs on the loop goroutine every lossCheck: a socket whose echo is
// lossTimeout late counts a loss and sends the next datagram.
func (g *udpLoad) sweep() {
	if g.stop.Load() {
		return
	}
	now := time.Now().UnixNano()
	for _, s := range g.all {
		if !s.opened || now-s.sentAt < int64(lossTimeout) {
			continue
		}
		g.lost.Add(1)
		if err := s.send(now); err != nil {
			g.lastErr.Store(err)
			s.pc.Close() // HandleClose counts the failure
		}
	}
}

// waitOpen waits until every socket has sent its first datagram.
func (g *udpLoad) waitOpen(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for g.socks.Load() < int64(g.conns) {
		if err := g.err(); err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("benchkit: %d of %d UDP sockets open after %v", g.socks.Load(), g.conns, timeout)
		}
		time.Sleep(time.Millisecond) // polling a counter, with a deadline
	}
	return nil
}

// err reports sockets that closed: a receive error such as ECONNREFUSED,
// the server's port being closed.
func (g *udpLoad) err() error {
	if g.failed.Load() > 0 {
		err, _ := g.lastErr.Load().(error)
		return fmt.Errorf("benchkit: %d UDP load sockets failed: %v", g.failed.Load(), err)
	}
	return nil
}

// reset clears the histogram on the loop goroutine and counts round trips
// and losses from now.
func (g *udpLoad) reset() error {
	done := make(chan struct{})
	if err := g.l.Post(func() {
		g.hist.Reset()
		g.done0, g.lost0 = g.done.Load(), g.lost.Load()
		close(done)
	}); err != nil {
		return err
	}
	<-done
	return nil
}

// count is the datagrams echoed since reset.
func (g *udpLoad) count() (int64, error) { return g.done.Load() - g.done0, nil }

// stats reads the round trips, latencies and losses since reset, on the
// loop goroutine.
func (g *udpLoad) stats() (probeStats, error) {
	ch := make(chan probeStats, 1)
	if err := g.l.Post(func() {
		ch <- probeStats{
			n:    g.done.Load() - g.done0,
			p50:  float64(g.hist.ValueAtQuantile(50)),
			p99:  float64(g.hist.ValueAtQuantile(99)),
			p999: float64(g.hist.ValueAtQuantile(99.9)),
			lost: g.lost.Load() - g.lost0,
		}
	}); err != nil {
		return probeStats{}, err
	}
	return <-ch, nil
}

func (g *udpLoad) close() {
	g.stop.Store(true)
	if g.sweeper != nil {
		g.sweeper.Stop()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	g.l.Shutdown(ctx)
}
