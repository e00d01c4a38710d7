package benchkit

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/edgeloop/edgeloop/reactor"
)

// load drives ping-pong traffic at one server from edgeloop's own loop: each
// connection sends one message, waits for all of it to come back, records
// the round trip and sends the next.
type load struct {
	l       *reactor.Loop
	msg     []byte
	done    atomic.Int64 // completed round trips
	open    atomic.Int64 // connections established
	failed  atomic.Int64 // connections that closed
	lastErr atomic.Value // error
	hist    *hdrhistogram.Histogram
	stop    atomic.Bool
}

// pinger is one load connection.
type pinger struct {
	g      *load
	c      reactor.Conn
	off    int // bytes of the current request sent
	got    int // bytes of the current reply received
	sentAt int64
	opened bool
}

func startLoad(addr string, conns, size int) (*load, error) {
	l, err := reactor.New(reactor.WithLoops(1))
	if err != nil {
		return nil, err
	}
	g := &load{
		l:    l,
		msg:  make([]byte, size),
		hist: hdrhistogram.New(1, int64(10*time.Second/time.Microsecond), 3),
	}
	for i := range g.msg {
		g.msg[i] = byte('a' + i%26)
	}
	for i := 0; i < conns; i++ {
		if err := l.Dial("tcp", addr, g.newPinger); err != nil {
			g.close()
			return nil, err
		}
	}
	return g, nil
}

func (g *load) newPinger(c reactor.Conn) reactor.Handler {
	return &pinger{g: g, c: c, sentAt: time.Now().UnixNano()}
}

// WantsRecv implements reactor.Handler.
func (p *pinger) WantsRecv() bool { return true }

// WantsSend implements reactor.Handler.
func (p *pinger) WantsSend() bool { return p.off < len(p.g.msg) && !p.g.stop.Load() }

// HandleSend implements reactor.Handler.
func (p *pinger) HandleSend() error {
	if !p.opened {
		p.opened = true
		p.g.open.Add(1)
	}
	n, err := p.c.Write(p.g.msg[p.off:])
	p.off += n
	if err != nil && err != reactor.ErrWouldBlock {
		return err
	}
	return nil
}

// HandleRecv implements reactor.Handler.
func (p *pinger) HandleRecv() error {
	n, err := p.c.Read(p.c.ReadBuffer())
	p.got += n
	if p.got >= len(p.g.msg) && p.off == len(p.g.msg) {
		if p.got > len(p.g.msg) {
			return fmt.Errorf("benchkit: %d bytes back for a %d byte request", p.got, len(p.g.msg))
		}
		now := time.Now().UnixNano()
		p.g.hist.RecordValue((now - p.sentAt) / 1e3)
		p.g.done.Add(1)
		p.got, p.off, p.sentAt = 0, 0, now // the loop sends the next one in this turn
	}
	if err != nil && err != reactor.ErrWouldBlock {
		return err
	}
	return nil
}

// HandleClose implements reactor.CloseHandler.
func (p *pinger) HandleClose(err error) {
	if !p.g.stop.Load() {
		p.g.failed.Add(1)
		if err != nil {
			p.g.lastErr.Store(err)
		}
	}
}

// waitOpen waits until every connection has sent its first request.
func (g *load) waitOpen(conns int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for g.open.Load() < int64(conns) {
		if err := g.err(); err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("benchkit: %d of %d connections open after %v", g.open.Load(), conns, timeout)
		}
		time.Sleep(time.Millisecond) // polling a counter, with a deadline
	}
	return nil
}

func (g *load) err() error {
	if g.failed.Load() > 0 {
		err, _ := g.lastErr.Load().(error)
		return fmt.Errorf("benchkit: %d load connections failed: %v", g.failed.Load(), err)
	}
	return nil
}

// resetHist clears the latency histogram on the loop goroutine.
func (g *load) resetHist() {
	done := make(chan struct{})
	g.l.Post(func() { g.hist.Reset(); close(done) })
	<-done
}

// snapshotHist copies the histogram on the loop goroutine.
func (g *load) snapshotHist() *hdrhistogram.Histogram {
	ch := make(chan *hdrhistogram.Histogram)
	g.l.Post(func() { ch <- hdrhistogram.Import(g.hist.Export()) })
	return <-ch
}

func (g *load) close() {
	g.stop.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	g.l.Shutdown(ctx)
}
