package stdnet

import "time"

// idleSweep closes stream connections that moved no byte for longer than
// the Loop's IdleTimeout (reactor.WithIdleTimeout), as the native loop's
// sweep does: there is no timer or deadline per connection. Each read and
// write that moves a byte stamps the connection (netConn.active, one atomic
// store), and one goroutine per engine walks the connections every
// timeout/8. An idle connection closes between 1 and 1.125 timeouts after
// its last byte; HandleClose gets reactor.ErrIdleTimeout.
//
// The sweep closes the socket itself, which ends whatever the connection's
// goroutine is blocked in: a Read, a wait for a posted function, or a Write
// to a peer that does not read (a Write blocked that long counts as idle).
// Datagram endpoints and connects in progress are not affected.
type idleSweep struct {
	timeout time.Duration
	stop    chan struct{} // closed by Shutdown; nil when there is no sweep
}

// clock is the engine's monotonic time, for activity stamps.
func (e *netEngine) clock() int64 { return int64(time.Since(e.epoch)) }

// startIdleSweep starts the sweep goroutine if d > 0.
func (e *netEngine) startIdleSweep(d time.Duration) {
	if d <= 0 {
		return
	}
	e.idle = idleSweep{timeout: d, stop: make(chan struct{})}
	e.wg.Add(1) // Shutdown waits for it as for the connections
	go e.sweepIdle()
}

// sweepIdle is the sweep goroutine; it ends at Shutdown.
func (e *netEngine) sweepIdle() {
	defer e.wg.Done()
	period := max(e.idle.timeout/8, time.Millisecond)
	tick := time.NewTicker(period)
	defer tick.Stop()
	var idle []*netConn
	for {
		select {
		case <-e.idle.stop:
			return
		case <-tick.C:
		}
		now, limit := e.clock(), int64(e.idle.timeout)
		e.mu.Lock()
		for nx := range e.conns {
			if now-nx.active.Load() > limit {
				idle = append(idle, nx)
			}
		}
		e.mu.Unlock() // closeIdle takes ncMu: never under e.mu
		for _, nx := range idle {
			nx.closeIdle(now, limit)
		}
		clear(idle)
		idle = idle[:0]
	}
}

// touch stamps the connection active, if the engine sweeps.
func (nx *netConn) touch() {
	if nx.e.idle.timeout > 0 {
		nx.active.Store(nx.e.clock())
	}
}

// closeIdle closes the connection for idleness unless a byte moved since
// the sweep looked or it is still connecting. The goroutine finishes it
// with reactor.ErrIdleTimeout.
func (nx *netConn) closeIdle(now, limit int64) {
	nx.ncMu.Lock()
	defer nx.ncMu.Unlock()
	if nx.nc == nil || now-nx.active.Load() <= limit {
		return
	}
	nx.idled.Store(true)
	nx.nc.Close() // ends a blocking Read or Write
	select {
	case nx.wake <- struct{}{}: // ends a wait for a posted function
	default:
	}
}
