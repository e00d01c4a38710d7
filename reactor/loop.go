package reactor

import (
	"errors"
	"io"
	"log/slog"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgeloop/edgeloop/poller"
	"golang.org/x/sys/unix"
)

// eventLoop is one goroutine that owns a poller and the connections
// registered on it. Everything in it but the task queue is touched only by
// that goroutine.
type eventLoop struct {
	p      poller.Poller
	lt     poller.LevelTriggered // non-nil when p reports levels, not edges
	events []poller.Event
	conns  []*Conn             // indexed by fd
	lns    map[int32]*listener // listeners, token generation 0
	ready  []*Conn             // connections to serve this turn
	spare  []*Conn             // the previous turn's ready list, reused
	buf    []byte              // shared read buffer (Conn.ReadBuffer)
	budget int
	gen    uint32
	turns  uint64 // loop turns so far, for tests that check the loop does not spin
	live   int    // open connections
	log    *slog.Logger

	draining bool // Shutdown began: no more reads for handlers, close when flushed
	stopped  bool

	mu       sync.Mutex // guards tasks and exited
	tasks    []func()
	running  []func()
	hasTasks atomic.Bool
	exited   bool
	done     chan struct{}
}

// listener is a listening socket owned by one loop.
type listener struct {
	fd      int
	factory Factory
}

func newEventLoop(p poller.Poller, o *options) *eventLoop {
	l := &eventLoop{
		p:      p,
		events: make([]poller.Event, o.events),
		lns:    make(map[int32]*listener),
		buf:    make([]byte, o.readBuffer),
		budget: o.budget,
		gen:    1,
		log:    o.logger,
		done:   make(chan struct{}),
	}
	l.lt, _ = p.(poller.LevelTriggered)
	return l
}

// token packs fd and generation; generation 0 marks a listener.
func token(fd int32, gen uint32) poller.Token {
	return poller.Token(uint32(fd)) | poller.Token(gen)<<32
}

// run is the loop. It returns after Shutdown closed the last connection, or
// when the poller fails.
func (l *eventLoop) run() {
	// One OS thread for the loop's life: the raw system calls in rawRead and
	// rawWrite never give up the P, so keeping the thread avoids hand-offs
	// around the blocking epoll_wait as well.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	defer close(l.done)
	for !l.stopped {
		timeout := time.Duration(-1)
		if len(l.ready) > 0 || l.hasTasks.Load() {
			timeout = 0
		}
		n, err := l.p.Wait(l.events, timeout)
		l.turns++
		if err != nil {
			l.log.Error("reactor: poller failed; closing its connections", "err", err)
			break
		}
		for _, ev := range l.events[:n] {
			l.dispatch(ev)
		}
		if l.hasTasks.Load() {
			l.runTasks()
		}
		l.serveReady()
		if l.draining && l.live == 0 {
			break
		}
	}
	l.exit()
}

// dispatch records one event and queues its connection.
func (l *eventLoop) dispatch(ev poller.Event) {
	fd, gen := int32(uint32(ev.Token)), uint32(ev.Token>>32)
	if gen == 0 {
		if ln := l.lns[fd]; ln != nil {
			l.accept(ln)
		}
		return
	}
	if int(fd) >= len(l.conns) {
		return
	}
	c := l.conns[fd]
	if c == nil || c.gen != gen {
		return // stale: the fd was closed, maybe reused, after the event was queued
	}
	if ev.Readable() {
		c.flags |= fReadable
	}
	if ev.Writable() {
		c.flags |= fWritable
	}
	if ev.ReadClosed() {
		c.flags |= fReadClosed
	}
	if ev.Error() || ev.WriteClosed() {
		c.flags |= fHangup | fReadClosed
	}
	l.schedule(c)
}

// schedule puts c on the ready list once.
func (l *eventLoop) schedule(c *Conn) {
	if c.flags&(fQueued|fClosed) == 0 {
		c.flags |= fQueued
		l.ready = append(l.ready, c)
	}
}

// serveReady serves this turn's ready list. Connections queued while it runs
// (budget spent, or scheduled by a handler) wait for the next turn.
func (l *eventLoop) serveReady() {
	batch := l.ready
	l.ready = l.spare[:0]
	for _, c := range batch {
		c.flags &^= fQueued
		if c.flags&fClosed == 0 {
			l.serve(c)
		}
	}
	clear(batch)
	l.spare = batch[:0]
}

// serve calls c's handler while it wants what the socket can give, up to the
// budget, re-asking the handler after every call.
func (l *eventLoop) serve(c *Conn) {
	if c.flags&fConnecting != 0 && !l.finishConnect(c) {
		return
	}
	if c.flags&fLinger != 0 {
		l.linger(c)
		return
	}
	h := c.h
	i := 0
	for ; i < l.budget; i++ {
		did := false
		if c.flags&fReadable != 0 && !l.draining && h.WantsRecv() {
			did = true
			if err := h.HandleRecv(); err != nil {
				l.closeConn(c, err)
				return
			}
			if c.flags&fClosed != 0 {
				return
			}
		}
		if c.flags&fWritable != 0 && h.WantsSend() {
			did = true
			if err := h.HandleSend(); err != nil {
				l.closeConn(c, err)
				return
			}
			if c.flags&fClosed != 0 {
				return
			}
		}
		if !did {
			break
		}
	}
	switch {
	case i == l.budget:
		// Out of budget while maybe still ready: the kernel will not say so
		// again, so the loop must remember.
		l.schedule(c)
	case l.draining && !h.WantsSend():
		l.closeGraceful(c)
		return
	case c.flags&fHangup != 0:
		// Dead both ways and the handler wants nothing it can still get:
		// report why and close.
		l.closeConn(c, sockError(int(c.fd)))
		return
	}
	if l.lt != nil {
		l.updateInterest(c)
	}
}

// updateInterest keeps a level-triggered poller's interest equal to what the
// handler wants, so that it neither spins on unwanted readiness nor misses
// wanted readiness. Write interest is needed only once a write hit EAGAIN.
func (l *eventLoop) updateInterest(c *Conn) {
	var in poller.Interest
	if c.flags&fLinger != 0 || (!l.draining && c.h.WantsRecv()) {
		in |= poller.Readable
	}
	if c.flags&fWritable == 0 && c.h.WantsSend() {
		in |= poller.Writable
	}
	if uint8(in) != c.interest {
		if err := l.lt.SetInterest(int(c.fd), token(c.fd, c.gen), in); err != nil {
			l.closeConn(c, err)
			return
		}
		c.interest = uint8(in)
	}
}

// sockError returns the pending socket error, or io.EOF if there is none.
func sockError(fd int) error {
	v, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
	if err == nil && v != 0 {
		return os.NewSyscallError("read", unix.Errno(v))
	}
	return io.EOF
}

// accept takes connections until EAGAIN: an edge-triggered listener that
// still has a queue would not signal again.
func (l *eventLoop) accept(ln *listener) {
	for !l.draining {
		fd, err := accept(ln.fd)
		switch err {
		case nil:
		case unix.EINTR, unix.ECONNABORTED:
			continue
		case unix.EAGAIN:
			return
		default:
			// EMFILE and the like: the connection stays in the backlog and
			// live connections are untouched.
			l.log.Warn("reactor: accept failed", "err", os.NewSyscallError("accept4", err))
			return
		}
		unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
		l.addConn(fd, ln.factory, fWritable)
	}
}

// addConn registers an open socket and makes its handler.
func (l *eventLoop) addConn(fd int, f Factory, flags connFlags) (*Conn, error) {
	l.gen++
	if l.gen == 0 {
		l.gen = 1 // 0 marks listeners
	}
	c := &Conn{fd: int32(fd), gen: l.gen, flags: flags, loop: l}
	for fd >= len(l.conns) {
		l.conns = append(l.conns[:cap(l.conns)], nil)
	}
	if err := l.p.Register(fd, token(c.fd, c.gen)); err != nil {
		unix.Close(fd)
		return nil, err
	}
	if l.lt != nil {
		c.interest = uint8(poller.Readable)
		if flags&fConnecting != 0 {
			// A connect completes with a writable event, which a
			// level-triggered poller reports only when asked for.
			if err := l.lt.SetInterest(fd, token(c.fd, c.gen), poller.Readable|poller.Writable); err != nil {
				l.p.Deregister(fd)
				unix.Close(fd)
				return nil, err
			}
			c.interest = uint8(poller.Readable | poller.Writable)
		}
	}
	l.conns[fd] = c
	l.live++
	c.h = f(c)
	if c.h == nil {
		l.closeConn(c, errors.New("reactor: factory returned no handler"))
		return nil, nil
	}
	if c.flags&fClosed == 0 {
		l.schedule(c) // it may want to send first, or have data queued already
	}
	return c, nil
}

// closeConn closes c now and tells its handler.
func (l *eventLoop) closeConn(c *Conn, err error) {
	if c.flags&fClosed != 0 {
		return
	}
	c.flags |= fClosed
	// Deregister before close: a duplicate of the descriptor elsewhere would
	// keep the registration, and its events, alive.
	l.p.Deregister(int(c.fd))
	unix.Close(int(c.fd))
	l.conns[c.fd] = nil
	l.live--
	if ch, ok := c.h.(CloseHandler); ok {
		ch.HandleClose(err)
	}
}

// closeGraceful ends a flushed connection during Shutdown without an RST: it
// sends FIN, discards input the peer already sent, and closes once the peer
// has nothing more in flight. A peer still sending is lingered on until its
// FIN or the Shutdown deadline.
func (l *eventLoop) closeGraceful(c *Conn) {
	if c.flags&fLinger == 0 {
		c.flags |= fLinger
		unix.Shutdown(int(c.fd), unix.SHUT_WR)
		if l.lt != nil {
			l.updateInterest(c)
		}
	}
	l.linger(c)
}

// linger discards input of a connection whose write side is shut. A peer
// that was active when draining began, or has sent since, is waited for
// until its FIN (or the Shutdown deadline): closing with its data in flight
// would answer that data with an RST, and an RST makes the peer's kernel
// drop what we sent and it has not read yet. An idle peer is closed at once.
func (l *eventLoop) linger(c *Conn) {
	for {
		n, errno := rawRead(int(c.fd), l.buf)
		switch {
		case errno == unix.EINTR:
			continue
		case errno == unix.EAGAIN:
			if c.flags&(fPeerActive|fReadClosed) == 0 {
				l.closeConn(c, nil)
			}
			return
		case errno != 0 || n == 0:
			l.closeConn(c, nil)
			return
		}
		c.flags |= fPeerActive
	}
}

// finishConnect completes a non-blocking connect once the socket is writable.
func (l *eventLoop) finishConnect(c *Conn) bool {
	if c.flags&(fWritable|fHangup) == 0 {
		return false
	}
	v, err := unix.GetsockoptInt(int(c.fd), unix.SOL_SOCKET, unix.SO_ERROR)
	if err == nil && v != 0 {
		err = os.NewSyscallError("connect", unix.Errno(v))
	}
	if err != nil {
		l.closeConn(c, err)
		return false
	}
	c.flags &^= fConnecting | fHangup
	return true
}

// post queues fn for the loop goroutine and wakes it.
func (l *eventLoop) post(fn func()) error {
	l.mu.Lock()
	if l.exited {
		l.mu.Unlock()
		return ErrClosed
	}
	l.tasks = append(l.tasks, fn)
	l.mu.Unlock()
	l.hasTasks.Store(true)
	return l.p.Wake()
}

// call runs fn on the loop goroutine and waits for its result.
func (l *eventLoop) call(fn func() error) error {
	res := make(chan error, 1)
	if err := l.post(func() { res <- fn() }); err != nil {
		return err
	}
	select {
	case err := <-res:
		return err
	case <-l.done:
		select {
		case err := <-res:
			return err
		default:
			return ErrClosed
		}
	}
}

// runTasks runs what other goroutines posted. The flag is cleared before the
// queue is taken, so a post that lands after the swap sets it again.
func (l *eventLoop) runTasks() {
	l.hasTasks.Store(false)
	l.mu.Lock()
	l.tasks, l.running = l.running[:0], l.tasks
	l.mu.Unlock()
	for i, fn := range l.running {
		fn()
		l.running[i] = nil
	}
}

// beginDrain starts Shutdown on this loop: listeners close, handlers get no
// more input, and each connection closes once its handler has sent all.
func (l *eventLoop) beginDrain() {
	if l.draining {
		return
	}
	l.draining = true
	for fd, ln := range l.lns {
		l.p.Deregister(ln.fd)
		unix.Close(ln.fd)
		delete(l.lns, fd)
	}
	for _, c := range l.conns {
		if c == nil {
			continue
		}
		// Mid-conversation - input waiting, output still to send, or a
		// handler holding the peer back - the peer is likely still sending,
		// so the close must wait for its FIN. Only idle peers close at once.
		if c.flags&fReadable != 0 || c.h.WantsSend() || (c.flags&(fEOF|fConnecting) == 0 && !c.h.WantsRecv()) {
			c.flags |= fPeerActive
		}
		l.schedule(c)
	}
}

// forceClose ends Shutdown when its context is done: every connection still
// open is closed with ErrShutdown.
func (l *eventLoop) forceClose() {
	l.beginDrain()
	for _, c := range l.conns {
		if c != nil {
			l.closeConn(c, ErrShutdown)
		}
	}
	l.stopped = true
}

// exit closes whatever is left and the poller, and refuses further posts.
func (l *eventLoop) exit() {
	l.mu.Lock()
	l.exited = true
	l.mu.Unlock()
	l.runTasks() // posted before exited was set; Conn methods now see closed conns
	l.draining = true
	for fd, ln := range l.lns {
		unix.Close(ln.fd)
		delete(l.lns, fd)
	}
	for _, c := range l.conns {
		if c != nil {
			l.closeConn(c, ErrShutdown)
		}
	}
	l.p.Close()
}
