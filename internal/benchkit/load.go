package benchkit

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/edgeloop/edgeloop/reactor"
)

// load drives ping-pong traffic at one server from one of edgeloop's own
// loops: each connection sends one message, waits for all of it to come
// back, records the round trip and sends the next. Unpaced (rate 0), the
// next goes out at once, so the server is as busy as the replies allow.
// Paced, the next goes out when the pacer says it is due.
type load struct {
	l       *reactor.Loop
	msg     []byte
	rate    float64      // target round trips per second over all connections; 0: unpaced
	done    atomic.Int64 // completed round trips
	done0   int64        // done at the last reset; the loop goroutine writes it
	bytes   atomic.Int64 // reply bytes received
	open    atomic.Int64 // connections established
	failed  atomic.Int64 // connections that closed
	lastErr atomic.Value // error
	hist    *hdrhistogram.Histogram
	stop    atomic.Bool

	// The pacer. pingers, paceT0, dealt and next belong to the loop
	// goroutine; the ticker goroutine only posts pace to it.
	pingers    []*pinger // in dial order; sends are dealt to them in turn
	paceT0     time.Time // when pacing began
	dealt      int64     // sends dealt out since paceT0
	next       int       // the pinger the next send goes to
	paceFn     func()    // g.pace, made once: a method value allocates
	paceQueued atomic.Bool
	ticks      atomic.Int64 // pacer wake-ups, for tests
	quit       chan struct{}
	tickerDone chan struct{}
}

// paceTick is how often the pacer wakes to deal out the sends that have
// come due. Sends go out in bursts of rate × the real tick, which is the
// sleep plus the wake-up (120-180 µs measured here; 10-15 sends at 80k
// req/s), so a server at partial load wakes, serves a few requests and
// sleeps again thousands of times a second, as one with many independent
// clients does; a coarser tick would batch the requests and hide the cost
// of going to sleep. The pacer sleeps between ticks and never spins.
const paceTick = 100 * time.Microsecond

// pinger is one load connection.
type pinger struct {
	g      *load
	c      reactor.Conn
	busy   bool  // a request is out: being sent, or waiting for its reply
	off    int   // bytes of the current request sent
	got    int   // bytes of the current reply received
	owed   int   // paced: sends dealt to this connection while it was busy
	n      int64 // round trips completed, for tests
	sentAt int64
	opened bool
}

// startLoad dials conns connections to addr, each sending size-byte
// messages, paced to rate round trips per second in all if rate > 0.
func startLoad(addr string, conns, size int, rate float64) (*load, error) {
	l, err := reactor.New(reactor.WithLoops(1))
	if err != nil {
		return nil, err
	}
	g := &load{
		l:    l,
		msg:  make([]byte, size),
		rate: rate,
		hist: hdrhistogram.New(1, int64(10*time.Second/time.Microsecond), 3),
	}
	g.paceFn = g.pace
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

// newPinger runs on the loop goroutine. Every connection's first request
// goes out as soon as it connects, paced or not: that is how waitOpen
// knows it is open. Pacing starts after that (startPacer).
func (g *load) newPinger(c reactor.Conn) reactor.Handler {
	p := &pinger{g: g, c: c, busy: true, sentAt: time.Now().UnixNano()}
	g.pingers = append(g.pingers, p)
	return p
}

// WantsRecv implements reactor.Handler.
func (p *pinger) WantsRecv() bool { return true }

// WantsSend implements reactor.Handler.
func (p *pinger) WantsSend() bool { return p.busy && p.off < len(p.g.msg) && !p.g.stop.Load() }

// HandleSend implements reactor.Handler.
func (p *pinger) HandleSend() error {
	if !p.opened {
		p.opened = true
		p.g.open.Add(1)
	}
	return p.send()
}

// send writes what the socket takes of the current request.
func (p *pinger) send() error {
	n, err := p.c.Write(p.g.msg[p.off:])
	p.off += n
	if err != nil && err != reactor.ErrWouldBlock {
		return err
	}
	return nil
}

// begin starts a new request; the caller sends it.
func (p *pinger) begin(now int64) {
	p.busy, p.off, p.got, p.sentAt = true, 0, 0, now
}

// HandleRecv implements reactor.Handler.
func (p *pinger) HandleRecv() error {
	n, err := p.c.Read(p.c.ReadBuffer())
	p.got += n
	p.g.bytes.Add(int64(n))
	if p.busy && p.got >= len(p.g.msg) && p.off == len(p.g.msg) {
		if p.got > len(p.g.msg) {
			return fmt.Errorf("benchkit: %d bytes back for a %d byte request", p.got, len(p.g.msg))
		}
		now := time.Now().UnixNano()
		p.g.hist.RecordValue((now - p.sentAt) / 1e3)
		p.g.done.Add(1)
		p.n++
		p.busy = false
		switch {
		case p.g.rate == 0:
			p.begin(now) // the loop sends it in this turn, as WantsSend is asked again
		case p.owed > 0:
			p.owed-- // a send came due while this one was out: it is late, go now
			p.begin(now)
		}
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

// startPacer starts dealing out sends at g.rate, if it is set. Call it once
// every connection is open.
func (g *load) startPacer() error {
	if g.rate <= 0 {
		return nil
	}
	started := make(chan struct{})
	if err := g.l.Post(func() { g.paceT0 = time.Now(); close(started) }); err != nil {
		return err
	}
	<-started
	g.quit, g.tickerDone = make(chan struct{}), make(chan struct{})
	go g.ticker()
	return nil
}

// ticker wakes every paceTick and has the loop deal out what came due. A
// tick that finds the previous one still queued posts nothing: pace works
// from the clock, not from the number of ticks.
func (g *load) ticker() {
	defer close(g.tickerDone)
	sleep := newTickSleeper(paceTick)
	for {
		select {
		case <-g.quit:
			return
		default:
		}
		sleep.sleep()
		g.ticks.Add(1)
		if !g.paceQueued.Swap(true) {
			if g.l.Post(g.paceFn) != nil {
				return // the loop is gone
			}
		}
	}
}

// pace runs on the loop goroutine. It deals the sends due by now to the
// connections in turn, so that each sends every len(pingers)/rate seconds,
// their phases spread evenly. A connection still waiting for its previous
// reply owes the send and makes it when that reply arrives.
func (g *load) pace() {
	g.paceQueued.Store(false)
	if g.stop.Load() || len(g.pingers) == 0 {
		return
	}
	due := int64(time.Since(g.paceT0).Seconds() * g.rate)
	for ; g.dealt < due; g.dealt++ {
		p := g.pingers[g.next]
		g.next = (g.next + 1) % len(g.pingers)
		if p.busy {
			p.owed++
			continue
		}
		// Write here rather than only make WantsSend true: a want changed
		// outside a handler call is not noticed until the next edge (issue 7
		// §3). A short write clears "writable", and the next edge then
		// brings HandleSend for the rest.
		p.begin(time.Now().UnixNano())
		if err := p.send(); err != nil {
			p.g.lastErr.Store(err)
			p.c.Close() // HandleClose counts the failure
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

// reset clears the latency histogram on the loop goroutine and starts
// counting round trips from now.
func (g *load) reset() error {
	done := make(chan struct{})
	g.l.Post(func() { g.hist.Reset(); g.done0 = g.done.Load(); close(done) })
	<-done
	return nil
}

// count is the round trips completed since reset.
func (g *load) count() (int64, error) { return g.done.Load() - g.done0, nil }

// stats reads the round trips and latencies since reset, on the loop
// goroutine.
func (g *load) stats() (probeStats, error) {
	ch := make(chan probeStats)
	g.l.Post(func() {
		ch <- probeStats{
			n:    g.done.Load() - g.done0,
			p50:  float64(g.hist.ValueAtQuantile(50)),
			p99:  float64(g.hist.ValueAtQuantile(99)),
			p999: float64(g.hist.ValueAtQuantile(99.9)),
		}
	})
	return <-ch, nil
}

func (g *load) close() {
	g.stop.Store(true)
	if g.quit != nil {
		close(g.quit)
		<-g.tickerDone
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	g.l.Shutdown(ctx)
}
