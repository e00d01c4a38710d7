//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package gnet

import (
	"context"
	"sync"
	"time"

	"github.com/edgeloop/edgeloop/reactor"
	"github.com/panjf2000/gnet/v2"
)

// gnet has no idle timeout that reports to the handler, so the adapter
// sweeps as the native loop does: no timer per connection. Each callback
// with input and each Write that moves a byte stamps the connection
// (conn.active, one atomic store), and gnet's ticker (WithTicker, one
// goroutine per engine, on which OnTick runs) walks the engine's
// connections every timeout/8. It cannot touch a connection there, so for
// each that looks idle it queues a task on the connection's own event loop
// (EventLoop.Execute), which looks again and closes it with
// reactor.ErrIdleTimeout. A connection closes between 1 and 1.125
// timeouts after its last byte, plus the wait for its loop. Output gnet
// flushes from its own buffer later is not seen: a connection whose
// handler wrote long ago and whose peer reads slowly counts as idle.

// idleSet is a server's connections, kept only when there is a timeout.
type idleSet struct {
	mu    sync.Mutex
	conns map[*conn]struct{}
}

// add records g, on its loop, if the engine sweeps.
func (is *idleSet) add(g *conn) {
	if g.s.e.cfg.IdleTimeout <= 0 {
		return
	}
	g.touch()
	is.mu.Lock()
	if is.conns == nil {
		is.conns = make(map[*conn]struct{})
	}
	is.conns[g] = struct{}{}
	is.mu.Unlock()
}

// remove forgets g, on its loop.
func (is *idleSet) remove(g *conn) {
	if g.s.e.cfg.IdleTimeout <= 0 {
		return
	}
	is.mu.Lock()
	delete(is.conns, g)
	is.mu.Unlock()
}

// clock is the engine's monotonic time, for activity stamps.
func (e *engine) clock() int64 { return int64(time.Since(e.epoch)) }

// touch stamps g active, if the engine sweeps.
func (g *conn) touch() {
	if g.s.e.cfg.IdleTimeout > 0 {
		g.active.Store(g.s.e.clock())
	}
}

// OnTick sweeps the server's idle connections; it runs on gnet's ticker
// goroutine, only when the Loop has an idle timeout (WithTicker).
func (s *server) OnTick() (time.Duration, gnet.Action) {
	timeout := s.e.cfg.IdleTimeout
	period := max(timeout/8, time.Millisecond)
	if timeout <= 0 {
		return time.Hour, gnet.None
	}
	now, limit := s.e.clock(), int64(timeout)
	var idle []*conn
	s.idle.mu.Lock()
	for g := range s.idle.conns {
		if now-g.active.Load() > limit && g.idleQueued.CompareAndSwap(false, true) {
			idle = append(idle, g)
		}
	}
	s.idle.mu.Unlock()
	for _, g := range idle {
		// gc.EventLoop is fixed when the connection opens, before add.
		g.gc.EventLoop().Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
			return g.closeIdle(limit)
		}))
	}
	return period, gnet.None
}

// closeIdle closes g for idleness unless a byte moved since the sweep
// looked. It runs on g's event loop, so it may touch g.
func (g *conn) closeIdle(limit int64) error {
	g.idleQueued.Store(false)
	if g.closed || g.closeReq || g.s.e.clock()-g.active.Load() <= limit {
		return nil
	}
	g.closed, g.closeErr = true, reactor.ErrIdleTimeout // OnClose keeps it for HandleClose
	return g.gc.EventLoop().Close(g.gc)
}
