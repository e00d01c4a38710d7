package stdnet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/edgeloop/edgeloop/internal/acceptfail"
	"github.com/edgeloop/edgeloop/internal/sockopt"
	"github.com/edgeloop/edgeloop/internal/unixsock"
	"github.com/edgeloop/edgeloop/reactor"
	"golang.org/x/sys/unix"
)

// Engine starts Go's net package under reactor.Loop, a goroutine per
// connection; pass it to reactor.WithEngine.
func Engine(cfg reactor.Config) (reactor.Engine, error) {
	// A goroutine per connection means a read buffer per connection, the
	// size io.Copy uses unless the Loop's is smaller; that is this
	// backend's cost.
	e := &netEngine{
		readBuffer: min(cfg.ReadBuffer, 32<<10),
		log:        cfg.Logger,
		conns:      make(map[*netConn]struct{}),
		eps:        make(map[*netEndpoint]struct{}),
		doneCh:     make(chan struct{}),
		stopAccept: make(chan struct{}),
		epoch:      time.Now(),
		adm:        cfg.Admission,
	}
	if e.log == nil {
		e.log = slog.Default()
	}
	e.dialCtx, e.stopDials = context.WithCancel(context.Background())
	e.startIdleSweep(cfg.IdleTimeout)
	return e, nil
}

// netEngine runs each connection in its own goroutine with blocking I/O
// through Go's net package, like Python's ThreadingTCPServer. The blocking
// read happens outside handler calls; HandleRecv then takes what it brought.
type netEngine struct {
	readBuffer int
	log        *slog.Logger
	adm        reactor.Admission // decides at accept (reactor.WithAdmission); nil admits all
	mu         sync.Mutex
	lns        []net.Listener
	files      map[net.Listener]*unixsock.File // a Unix listener's socket file, removed at Shutdown
	conns      map[*netConn]struct{}
	made       atomic.Uint64             // connections started, for their names (String)
	eps        map[*netEndpoint]struct{} // datagram endpoints, closed at Shutdown
	idle       idleSweep
	epoch      time.Time // the origin of activity stamps (monotonic)
	draining   bool
	deadline   time.Time // Shutdown's deadline, for flushing writes
	// stopAccept is closed by Shutdown: an accept loop pausing after a
	// failure returns at once rather than at the end of its pause.
	stopAccept chan struct{}
	wg         sync.WaitGroup
	doneCh     chan struct{}
	doneOnce   sync.Once
	// dialCtx ends at Shutdown, abandoning connects still in progress, as
	// the native loop does; net.Dial alone waits for the kernel's timeout.
	dialCtx   context.Context
	stopDials context.CancelFunc
}

// netConn is one connection of the net backend.
type netConn struct {
	e    *netEngine
	id   uint64     // its number among the engine's connections, for String
	peer netip.Addr // admitted by the engine's Admission, released when run ends; zero if none
	nc   net.Conn
	mu   sync.Mutex // serializes handler calls and posted functions
	buf  []byte
	in   []byte // input the last blocking read brought, not yet taken
	rerr error  // the error that read ended with, reported after in
	eof  bool

	closed    bool
	closeErr  error
	calling   bool          // in the Factory or a handler call: no read is under way (Detach)
	finishing bool          // CloseGraceful: close once the handler has sent all
	wake      chan struct{} // a posted function may have changed the handler's wants
	forced    atomic.Bool   // Shutdown's deadline passed: closed under the handler's feet
	// sentDraining: the handler still had output when Shutdown began, so
	// the peer is mid-conversation and its FIN is waited for.
	sentDraining bool
	ncMu         sync.Mutex // guards nc for kick and force, which must not wait for mu
	// active is when a byte last moved (netEngine.clock), for the idle
	// sweep; idled says the sweep closed the connection for it.
	active atomic.Int64
	idled  atomic.Bool
}

// Listen implements reactor.Engine: net.Listen and an accept goroutine.
func (e *netEngine) Listen(network, address string, f reactor.Factory) (net.Addr, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.draining {
		return nil, reactor.ErrClosed
	}
	var file *unixsock.File
	if network == "unix" {
		// As the native loop: a stale file goes, a live server's stays,
		// and the file is removed at Shutdown only if it is still ours.
		address = unixsock.Path(address)
		if _, err := unixsock.Sockaddr(address); err != nil {
			return nil, err
		}
		if err := unixsock.Prepare(address); err != nil {
			return nil, err
		}
	}
	ln, err := net.Listen(network, address)
	if err != nil {
		return nil, err
	}
	if ul, ok := ln.(*net.UnixListener); ok {
		// Go's Close unlinks the path whatever file is there by then,
		// a successor's socket included: the File's Remove checks.
		ul.SetUnlinkOnClose(false)
		if file, err = unixsock.Bound(address); err != nil {
			ln.Close()
			return nil, err
		}
	}
	e.lns = append(e.lns, ln)
	if file != nil {
		if e.files == nil {
			e.files = make(map[net.Listener]*unixsock.File)
		}
		e.files[ln] = file
	}
	e.wg.Add(1)
	go e.acceptLoop(ln, f)
	return ln.Addr(), nil
}

// acceptPause bounds the pause of an accept loop after a failure: it starts
// at a fifth of it and doubles. Go's poller reports no readiness when
// descriptors are freed, so the loop looks again after the pause; the native
// loop's listener rests as long (reactor's acceptRetry). net/http goes up to
// a second, but it logs every failure; this logs a run once.
var acceptPause = 100 * time.Millisecond

// backlogQuiet is how long an accept must find nothing to take, during a run
// of failures, for the loop to deem the backlog empty and the run over. Go's
// Accept waits out EAGAIN itself, so a deadline is the only way to see it.
//
// Go's Accept returns os.ErrDeadlineExceeded without calling accept4 when
// the deadline has already passed, so a loop descheduled for longer than
// this between SetDeadline and Accept ends the run with connections still in
// the backlog: the next failure starts a new run, two log lines more, and
// nothing is lost. A listener without SetDeadline never ends a run this way,
// only by runQuiet.
var backlogQuiet = 20 * time.Millisecond

// runQuietPauses is how many acceptPauses must pass without a failure for an
// accept that works to end a run. While descriptors are short, a failure
// recurs within one pause plus the accepts that the descriptors freed
// meanwhile allow; ten pauses leave room for a burst of those and for a
// noisy scheduler, and still end a run a second after the last shortage
// with the default pause. A busy server needs this: at 50 connections a
// second or more, no accept ever waits backlogQuiet for nothing.
const runQuietPauses = 10

// acceptLoop accepts on ln until it closes. A failed accept never ends it:
// an error of the connection's own (acceptfail.Retry) is skipped at once,
// any other pauses the loop (acceptPause) while the connections wait in the
// backlog and live ones go on. A run of such failures is logged once when
// it starts and once when it ends (acceptfail.Episode): when the backlog is
// empty again (an accept waited backlogQuiet for nothing), or when an accept
// works runQuietPauses pauses after the last failure. Shutdown ends a pause
// at once.
func (e *netEngine) acceptLoop(ln net.Listener, f reactor.Factory) {
	defer e.wg.Done()
	var failed acceptfail.Episode
	var pause time.Duration
	var lastFail time.Time
	runQuiet := runQuietPauses * acceptPause
	dl, _ := ln.(interface{ SetDeadline(time.Time) error })
	for {
		if failed.Failing() && dl != nil {
			// The run lasts until an accept waits for nothing to take,
			// not until the first that works: at its descriptor limit, a
			// server under load accepts one connection per close and
			// fails on the next.
			dl.SetDeadline(time.Now().Add(backlogQuiet))
		}
		nc, err := ln.Accept()
		if err != nil {
			switch {
			case errors.Is(err, net.ErrClosed):
				return
			case errors.Is(err, os.ErrDeadlineExceeded):
				failed.End(e.log, "stdnet", "listener", ln.Addr())
				dl.SetDeadline(time.Time{})
				continue
			case acceptfail.Classify(err) == acceptfail.Retry:
				continue // Go retries ECONNABORTED and EINTR itself, but not EPROTO and the like
			}
			var attrs []any // only the first failure of a run is logged
			if !failed.Failing() {
				attrs = []any{"listener", ln.Addr(), "retry", "after a pause of up to " + acceptPause.String()}
			}
			failed.Fail(e.log, "stdnet", err, attrs...)
			pause = min(max(2*pause, acceptPause/5), acceptPause)
			// A timer, not a sleep: Shutdown waits for this goroutine,
			// and must not wait out the pause.
			timer := time.NewTimer(pause)
			select {
			case <-e.stopAccept:
				timer.Stop()
				return
			case <-timer.C:
			}
			lastFail = time.Now() // after the pause: runQuiet counts accepts, not pausing
			continue
		}
		pause = 0
		if failed.Failing() && time.Since(lastFail) >= runQuiet {
			// A busy backlog is never empty for backlogQuiet, yet no
			// accept has failed for a while: the shortage is over.
			failed.End(e.log, "stdnet", "listener", ln.Addr())
			if dl != nil {
				dl.SetDeadline(time.Time{})
			}
		}
		var peer netip.Addr
		if e.adm != nil {
			// Before the connection's goroutine starts: a refused peer
			// costs an accept and a close. A Unix socket's has no IP
			// and is admitted, as on the native loop.
			if peer = reactor.PeerOf(nc.RemoteAddr()); peer.IsValid() && !e.adm.Admit(peer) {
				nc.Close()
				continue
			}
		}
		e.start(nc, nil, f, peer)
	}
}

// start runs a connection's goroutine; with dial set, it connects first.
// peer is the address an Admission admitted (zero if none), released when
// the connection ends.
func (e *netEngine) start(nc net.Conn, dial func() (net.Conn, error), f reactor.Factory, peer netip.Addr) error {
	nx := &netConn{e: e, nc: nc, wake: make(chan struct{}, 1), id: e.made.Add(1), peer: peer}
	nx.active.Store(e.clock())
	e.mu.Lock()
	if e.draining {
		e.mu.Unlock()
		if nc != nil {
			nc.Close()
		}
		nx.release()
		return reactor.ErrClosed
	}
	e.conns[nx] = struct{}{}
	e.wg.Add(1)
	e.mu.Unlock()
	go nx.run(dial, f)
	return nil
}

// Dial implements reactor.Engine: the connect runs on the connection's
// goroutine, before the Factory.
func (e *netEngine) Dial(network, address string, f reactor.Factory) error {
	if network == "unix" {
		address = unixsock.Path(address) // "unix:///path" as the native loop takes it
	}
	d := func() (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(e.dialCtx, network, address)
	}
	return e.start(nil, d, f, netip.Addr{})
}

func (e *netEngine) isDraining() (bool, time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.draining, e.deadline
}

// run is the connection's goroutine: send while the handler wants to, block
// reading while it wants input, and wait for a posted function otherwise.
func (nx *netConn) run(dial func() (net.Conn, error), f reactor.Factory) {
	defer nx.e.wg.Done()
	defer nx.release() // before Done: after Shutdown, every admission is released
	if dial != nil {
		// Connect before the Factory runs, so that the Conn it gets has a
		// socket behind it (or is closed, with the error for HandleClose).
		nc, err := dial()
		nx.active.Store(nx.e.clock()) // idle from now: a connect is not idleness
		nx.mu.Lock()
		nx.ncMu.Lock()
		nx.nc = nc
		nx.ncMu.Unlock()
		if err != nil {
			nx.closed, nx.closeErr = true, err
		}
		nx.mu.Unlock()
	}
	nx.buf = make([]byte, nx.e.readBuffer)
	nx.mu.Lock()
	nx.calling = true
	h := f(nx)
	nx.calling = false
	nx.mu.Unlock()
	if h == nil {
		nx.finish(h, errors.New("reactor: factory returned no handler"))
		return
	}
	if nx.closed {
		nx.finish(h, nil)
		return
	}
	for {
		if nx.idled.Load() {
			nx.finish(h, reactor.ErrIdleTimeout)
			return
		}
		draining, _ := nx.e.isDraining()
		nx.mu.Lock()
		nx.calling = true
		err := nx.turn(h, draining)
		nx.calling = false
		closed := nx.closed
		wantsRecv := !closed && err == nil && !draining && !nx.finishing && !nx.eof && h.WantsRecv()
		wantsSend := !closed && err == nil && h.WantsSend()
		finishing := nx.finishing
		nx.mu.Unlock()
		switch {
		case err != nil || closed || nx.forced.Load():
			nx.finish(h, err)
			return
		case (draining || finishing) && !wantsSend:
			nx.finishGraceful(h)
			return
		case wantsRecv:
			n, rerr := nx.nc.Read(nx.buf)
			if nx.idled.Load() {
				continue // the sweep closed the socket: not an error for the handler
			}
			if n > 0 {
				nx.touch()
			}
			if isTimeout(rerr) {
				nx.nc.SetReadDeadline(time.Time{}) // a kick, not a failure
				continue
			}
			nx.mu.Lock()
			nx.in, nx.rerr = nx.buf[:n], rerr
			nx.mu.Unlock()
		case !wantsSend:
			<-nx.wake // nothing to do until a posted function changes that
		}
	}
}

// turn calls the handler until it wants nothing it can have right now.
// Called with mu held.
func (nx *netConn) turn(h reactor.Handler, draining bool) error {
	for !nx.closed {
		did := false
		if !draining && !nx.finishing && (len(nx.in) > 0 || nx.rerr != nil) && h.WantsRecv() {
			did = true
			if err := h.HandleRecv(); err != nil {
				return err
			}
		}
		if !nx.closed && h.WantsSend() {
			did = true
			nx.sentDraining = nx.sentDraining || draining
			if err := h.HandleSend(); err != nil {
				return err
			}
		}
		if !did {
			return nil
		}
	}
	return nil
}

// release gives back the connection's admission, if it has one; the
// connection is closed by then.
func (nx *netConn) release() {
	if nx.peer.IsValid() {
		nx.e.adm.Release(nx.peer)
	}
}

// finish closes the connection and tells the handler.
func (nx *netConn) finish(h reactor.Handler, err error) {
	nx.mu.Lock()
	if !nx.closed {
		nx.closed = true
		nx.closeErr = err
	}
	switch {
	case nx.forced.Load():
		nx.closeErr = reactor.ErrShutdown
	case nx.idled.Load():
		nx.closeErr = reactor.ErrIdleTimeout // whatever error the close caused
	}
	if nx.nc != nil {
		nx.nc.Close()
	}
	cerr := nx.closeErr
	nx.mu.Unlock()
	nx.e.mu.Lock()
	delete(nx.e.conns, nx)
	nx.e.mu.Unlock()
	if ch, ok := h.(reactor.CloseHandler); ok && h != nil {
		ch.HandleClose(cerr)
	}
}

// finishGraceful ends a flushed connection at Shutdown: FIN, then discard
// what the peer already sent, so that closing does not reset what was sent.
// It waits until the kernel has sent everything, and a peer still sending
// is read until its FIN, both bounded by the Shutdown deadline.
func (nx *netConn) finishGraceful(h reactor.Handler) {
	if draining, _ := nx.e.isDraining(); nx.eof && !draining {
		// CloseGraceful after the handler read the peer's FIN: no input
		// can follow to draw an RST, so close now, as the native loop does.
		nx.finish(h, nil)
		return
	}
	if tc, ok := nx.nc.(streamConn); ok {
		tc.CloseWrite()
		// Input taken off the socket but never handed over means the peer
		// was sending just now, even if the socket is empty this instant.
		peerSent := len(nx.in) > 0 || nx.sentDraining
		active := peerSent
		nx.in = nil
		draining, deadline := nx.e.isDraining()
		// CloseGraceful outside Shutdown waits for the peer's FIN even if
		// it has sent nothing yet: a client that writes right after
		// connecting may do so after our FIN, and closing first would
		// answer its bytes with an RST that can destroy the answer.
		active = active || (nx.finishing && !draining)
		if deadline.IsZero() {
			// CloseGraceful outside Shutdown: nothing else bounds the
			// wait for the peer's FIN.
			deadline = time.Now().Add(lingerLimit)
		}
		ops := newSockOps(tc, nx.buf)
		unread, eof := ops.discard()
		// The kernel's send queue is output too: a close while it holds
		// unsent bytes, met by the peer's next segment, turns into an RST
		// that discards them. No event says when it empties, so poll, and
		// discard input meanwhile so that a peer that writes before it
		// reads is not stuck.
		for ops.unsentBytes() > 0 && !nx.forced.Load() && (deadline.IsZero() || time.Now().Before(deadline)) {
			time.Sleep(lingerPoll)
			u, e := ops.discard()
			unread, eof = unread || u, eof || e
		}
		if (unread || active) && !eof {
			for !nx.forced.Load() {
				// Shutdown during CloseGraceful's wait for the FIN of a
				// peer that has sent nothing: an idle peer is not waited
				// for at Shutdown, as on the native loop, or a client that
				// keeps the connection open after its answer would hold
				// Shutdown to its deadline. The deadline is set under
				// ncMu, as kick sets its own, so that a Shutdown that
				// begins now either is seen here or kicks the Read below.
				nx.ncMu.Lock()
				draining, _ := nx.e.isDraining()
				idle := draining && !peerSent && !unread
				if !idle {
					tc.SetReadDeadline(deadline)
				}
				nx.ncMu.Unlock()
				if idle {
					break
				}
				n, err := tc.Read(nx.buf)
				if err == nil {
					peerSent = peerSent || n > 0
					continue
				}
				if isTimeout(err) && (deadline.IsZero() || time.Now().Before(deadline)) {
					continue // a kick, not the deadline
				}
				break
			}
		}
	}
	nx.finish(h, nil)
}

// streamConn is a stream connection with a write side of its own to shut
// and a descriptor to ask: *net.TCPConn and *net.UnixConn alike.
type streamConn interface {
	net.Conn
	syscall.Conn
	CloseWrite() error
}

// sockOps reads and asks a connection's socket through one
// syscall.RawConn, with its callbacks made once: a closure passed through
// the RawConn interface escapes, and one per call would cost allocations
// on every graceful close (those of a *net.TCPConn alone used to stay on
// the stack, its RawConn's type being known).
type sockOps struct {
	rc          syscall.RawConn
	buf         []byte
	unread, eof bool
	unsent      int
	discardFn   func(uintptr) bool
	unsentFn    func(uintptr)
}

// newSockOps returns the operations on c's socket, reading into buf, or nil
// if c has no RawConn.
func newSockOps(c syscall.Conn, buf []byte) *sockOps {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil
	}
	s := &sockOps{rc: rc, buf: buf}
	s.discardFn, s.unsentFn = s.discardFd, s.unsentFd
	return s
}

// discard reads and drops what the socket has queued, without blocking. It
// reports whether there was any and whether the peer's FIN came with it.
func (s *sockOps) discard() (unread, eof bool) {
	if s == nil {
		return false, false
	}
	s.unread, s.eof = false, false
	s.rc.Read(s.discardFn)
	return s.unread, s.eof
}

func (s *sockOps) discardFd(fd uintptr) bool {
	for {
		n, err := unix.Read(int(fd), s.buf)
		switch {
		case err == nil && n > 0:
			s.unread = true
			continue
		case err == nil && n == 0:
			s.eof = true
		}
		return true // done, whatever it was: never wait here
	}
}

// unsentBytes returns how many bytes the socket's kernel send queue still
// holds, or 0 if it cannot tell.
func (s *sockOps) unsentBytes() int {
	if s == nil {
		return 0
	}
	s.unsent = 0
	s.rc.Control(s.unsentFn)
	return s.unsent
}

func (s *sockOps) unsentFd(fd uintptr) { s.unsent = sockopt.Unsent(int(fd)) }

// lingerPoll is how often finishGraceful looks again at a kernel send queue
// that is not empty yet, as the native loop does.
const lingerPoll = 2 * time.Millisecond

func isTimeout(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) }

// Read implements reactor.Conn: it hands over what the blocking read brought.
func (nx *netConn) Read(p []byte) (int, error) {
	if nx.closed {
		return 0, reactor.ErrClosed
	}
	if len(nx.in) > 0 {
		n := copy(p, nx.in)
		nx.in = nx.in[n:]
		return n, nil
	}
	if nx.rerr != nil {
		err := nx.rerr
		if err == io.EOF {
			nx.eof = true // sticky: EOF again next time
		} else {
			nx.rerr = nil
		}
		return 0, err
	}
	return 0, reactor.ErrWouldBlock
}

// write blocks until p is written: this backend's Write never returns
// reactor.ErrWouldBlock. During Shutdown it is bounded by the Shutdown deadline.
func (nx *netConn) Write(p []byte) (int, error) {
	if nx.closed {
		return 0, reactor.ErrClosed
	}
	if _, deadline := nx.e.isDraining(); !deadline.IsZero() {
		nx.nc.SetWriteDeadline(deadline)
	}
	n, err := nx.nc.Write(p)
	if n > 0 {
		nx.touch()
	}
	return n, err
}

// Writev implements reactor.Conn with writev(2) (net.Buffers), blocking
// like Write. It copies bufs' slice headers, never the bytes, so bufs is
// left as it was.
func (nx *netConn) Writev(bufs [][]byte) (int, error) {
	if nx.closed {
		return 0, reactor.ErrClosed
	}
	if _, deadline := nx.e.isDraining(); !deadline.IsZero() {
		nx.nc.SetWriteDeadline(deadline)
	}
	nb := append(net.Buffers(nil), bufs...) // WriteTo consumes its receiver
	n, err := nb.WriteTo(nx.nc)
	if n > 0 {
		nx.touch()
	}
	return int(n), err
}

// Close implements reactor.Conn.
func (nx *netConn) Close() error {
	if nx.closed {
		return reactor.ErrClosed
	}
	nx.closed = true
	nx.nc.SetReadDeadline(time.Now()) // the goroutine notices and finishes
	return nil
}

// CloseGraceful implements reactor.GracefulCloser: the connection's
// goroutine closes it once the handler wants to send nothing more, as at
// Shutdown (FIN, discard input until the peer's FIN, at most lingerLimit).
func (nx *netConn) CloseGraceful() error {
	if nx.closed {
		return reactor.ErrClosed
	}
	if !nx.finishing {
		nx.finishing = true
		nx.kick() // it may be blocked in a read for the handler
	}
	return nil
}

// lingerLimit bounds CloseGraceful's wait for the peer's FIN, as on the
// native loop.
const lingerLimit = 5 * time.Second

// CloseWrite implements reactor.Conn.
func (nx *netConn) CloseWrite() error {
	if nx.closed {
		return reactor.ErrClosed
	}
	if tc, ok := nx.nc.(streamConn); ok {
		return tc.CloseWrite()
	}
	return reactor.ErrUnsupported
}

// ReadBuffer implements reactor.Conn: the connection's own buffer.
func (nx *netConn) ReadBuffer() []byte { return nx.buf }

// post runs fn under the connection's lock, in its own goroutine so that a
// post from inside a handler does not deadlock, then wakes the connection.
func (nx *netConn) Post(fn func()) error {
	go func() {
		nx.mu.Lock()
		fn()
		nx.mu.Unlock()
		nx.kick()
	}()
	return nil
}

// kick makes the connection's goroutine look at its handler again. It must
// not take mu: the goroutine may hold it in a blocking Write.
func (nx *netConn) kick() {
	select {
	case nx.wake <- struct{}{}:
	default:
	}
	nx.ncMu.Lock()
	if nx.nc != nil {
		nx.nc.SetReadDeadline(time.Now())
	}
	nx.ncMu.Unlock()
}

// force closes the socket at Shutdown's deadline, which also ends a
// blocking Write the goroutine may be in.
func (nx *netConn) force() {
	nx.forced.Store(true)
	nx.ncMu.Lock()
	if nx.nc != nil {
		nx.nc.Close()
	}
	nx.ncMu.Unlock()
	nx.kick()
}

// LocalAddr implements reactor.Conn; nil if the connection never opened.
func (nx *netConn) LocalAddr() net.Addr {
	if nx.nc == nil {
		return nil
	}
	return unnamed(nx.nc.LocalAddr())
}

// RemoteAddr implements reactor.Conn; nil if the connection never opened.
func (nx *netConn) RemoteAddr() net.Addr {
	if nx.nc == nil {
		return nil
	}
	return unnamed(nx.nc.RemoteAddr())
}

// unnamed gives a Unix address as the other backends do: never nil, and
// Name "" for an unnamed socket, which package net calls "@" on Linux (its
// way of writing an abstract name's leading NUL) or gives as a nil
// *net.UnixAddr.
func unnamed(a net.Addr) net.Addr {
	ua, ok := a.(*net.UnixAddr)
	switch {
	case !ok:
		return a
	case ua == nil:
		return &net.UnixAddr{Net: "unix"}
	case ua.Name == "@" && runtime.GOOS == "linux":
		return &net.UnixAddr{Net: ua.Net}
	}
	return ua
}

// Fd implements reactor.Conn: the socket belongs to package net, so -1.
func (nx *netConn) Fd() int { return -1 }

// Wake implements reactor.Conn: the connection's goroutine consults its
// handler again. Handlers run on their own goroutines here, so this is the
// one Conn method that is safe from another connection's handler.
func (nx *netConn) Wake() { nx.kick() }

// String implements reactor.Conn: its number and its addresses (a Unix
// socket's peer is unnamed, so the number tells them apart).
func (nx *netConn) String() string {
	return fmt.Sprintf("net-conn(#%d %v->%v)", nx.id, nx.RemoteAddr(), nx.LocalAddr())
}

// Err implements reactor.Engine. The net engine does not die by itself: an
// accept error backs off and retries, as net/http does.
func (e *netEngine) Err() error { return nil }

// Post implements reactor.Engine: fn runs on a goroutine of its own.
func (e *netEngine) Post(fn func()) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.draining {
		return reactor.ErrClosed
	}
	go fn()
	return nil
}

// Shutdown implements reactor.Engine. Datagram endpoints close at once:
// what they sent has left already (SendTo writes at once).
func (e *netEngine) Shutdown(ctx context.Context) error {
	e.stopDials()
	e.mu.Lock()
	if !e.draining {
		close(e.stopAccept)
		if e.idle.stop != nil {
			close(e.idle.stop)
		}
	}
	e.draining = true
	e.deadline, _ = ctx.Deadline()
	for _, ln := range e.lns {
		ln.Close()
		if err := e.files[ln].Remove(); err != nil {
			e.log.Error("stdnet: socket file not removed", "err", err)
		}
	}
	conns := make([]*netConn, 0, len(e.conns))
	for nx := range e.conns {
		conns = append(conns, nx)
	}
	eps := make([]*netEndpoint, 0, len(e.eps))
	for ep := range e.eps {
		eps = append(eps, ep)
	}
	e.mu.Unlock()
	for _, nx := range conns {
		nx.kick()
	}
	for _, ep := range eps {
		ep.shutdown()
	}
	finished := make(chan struct{})
	go func() {
		e.wg.Wait()
		e.doneOnce.Do(func() { close(e.doneCh) }) // before finished: Done is closed once Shutdown returns nil
		close(finished)
	}()
	select {
	case <-finished:
		return nil
	case <-ctx.Done():
		e.mu.Lock()
		left := make([]*netConn, 0, len(e.conns))
		for nx := range e.conns {
			left = append(left, nx)
		}
		leftEps := make([]*netEndpoint, 0, len(e.eps))
		for ep := range e.eps {
			leftEps = append(leftEps, ep)
		}
		e.mu.Unlock() // handlers take nx.mu then e.mu: never hold e.mu while taking nx.mu
		for _, nx := range left {
			nx.force()
		}
		for _, ep := range leftEps {
			ep.forced.Store(true) // its handler is stuck in a call: HandleClose gets ErrShutdown
		}
		return ctx.Err() // the goroutines end as they notice; Done says when
	}
}

// Done implements reactor.Engine.
func (e *netEngine) Done() <-chan struct{} { return e.doneCh }
