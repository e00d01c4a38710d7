//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package reactor

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"
	"log/slog"
)

func init() {
	engines["gnet"] = func(o *options) (engine, error) { return &gnetEngine{o: o, doneCh: make(chan struct{})}, nil }
}

// gnetEngine runs handlers on gnet's whole engine (gnet.Run): what a gnet
// user gets. Each Listen is one gnet engine. gnet reads into its own inbound
// buffer and calls OnTraffic; the adapter serves HandleRecv from that buffer
// and HandleSend into gnet's Conn.Write, which never blocks because gnet
// queues what the socket does not take, without bound.
type gnetEngine struct {
	o        *options
	mu       sync.Mutex
	servers  []*gnetServer
	draining bool
	doneCh   chan struct{}
	doneOnce sync.Once
}

// gnetServer is one gnet engine and its listener.
type gnetServer struct {
	gnet.BuiltinEventEngine
	f      Factory
	eng    gnet.Engine
	booted chan struct{}
	ran    chan error // gnet.Run's result
}

// gnetConn adapts one gnet.Conn to a Conn.
type gnetConn struct {
	c        Conn
	gc       gnet.Conn
	h        Handler
	buf      *[]byte // read buffer lent for the current callback
	inCB     bool    // inside OnOpen or OnTraffic: close by returning gnet.Close
	closeReq bool
	closed   bool
	closeErr error
}

// gnetBufs holds read buffers lent to handlers for one callback.
var gnetBufs = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}

func (e *gnetEngine) listen(network, address string, f Factory) (net.Addr, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.draining {
		return nil, ErrClosed
	}
	if _, _, err := resolve(network, address); err != nil {
		return nil, err
	}
	s := &gnetServer{f: f, booted: make(chan struct{}), ran: make(chan error, 1)}
	go func() {
		s.ran <- gnet.Run(s, network+"://"+address,
			gnet.WithNumEventLoop(e.o.loops),
			gnet.WithReusePort(e.o.loops > 1),
			gnet.WithTCPNoDelay(gnet.TCPNoDelay),
			gnet.WithLockOSThread(true),
			gnet.WithLogger(gnetLogger{e.o.logger}))
	}()
	select {
	case <-s.booted:
	case err := <-s.ran:
		return nil, fmt.Errorf("gnet: %w", err)
	}
	// gnet does not say which port ":0" got; ask the listener itself.
	fd, err := s.eng.Dup()
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return nil, err
	}
	e.servers = append(e.servers, s)
	return sockaddrToTCP(sa), nil
}

func (s *gnetServer) OnBoot(eng gnet.Engine) gnet.Action {
	s.eng = eng
	close(s.booted)
	return gnet.None
}

func (s *gnetServer) OnOpen(gc gnet.Conn) ([]byte, gnet.Action) {
	g := &gnetConn{gc: gc}
	g.c.tr, g.c.fd = g, -1
	gc.SetContext(g)
	g.enter()
	defer g.leave()
	if g.h = s.f(&g.c); g.h == nil {
		return nil, gnet.Close
	}
	return nil, g.pump()
}

func (s *gnetServer) OnTraffic(gc gnet.Conn) gnet.Action {
	g := gc.Context().(*gnetConn)
	g.enter()
	defer g.leave()
	return g.pump()
}

func (s *gnetServer) OnClose(gc gnet.Conn, err error) gnet.Action {
	g, ok := gc.Context().(*gnetConn)
	if !ok || g.h == nil {
		return gnet.None
	}
	if !g.closed {
		g.closed = true
		if err == nil && !g.closeReq {
			err = io.EOF
		}
		g.closeErr = err
	}
	if ch, ok := g.h.(CloseHandler); ok {
		ch.HandleClose(g.closeErr)
	}
	return gnet.None
}

// pump calls the handler while it wants what gnet has for it.
func (g *gnetConn) pump() gnet.Action {
	for !g.closeReq {
		did := false
		if g.gc.InboundBuffered() > 0 && g.h.WantsRecv() {
			did = true
			if err := g.h.HandleRecv(); err != nil {
				g.closeReq, g.closeErr = true, err
				break
			}
		}
		if !g.closeReq && g.h.WantsSend() {
			did = true
			if err := g.h.HandleSend(); err != nil {
				g.closeReq, g.closeErr = true, err
				break
			}
		}
		if !did {
			break
		}
	}
	if g.closeReq {
		g.closed = g.closeErr != nil
		return gnet.Close
	}
	return gnet.None
}

func (g *gnetConn) read(p []byte) (int, error) {
	if g.closed || g.closeReq {
		return 0, ErrClosed
	}
	if g.gc.InboundBuffered() == 0 {
		return 0, ErrWouldBlock
	}
	return g.gc.Read(p)
}

func (g *gnetConn) write(p []byte) (int, error) {
	if g.closed || g.closeReq {
		return 0, ErrClosed
	}
	return g.gc.Write(p)
}

func (g *gnetConn) close() error {
	if g.closed || g.closeReq {
		return ErrClosed
	}
	g.closeReq = true
	if !g.inCB {
		// On the loop but outside a callback (a posted function): close now.
		return g.gc.EventLoop().Close(g.gc)
	}
	return nil
}

// closeWrite sends FIN only when gnet has no output queued ahead of it.
func (g *gnetConn) closeWrite() error {
	if g.closed || g.closeReq {
		return ErrClosed // gnet keeps the fd number after closing it: never shut a reused one
	}
	if g.gc.OutboundBuffered() > 0 {
		return fmt.Errorf("%w: CloseWrite with output queued in gnet", ErrUnsupported)
	}
	return unix.Shutdown(g.gc.Fd(), unix.SHUT_WR)
}

// readBuffer lends a pooled buffer until the current callback ends (the
// handler contract: valid until the handler call returns). gnet's loops run
// in parallel, so one shared buffer would race.
func (g *gnetConn) readBuffer() []byte {
	if g.buf == nil {
		g.buf = gnetBufs.Get().(*[]byte)
	}
	return *g.buf
}

// enter and leave bracket every callback that may call the handler.
func (g *gnetConn) enter() { g.inCB = true }

func (g *gnetConn) leave() {
	g.inCB = false
	if g.buf != nil {
		gnetBufs.Put(g.buf)
		g.buf = nil
	}
}

func (g *gnetConn) post(fn func()) error {
	return g.gc.EventLoop().Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
		fn()
		if !g.closed && !g.closeReq {
			g.enter()
			act := g.pump()
			g.leave()
			if act == gnet.Close {
				return g.gc.EventLoop().Close(g.gc)
			}
		}
		return nil
	}))
}

// localAddr asks the socket: gnet's LocalAddr is the address the listener
// was configured with, "127.0.0.1:0" for an ephemeral port.
func (g *gnetConn) localAddr() net.Addr {
	if !g.closed && !g.closeReq {
		if sa, err := unix.Getsockname(g.gc.Fd()); err == nil {
			return sockaddrToTCP(sa)
		}
	}
	return g.gc.LocalAddr()
}
func (g *gnetConn) remoteAddr() net.Addr { return g.gc.RemoteAddr() }

func (e *gnetEngine) dial(string, string, Factory) error {
	return fmt.Errorf("%w: the gnet backend serves; dial through gnet.Client instead", ErrUnsupported)
}

func (e *gnetEngine) post(fn func()) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.draining {
		return ErrClosed
	}
	go fn() // gnet has no engine-wide queue; connection work goes through Conn.Post
	return nil
}

// shutdown stops every gnet engine. gnet closes its connections at once and
// writes what it has queued only while the socket takes it: output beyond
// that is dropped (a limit of gnet, see the conformance suite).
func (e *gnetEngine) shutdown(ctx context.Context) error {
	e.mu.Lock()
	if e.draining {
		// Another Shutdown is stopping the engines: wait for it.
		e.mu.Unlock()
		select {
		case <-e.doneCh:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	e.draining = true
	servers := e.servers
	e.mu.Unlock()
	var first error
	for _, s := range servers {
		if err := s.eng.Stop(ctx); err != nil && first == nil {
			first = err
		}
		select {
		case <-s.ran:
		case <-ctx.Done():
			if first == nil {
				first = ctx.Err()
			}
		}
	}
	e.doneOnce.Do(func() { close(e.doneCh) })
	return first
}

func (e *gnetEngine) done() <-chan struct{} { return e.doneCh }

// gnetLogger sends gnet's log lines to the Loop's slog.Logger, so gnet does
// not print to stdout, where serve prints its "listening" lines. gnet's Info
// lines are Debug here.
type gnetLogger struct{ l *slog.Logger }

func (g gnetLogger) Debugf(f string, a ...any) { g.l.Debug("gnet: " + fmt.Sprintf(f, a...)) }
func (g gnetLogger) Infof(f string, a ...any)  { g.l.Debug("gnet: " + fmt.Sprintf(f, a...)) }
func (g gnetLogger) Warnf(f string, a ...any)  { g.l.Warn("gnet: " + fmt.Sprintf(f, a...)) }
func (g gnetLogger) Errorf(f string, a ...any) { g.l.Error("gnet: " + fmt.Sprintf(f, a...)) }
func (g gnetLogger) Fatalf(f string, a ...any) { g.l.Error("gnet: fatal: " + fmt.Sprintf(f, a...)) }
