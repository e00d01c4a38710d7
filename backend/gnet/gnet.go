//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package gnet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgeloop/edgeloop/internal/sockaddr"
	"github.com/edgeloop/edgeloop/internal/sockopt"
	"github.com/edgeloop/edgeloop/internal/unixsock"
	"github.com/edgeloop/edgeloop/reactor"
	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"
)

// Engine starts gnet's engine under reactor.Loop; pass it to
// reactor.WithEngine.
func Engine(cfg reactor.Config) (reactor.Engine, error) {
	return &engine{cfg: cfg, doneCh: make(chan struct{}), epoch: time.Now()}, nil
}

// engine runs handlers on gnet's whole engine (gnet.Run): what a gnet user
// gets. Each Listen and each ListenPacket is one gnet engine. gnet reads
// into its own inbound buffer and calls OnTraffic; the adapter serves
// HandleRecv from that buffer and HandleSend into gnet's Conn.Write, which
// never blocks because gnet queues what the socket does not take, without
// bound.
type engine struct {
	cfg      reactor.Config
	mu       sync.Mutex
	servers  []*server
	draining bool
	err      error // why a gnet engine stopped by itself
	doneCh   chan struct{}
	doneOnce sync.Once
	epoch    time.Time     // the origin of activity stamps (monotonic)
	made     atomic.Uint64 // connections opened, for their names (String)
}

// server is one gnet engine and its listener, or its datagram socket (a
// packetServer wraps it then).
type server struct {
	gnet.BuiltinEventEngine
	e       *engine
	addr    string
	f       reactor.Factory
	eng     gnet.Engine
	booted  chan struct{}
	bound   net.Addr      // the listener's address, set by OnBoot; read after booted
	bootErr error         // why OnBoot could not tell the address
	cause   atomic.Value  // string: the first error gnet logged, the likely cause if it stops
	ran     chan struct{} // closed when gnet.Run has returned
	runErr  error         // what it returned; read after ran is closed
	// keepFD: OnBoot keeps its duplicate of the socket in fd, and the
	// socket's family, for a datagram endpoint to send with.
	keepFD bool
	fd     int
	family int
	// closing: the engine is being stopped on purpose (an endpoint's
	// Close), not dying; stopped and Shutdown leave it be.
	closing atomic.Bool
	onStop  func() // if set, runs once gnet.Run has returned after booting
	// unixPath is a Unix listener's path, bindPath the name gnet bound
	// (linkUnix), and file the socket file to remove once gnet has stopped.
	unixPath, bindPath string
	file               *unixsock.File
	idle               idleSet
}

// conn adapts one gnet.Conn to reactor.Conn.
type conn struct {
	id       uint64     // its number among the engine's connections, for String
	peer     netip.Addr // admitted by the Admission, released in OnClose; zero if none
	gc       gnet.Conn
	s        *server
	h        reactor.Handler
	buf      *[]byte // read buffer lent for the current callback
	inCB     bool    // inside OnOpen or OnTraffic: close by returning gnet.Close
	closeReq bool
	closed   bool
	closeErr error
	// closeLater: gnet closed the connection inside a callback (a failed
	// Conn.Write); leave calls HandleClose once the handler call returned.
	closeLater bool
	// CloseGraceful: finishing stops input to the handler; shut says the
	// FIN is sent.
	finishing, shut bool
	finishAt        time.Time // when the handler was done: lingerLimit counts from here
	// active is when a byte last moved (engine.clock), for the idle
	// sweep; idleQueued: a sweep has queued closeIdle and it has not run.
	active     atomic.Int64
	idleQueued atomic.Bool
}

// bufs holds read buffers lent to handlers for one callback.
var bufs = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}

// Listen implements reactor.Engine.
func (e *engine) Listen(network, address string, f reactor.Factory) (net.Addr, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.draining {
		return nil, reactor.ErrClosed
	}
	switch network {
	case "tcp", "tcp4", "tcp6":
	case "unix":
		return e.listenUnix(unixsock.Path(address), f)
	default:
		return nil, fmt.Errorf("%w: network %q", reactor.ErrUnsupported, network)
	}
	if e.cfg.Loops > 1 {
		// gnet sets SO_REUSEPORT for several loops, which lets it join the
		// group of another server already on the port. A plain listen first
		// fails with EADDRINUSE if anything holds it, as the native loop's
		// probe does.
		ln, err := net.Listen(network, address)
		if err != nil {
			return nil, err
		}
		ln.Close()
		// gnet binds each loop's listener to the address as given, so with
		// port 0 every loop after the first would get a port of its own,
		// one nobody dials: take the port the probe got.
		if host, port, err := net.SplitHostPort(address); err == nil && port == "0" {
			address = net.JoinHostPort(host, strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))
		}
	}
	s := e.newServer(address)
	s.f = f
	err := e.run(s, s, network+"://"+address,
		gnet.WithNumEventLoop(e.cfg.Loops),
		gnet.WithReusePort(e.cfg.Loops > 1),
		gnet.WithReuseAddr(true), // as the other backends: TIME_WAIT sockets do not block a restart
		gnet.WithTCPNoDelay(gnet.TCPNoDelay),
		gnet.WithTicker(e.cfg.IdleTimeout > 0)) // OnTick sweeps idle connections
	if err != nil {
		return nil, err
	}
	return s.bound, nil
}

// listenUnix serves f on the Unix socket at path. gnet removes its
// listener's path (os.RemoveAll) before it binds, which would take a live
// server's path, and again when it stops, which would take a successor's.
// So the stale check runs first, and gnet binds a fresh name beside path
// that OnBoot links to path (link refuses a path that exists) and then
// unlinks: gnet's removals find nothing, and the run goroutine removes
// path once gnet has stopped, only if it is still this socket. With
// several loops gnet's main reactor accepts and spreads the connections
// (gnet turns SO_REUSEPORT off for Unix sockets).
func (e *engine) listenUnix(path string, f reactor.Factory) (net.Addr, error) {
	if unixsock.Abstract(path) {
		// gnet would RemoveAll a file named "@name" in the working
		// directory, at start and at stop.
		return nil, fmt.Errorf("%w: abstract Unix socket names on gnet", reactor.ErrUnsupported)
	}
	if _, err := unixsock.Sockaddr(path); err != nil {
		return nil, err
	}
	if err := unixsock.Prepare(path); err != nil {
		return nil, err
	}
	tmp, err := unixsock.Sibling(path)
	if err != nil {
		return nil, err
	}
	s := e.newServer(path)
	s.f = f
	s.unixPath, s.bindPath = path, tmp
	err = e.run(s, s, "unix://"+tmp,
		gnet.WithNumEventLoop(e.cfg.Loops),
		gnet.WithReusePort(false),
		gnet.WithTicker(e.cfg.IdleTimeout > 0))
	if err != nil {
		return nil, err
	}
	return s.bound, nil
}

// newServer makes a server for address, not yet running.
func (e *engine) newServer(address string) *server {
	return &server{e: e, addr: address, fd: -1, booted: make(chan struct{}), ran: make(chan struct{})}
}

// run starts a gnet engine serving protoAddr with eh (s, or its packet
// wrapper), waits until it has booted and adds it to e's servers. Called
// with e.mu held.
func (e *engine) run(s *server, eh gnet.EventHandler, protoAddr string, opts ...gnet.Option) error {
	opts = append(opts, gnet.WithLockOSThread(true), gnet.WithLogger(logger{e.cfg.Logger, s}))
	go func() {
		s.runErr = gnet.Run(eh, protoAddr, opts...)
		if s.bindPath != "" {
			unix.Unlink(s.bindPath) // if OnBoot never linked it
			if err := s.file.Remove(); err != nil {
				e.cfg.Logger.Error("gnet: socket file not removed", "err", err)
			}
		}
		select {
		case <-s.booted:
			if s.onStop != nil {
				s.onStop()
			}
		default:
		}
		close(s.ran)
		e.stopped(s)
	}()
	select {
	case <-s.booted:
	case <-s.ran:
		return fmt.Errorf("gnet: %w", s.runErr)
	}
	if s.bootErr != nil {
		// Running, but unusable: stop it, as one that never started.
		s.closing.Store(true)
		go s.eng.Stop(context.Background())
		return s.bootErr
	}
	e.servers = append(e.servers, s)
	return nil
}

// stopped runs when a gnet engine's Run returns. Outside Shutdown that is an
// engine that died (an accept error such as EMFILE shuts gnet down, closing
// every connection): the whole Loop stops, and Err says why.
func (e *engine) stopped(s *server) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.draining || e.err != nil || s.closing.Load() {
		return
	}
	select {
	case <-s.booted:
	default:
		return // it never started; Listen reports that
	}
	err := s.runErr
	if err == nil {
		// gnet.Run returns nil even when an error stopped the engine; it
		// only logs it.
		err = errors.New("stopped by itself")
		if cause, ok := s.cause.Load().(string); ok {
			err = fmt.Errorf("stopped by itself after: %s", cause)
		}
	}
	e.err = fmt.Errorf("gnet: engine on %s: %w", s.addr, err)
	e.draining = true
	for _, o := range e.servers {
		if o != s {
			go o.eng.Stop(context.Background())
		}
	}
	go func() {
		for _, o := range e.servers {
			<-o.ran
		}
		e.doneOnce.Do(func() { close(e.doneCh) })
	}()
}

// OnBoot records the engine, so that Listen can return.
func (s *server) OnBoot(eng gnet.Engine) gnet.Action {
	s.eng = eng
	// gnet does not say which port ":0" got; ask the listener itself, here
	// on gnet's goroutine: the listener's fields are gnet's, and it closes
	// them from this goroutine when it stops.
	if s.unixPath != "" {
		s.bootErr = s.linkUnix()
		close(s.booted)
		return gnet.None
	}
	fd, err := eng.Dup()
	if err == nil {
		var sa unix.Sockaddr
		sa, err = unix.Getsockname(fd)
		if err != nil {
			err = os.NewSyscallError("getsockname", err)
		}
		switch {
		case !s.keepFD:
			unix.Close(fd)
			s.bound = sockaddr.ToNet(sa)
		case err != nil:
			unix.Close(fd)
		default:
			s.fd, s.family = fd, unix.AF_INET6
			if _, ok := sa.(*unix.SockaddrInet4); ok {
				s.family = unix.AF_INET
			}
			s.bound = sockaddr.ToNetUDP(sa)
		}
	}
	s.bootErr = err
	close(s.booted)
	return gnet.None
}

// linkUnix gives the socket gnet bound at s.bindPath its real path: link
// fails if anything took the path since Prepare, so a live server's socket
// is never replaced. It records the file for removal at stop.
func (s *server) linkUnix() error {
	if err := unix.Link(s.bindPath, s.unixPath); err != nil {
		return fmt.Errorf("gnet: %s: %w", s.unixPath, os.NewSyscallError("link", err))
	}
	unix.Unlink(s.bindPath)
	file, err := unixsock.Bound(s.unixPath)
	if err != nil {
		unix.Unlink(s.unixPath)
		return err
	}
	s.file = file
	s.bound = &net.UnixAddr{Name: s.unixPath, Net: "unix"}
	return nil
}

// OnOpen applies the Admission, if any, then makes the connection's
// handler and consults it. gnet has registered the connection by then
// (its accept loop is its own): a refused peer costs gnet's registration,
// but no handler and no conn. It gets no context, so OnClose, which gnet
// calls for it too, leaves it be.
func (s *server) OnOpen(gc gnet.Conn) ([]byte, gnet.Action) {
	var peer netip.Addr
	if adm := s.e.cfg.Admission; adm != nil {
		// A Unix socket's peer has no IP: admitted, as on the native loop.
		if peer = reactor.PeerOf(gc.RemoteAddr()); peer.IsValid() && !adm.Admit(peer) {
			return nil, gnet.Close
		}
	}
	g := &conn{gc: gc, s: s, id: s.e.made.Add(1), peer: peer}
	gc.SetContext(g)
	g.enter()
	defer g.leave()
	if g.h = s.f(g); g.h == nil {
		return nil, gnet.Close
	}
	s.idle.add(g)
	return nil, g.pump()
}

// OnTraffic consults the handler with gnet's input.
func (s *server) OnTraffic(gc gnet.Conn) gnet.Action {
	g := gc.Context().(*conn)
	g.touch()
	g.enter()
	defer g.leave()
	return g.pump()
}

// OnClose tells the handler, with io.EOF for a close it did not ask for.
func (s *server) OnClose(gc gnet.Conn, err error) gnet.Action {
	g, ok := gc.Context().(*conn)
	if !ok {
		return gnet.None
	}
	if g.peer.IsValid() {
		// Once, for a handler or none (a Factory that returned nil).
		s.e.cfg.Admission.Release(g.peer)
		g.peer = netip.Addr{}
	}
	if g.h == nil {
		return gnet.None
	}
	s.idle.remove(g)
	if !g.closed {
		g.closed = true
		if err == nil && !g.closeReq {
			err = io.EOF
		}
		g.closeErr = err
	}
	if g.inCB {
		// gnet closes a connection inside Conn.Write when the write
		// fails: HandleClose waits until the handler call that wrote has
		// returned (leave), as on the native loop.
		g.closeLater = true
		return gnet.None
	}
	g.handleClose()
	return gnet.None
}

// handleClose tells the handler that its connection is closed.
func (g *conn) handleClose() {
	if ch, ok := g.h.(reactor.CloseHandler); ok {
		ch.HandleClose(g.closeErr)
	}
}

// maxRounds bounds the handler calls of one callback, as the native loop's
// budget does, so that a handler that wants to send but writes nothing
// cannot hold the gnet loop and its other connections.
const maxRounds = 16

// pump calls the handler while it wants what gnet has for it, at most
// maxRounds rounds. gnet calls OnTraffic again while input waits; a handler
// that still wants to send after that many rounds (gnet's Write takes all,
// so only one that does not write) is consulted again at its next event,
// not from gnet's task queue, which runs queued tasks back to back and so
// would let it hold the loop.
func (g *conn) pump() gnet.Action {
	if g.finishing && g.gc.InboundBuffered() > 0 {
		g.gc.Discard(-1) // nobody will read it: drop it, but do not close on it
	}
	for i := 0; !g.closeReq && !g.closed && i < maxRounds; i++ {
		did := false
		if !g.finishing && g.gc.InboundBuffered() > 0 && g.h.WantsRecv() {
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
	if g.finishing && !g.h.WantsSend() {
		return g.finishStep()
	}
	return gnet.None
}

// lingerPoll is how often a graceful close looks again at output that is
// not sent yet: nothing tells the adapter when gnet's buffer or the
// kernel's queue empties.
const lingerPoll = 2 * time.Millisecond

// lingerLimit bounds a graceful close's wait for the peer's FIN, as on the
// native loop.
const lingerLimit = 5 * time.Second

// finishStep moves a graceful close on, on the connection's gnet loop: once
// gnet's buffer and the kernel's queue are empty it sends FIN, and closes
// at once if the peer is silent, or at its FIN (gnet closes on read EOF
// itself), or after lingerLimit.
func (g *conn) finishStep() gnet.Action {
	if g.closed || g.closeReq {
		return gnet.None
	}
	if g.finishAt.IsZero() {
		g.finishAt = time.Now()
	}
	if time.Since(g.finishAt) > lingerLimit {
		// A peer that does not read, or is gone: close anyway.
		g.closeReq = true
		return gnet.Close
	}
	if g.gc.OutboundBuffered() > 0 || sockopt.Unsent(g.gc.Fd()) > 0 {
		time.AfterFunc(lingerPoll, func() { g.later(g.finishStep) })
		return gnet.None
	}
	if !g.shut {
		g.shut = true
		unix.Shutdown(g.gc.Fd(), unix.SHUT_WR)
		time.AfterFunc(lingerLimit, func() { g.later(func() gnet.Action { return gnet.Close }) })
		if g.gc.InboundBuffered() > 0 {
			g.gc.Discard(-1)
		}
		// Input still in the kernel, which gnet has not read yet, would
		// turn the close into an RST: read it off the socket here.
		var buf [4096]byte
		for {
			n, err := unix.Read(g.gc.Fd(), buf[:])
			if n > 0 {
				continue
			}
			if err == nil {
				// The peer's FIN: it has sent all it will; nothing can
				// reset the answer any more.
				g.closeReq = true
				return gnet.Close
			}
			if err != unix.EINTR {
				break
			}
		}
	}
	// Wait for the peer's FIN (gnet closes on read EOF itself), whatever
	// it has sent so far: a client that writes right after connecting may
	// do so after our FIN, and closing first would reset its connection.
	// The timer above bounds the wait.
	return gnet.None
}

// later runs step on the connection's gnet loop, outside its callbacks, and
// closes the connection if step says so.
func (g *conn) later(step func() gnet.Action) {
	g.gc.EventLoop().Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
		if g.closed || g.closeReq {
			return nil
		}
		if step() == gnet.Close {
			g.closeReq = true
			return g.gc.EventLoop().Close(g.gc)
		}
		return nil
	}))
}

// CloseGraceful implements reactor.GracefulCloser: input stops reaching the
// handler, and once it wants to send nothing more the connection closes
// as the native loop's does (see finishStep).
func (g *conn) CloseGraceful() error {
	if g.closed || g.closeReq {
		return reactor.ErrClosed
	}
	if !g.finishing {
		g.finishing = true
		if !g.inCB {
			g.Wake()
		}
	}
	return nil
}

// Read implements reactor.Conn.
func (g *conn) Read(p []byte) (int, error) {
	if g.closed || g.closeReq {
		return 0, reactor.ErrClosed
	}
	if g.gc.InboundBuffered() == 0 {
		return 0, reactor.ErrWouldBlock
	}
	return g.gc.Read(p)
}

// Write implements reactor.Conn. gnet queues what the socket does not take,
// so it never returns ErrWouldBlock.
func (g *conn) Write(p []byte) (int, error) {
	if g.closed || g.closeReq {
		return 0, reactor.ErrClosed
	}
	n, err := g.gc.Write(p)
	if n > 0 {
		g.touch()
	}
	return n, err
}

// Writev implements reactor.Conn with gnet's Writev, which copies into
// gnet's outbound buffer whatever the socket does not take at once. gnet
// reslices the buffers it is given, so it gets a copy of bufs' headers.
func (g *conn) Writev(bufs [][]byte) (int, error) {
	if g.closed || g.closeReq {
		return 0, reactor.ErrClosed
	}
	n, err := g.gc.Writev(append([][]byte(nil), bufs...))
	if n > 0 {
		g.touch()
	}
	return n, err
}

// Close implements reactor.Conn.
func (g *conn) Close() error {
	if g.closed || g.closeReq {
		return reactor.ErrClosed
	}
	g.closeReq = true
	if !g.inCB {
		// Outside this connection's callbacks (a posted function, another
		// connection's handler): gnet's Close would run OnClose, and so
		// HandleClose, inside this call. Close from gnet's task queue
		// instead, after the caller has returned.
		return g.gc.EventLoop().Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
			return g.gc.EventLoop().Close(g.gc)
		}))
	}
	return nil
}

// CloseWrite implements reactor.Conn. It sends FIN only when gnet has no
// output queued ahead of it.
func (g *conn) CloseWrite() error {
	if g.closed || g.closeReq {
		return reactor.ErrClosed // gnet keeps the fd number after closing it: never shut a reused one
	}
	if g.gc.OutboundBuffered() > 0 {
		return fmt.Errorf("%w: CloseWrite with output queued in gnet", reactor.ErrUnsupported)
	}
	return unix.Shutdown(g.gc.Fd(), unix.SHUT_WR)
}

// ReadBuffer implements reactor.Conn: a pooled buffer lent until the
// current callback ends (the handler contract: valid until the handler call
// returns). gnet's loops run in parallel, so one shared buffer would race.
func (g *conn) ReadBuffer() []byte {
	if g.buf == nil {
		g.buf = bufs.Get().(*[]byte)
	}
	return *g.buf
}

// enter and leave bracket every callback that may call the handler.
func (g *conn) enter() { g.inCB = true }

func (g *conn) leave() {
	g.inCB = false
	if g.buf != nil {
		bufs.Put(g.buf)
		g.buf = nil
	}
	if g.closeLater {
		g.closeLater = false
		g.handleClose()
	}
}

// Post implements reactor.Conn: fn runs on the connection's gnet event
// loop, through gnet's task queue, and the handler is consulted after it.
func (g *conn) Post(fn func()) error {
	return g.gc.EventLoop().Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
		fn()
		return g.repump()
	}))
}

// Wake implements reactor.Conn. gnet has no ready list of its own to join,
// so the handler is consulted from gnet's task queue, after the current
// callback.
func (g *conn) Wake() {
	if g.closed || g.closeReq {
		return
	}
	g.gc.EventLoop().Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
		return g.repump()
	}))
}

// repump consults the handler outside a gnet callback.
func (g *conn) repump() error {
	if g.closed || g.closeReq {
		return nil
	}
	g.enter()
	act := g.pump()
	g.leave()
	if act == gnet.Close {
		return g.gc.EventLoop().Close(g.gc)
	}
	return nil
}

// Fd implements reactor.Conn: gnet's connections are not the caller's to
// touch, so -1.
func (g *conn) Fd() int { return -1 }

// LocalAddr implements reactor.Conn. It asks the socket: gnet's LocalAddr is
// the address the listener was configured with, "127.0.0.1:0" for an
// ephemeral port.
func (g *conn) LocalAddr() net.Addr {
	if g.s.unixPath != "" {
		// The socket's own name is the one gnet bound (linkUnix).
		return &net.UnixAddr{Name: g.s.unixPath, Net: "unix"}
	}
	if !g.closed && !g.closeReq {
		if sa, err := unix.Getsockname(g.gc.Fd()); err == nil {
			return sockaddr.ToNet(sa)
		}
	}
	return g.gc.LocalAddr()
}

// RemoteAddr implements reactor.Conn. A Unix peer is a *net.UnixAddr,
// unnamed (Name "") for the usual client, where gnet says "@" on Linux.
func (g *conn) RemoteAddr() net.Addr {
	if g.s.unixPath == "" {
		return g.gc.RemoteAddr()
	}
	if !g.closed && !g.closeReq {
		if sa, err := unix.Getpeername(g.gc.Fd()); err == nil {
			if a, ok := sockaddr.ToNet(sa).(*net.UnixAddr); ok {
				return a
			}
		}
	}
	return &net.UnixAddr{Net: "unix"}
}

// String implements reactor.Conn: its number and its addresses (a Unix
// socket's peer is unnamed, so the number tells them apart).
func (g *conn) String() string {
	return fmt.Sprintf("gnet-conn(#%d %v->%v)", g.id, g.RemoteAddr(), g.LocalAddr())
}

// Dial implements reactor.Engine; the gnet backend only serves.
func (e *engine) Dial(string, string, reactor.Factory) error {
	return fmt.Errorf("%w: the gnet backend serves; dial through gnet.Client instead", reactor.ErrUnsupported)
}

// Post implements reactor.Engine. gnet has no engine-wide task queue, so fn
// runs on a goroutine of its own; Conn.Post reaches a connection's loop.
func (e *engine) Post(fn func()) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.draining {
		return reactor.ErrClosed
	}
	go fn()
	return nil
}

// Shutdown implements reactor.Engine. gnet closes its connections at once
// and writes what it has queued only while the socket takes it: output
// beyond that is dropped (a limit of gnet, see the conformance suite).
func (e *engine) Shutdown(ctx context.Context) error {
	e.mu.Lock()
	if e.draining {
		// Another Shutdown (or a dying engine) is stopping the engines.
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
	// Stop every engine at once: one after another they took a Stop each.
	errs := make(chan error, len(servers))
	for _, s := range servers {
		go func() {
			if s.closing.Load() {
				// Its endpoint closed it already (or is): wait for the end.
				select {
				case <-s.ran:
					errs <- nil
				case <-ctx.Done():
					errs <- ctx.Err()
				}
				return
			}
			// Stop signals the engine, then polls for its end every 500
			// ms; gnet.Run returns as soon as the engine has closed its
			// connections. Wait for whichever says so first, so that
			// Shutdown does not wait out a polling interval, and then end
			// a Stop still polling through its context.
			stopCtx, cancel := context.WithCancel(ctx)
			defer cancel()
			stopped := make(chan error, 1)
			go func() { stopped <- s.eng.Stop(stopCtx) }()
			var err error
			select {
			case <-s.ran:
				cancel()
				<-stopped
			case err = <-stopped:
				if s.closing.Load() {
					err = nil // closed by its endpoint meanwhile: gnet says "in shutdown"
				}
				select {
				case <-s.ran:
				case <-ctx.Done():
					if err == nil {
						err = ctx.Err()
					}
				}
			case <-ctx.Done():
				err = ctx.Err()
			}
			errs <- err
		}()
	}
	var first error
	for range servers {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	// Done says the engines have stopped: when ctx ended first (a handler
	// still running, say), that is later than now.
	closeDone := func() {
		for _, s := range servers {
			<-s.ran
		}
		e.doneOnce.Do(func() { close(e.doneCh) })
	}
	if ctx.Err() == nil {
		closeDone()
	} else {
		go closeDone()
	}
	return first
}

// Done implements reactor.Engine.
func (e *engine) Done() <-chan struct{} { return e.doneCh }

// Err implements reactor.Engine.
func (e *engine) Err() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.err
}

// logger sends gnet's log lines to the Loop's slog.Logger, so gnet does not
// print to stdout, where serve prints its "listening" lines. gnet's Info
// lines are Debug here. It keeps the first error for Err.
type logger struct {
	l *slog.Logger
	s *server
}

// noteCause keeps msg as the server's likely cause of death if it is the
// first error gnet logged.
func (g logger) noteCause(msg string) { g.s.cause.CompareAndSwap(nil, msg) }

func (g logger) Debugf(f string, a ...any) { g.l.Debug("gnet: " + fmt.Sprintf(f, a...)) }
func (g logger) Infof(f string, a ...any)  { g.l.Debug("gnet: " + fmt.Sprintf(f, a...)) }
func (g logger) Warnf(f string, a ...any)  { g.l.Warn("gnet: " + fmt.Sprintf(f, a...)) }
func (g logger) Errorf(f string, a ...any) {
	msg := fmt.Sprintf(f, a...)
	g.noteCause(msg)
	g.l.Error("gnet: " + msg)
}
func (g logger) Fatalf(f string, a ...any) {
	msg := fmt.Sprintf(f, a...)
	g.noteCause(msg)
	g.l.Error("gnet: fatal: " + msg)
}
