package reactor

import (
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgeloop/edgeloop/internal/sockopt"
	"github.com/edgeloop/edgeloop/poller"
	"golang.org/x/sys/unix"
)

// maxRounds bounds the handler calls one connection gets per turn even when
// they move no bytes, so that a handler that never reads cannot hold a turn.
const maxRounds = 16

// acceptCost is what one accepted connection counts against a listener's
// byte budget: 64 accepts per turn with the default budget.
const acceptCost = 1 << 10

// lingerPoll is how often, during Shutdown, the loop looks again at
// connections whose kernel send queue is not empty yet: no event says when
// the peer has acknowledged the last byte.
const lingerPoll = 2 * time.Millisecond

// acceptRetry is how long a listener whose accept failed for want of
// resources (EMFILE and the like) rests before it tries again, unless a
// connection of any loop closes first and frees a descriptor. Without the
// rest, a level-triggered poller, which reports the waiting backlog on every
// Wait, would make the loop spin on the failing accept. A variable only so
// that a test can lengthen it (SetAcceptRetry).
var acceptRetry = 100 * time.Millisecond

// eventLoop is one goroutine that owns a poller and the entries registered
// on it (connections and listeners). Everything in it but the task queue is
// touched only by that goroutine.
type eventLoop struct {
	id        int // index in the group, for String
	p         poller.Poller
	lt        poller.LevelTriggered // non-nil when p reports levels, not edges
	events    []poller.Event
	table     *fdTable    // the group's: entries by descriptor, of every loop
	ready     []*conn     // entries to serve this turn
	carry     []*conn     // entries that ran out of budget, served after the next turn's events
	spare     []*conn     // the previous turn's ready list, reused
	buf       []byte      // shared read buffer (Conn.ReadBuffer)
	wv        writevState // what rawWritev reuses, per OS
	rx        *rxBatch    // datagrams received, for the endpoint being served (nil: no endpoint yet)
	tx        *txBatch    // datagrams queued by the endpoint being served
	dgramSize int         // largest datagram received whole (WithDatagramSize)
	dgramRecv int         // bytes of the receive vector
	budget    int         // bytes per entry per turn
	spent     int         // bytes the entry being served has moved this turn
	gen       uint32
	turns     uint64 // loop turns so far, for tests that check the loop does not spin
	tick      uint32 // the loop's clock in milliseconds (wraps), stamped on active connections
	live      int    // open connections, listeners not counted
	log       *slog.Logger

	// depth counts handler calls (and Factory, task, HandleClose calls) in
	// progress; closes made inside one are reported after it returns.
	depth   int
	closing []closed

	lingering  []*conn       // closing gracefully: waiting for the kernel to send all
	lingerDue  time.Duration // when the loop looks at them again (its clock)
	finWait    []*conn       // CloseGraceful: sent all, waiting for the peer's FIN
	finWaitDue time.Duration // when sweepFinWait runs next

	resting   []*conn // listeners whose accept failed, until restUntil or a close
	restUntil time.Time

	start  time.Time     // the loop's clock counts from here (monotonic)
	now    time.Duration // the loop's clock, read once per turn
	timers timers        // pending timers, earliest first
	// timersStopped counts the stopped timers still in the heap; Stop,
	// from any goroutine, adds to it.
	timersStopped atomic.Int64
	idle          idleSweep // closes connections idle past WithIdleTimeout

	draining bool // Shutdown began: no more reads for handlers, close when flushed
	stopped  bool
	err      error // why run ended, if not Shutdown; read after done is closed

	mu       sync.Mutex // guards tasks, inbox and exited
	tasks    []func()
	running  []func()
	hasTasks atomic.Bool
	exited   bool
	done     chan struct{}

	// The hand-off (WithBalance other than BalanceReusePort): connections
	// that another loop accepted for this one wait in inbox, guarded by mu,
	// until this loop takes them all in one go. The accepting loop sets
	// hasInbox and wakes this one once per accept batch (toWake), not per
	// connection.
	inbox    []handoff
	arrived  []handoff // the inbox as last taken, its array reused
	hasInbox atomic.Bool
	toWake   []*eventLoop // loops this one handed connections to in the batch under way
	// load counts the stream connections open on this loop or waiting in
	// its inbox, for BalanceLeastConns, which reads it from the accepting
	// loop without a lock. This loop updates it, but for the hand-off,
	// which counts a connection on its target at once: a burst accepted in
	// one batch would otherwise all go to the same loop.
	load atomic.Int64
	// gone is set when the loop exits, so that a spreading listener of
	// another loop stops picking it (its load, 0, would win every time).
	gone atomic.Bool
	// restWake is set by another loop's close while this one has a
	// resting listener (fdTable.freed): try the accept again.
	restWake atomic.Bool

	lockThread bool // WithLockOSThread

	// WithAdmission: adm decides at accept; peers holds the peer of each
	// admitted connection on this loop, by descriptor, for its Release
	// (nil without adm). A side table, not a conn field, so that a conn
	// stays in its 48-byte size class, and not getpeername at close, which
	// fails (ENOTCONN) once the peer has reset the connection.
	adm   Admission
	peers map[int32]netip.Addr
	sa    acceptAddr // the sockaddr accept fills when adm is set, per OS

	// Test seams, set only by export_test.go on the loop goroutine. accept
	// takes a connection off a listener (the platform's accept; tests make
	// it fail). tasksTaken, if set, runs in unlockTasks.
	accept     func(lfd int) (int, error)
	tasksTaken func()
}

// entry kinds: each has its own rule for when a read means "drained".
const (
	kindStream   uint8 = iota // a TCP connection: a short read drains, but for urgent data or a FIN
	kindListener              // a listening socket: only EAGAIN drains
	kindPacket                // a datagram socket: a short batch (recvmmsg) or EAGAIN drains
)

// closed is a connection whose HandleClose is still to run.
type closed struct {
	c   *conn
	err error
}

func newEventLoop(id int, p poller.Poller, t *fdTable, o *options) *eventLoop {
	l := &eventLoop{
		id:        id,
		p:         p,
		table:     t,
		events:    make([]poller.Event, o.events),
		buf:       make([]byte, o.readBuffer),
		dgramSize: o.dgramSize,
		dgramRecv: o.readBuffer,
		budget:    o.budget,
		gen:       1,
		start:     time.Now(),
		log:       o.logger,
		done:      make(chan struct{}),
		accept:    accept,

		lockThread: o.lockThread,
	}
	if o.admission != nil {
		l.adm, l.peers = o.admission, make(map[int32]netip.Addr)
	}
	l.lt, _ = p.(poller.LevelTriggered)
	l.startIdleSweep(o.idle)
	return l
}

// token packs fd and generation.
func token(fd int32, gen uint32) poller.Token {
	return poller.Token(uint32(fd)) | poller.Token(gen)<<32
}

// run is the loop. It returns after Shutdown closed the last connection, or
// when the poller fails.
func (l *eventLoop) run() {
	// The loop is not locked to its thread unless WithLockOSThread asks:
	// epoll's Wait parks the goroutine on the runtime's netpoller, and a
	// locked goroutine woken from there would be handed to its own thread
	// by another, at a futex wake-up per turn. rawRead and rawWrite need no
	// lock: they never block.
	if l.lockThread {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
	}
	defer close(l.done)
	for !l.stopped {
		n, err := l.p.Wait(l.events, l.waitTimeout())
		l.turns++
		l.now = l.clock()
		l.tick = uint32(l.now / time.Millisecond)
		if err != nil {
			l.err = err
			l.log.Error("reactor: poller failed; closing its connections", "err", err)
			break
		}
		for _, ev := range l.events[:n] {
			l.dispatch(ev)
		}
		if l.hasInbox.Load() {
			l.takeInbox()
		}
		if l.hasTasks.Load() {
			l.runTasks()
		}
		if len(l.timers) > 0 {
			l.runTimers()
			l.compactTimers()
		}
		if len(l.finWait) > 0 && l.now >= l.finWaitDue {
			l.sweepFinWait()
		}
		if len(l.lingering) > 0 && l.now >= l.lingerDue {
			// Every lingerPoll, not every turn: a busy loop turns far
			// more often, and each look is an ioctl (SIOCOUTQ).
			for _, c := range l.lingering {
				l.schedule(c)
			}
			clear(l.lingering)
			l.lingering = l.lingering[:0]
		}
		if len(l.resting) > 0 && (l.restWake.Swap(false) || !time.Now().Before(l.restUntil)) {
			l.wakeListeners()
		}
		if len(l.carry) > 0 {
			// Entries that ran out of budget last turn go after those the
			// kernel has just signalled: a small request that arrives
			// beside bulk peers waits for none of their carried-over work.
			l.ready = append(l.ready, l.carry...)
			clear(l.carry)
			l.carry = l.carry[:0]
		}
		l.serveReady()
		l.flushTx() // datagrams sent from a task or a timer
		if l.draining && l.live == 0 {
			break
		}
	}
	l.exit()
}

// waitTimeout is how long Wait may block: 0 with work queued, else until
// the earliest of the loop's deadlines, or -1 (no limit) if there is none.
func (l *eventLoop) waitTimeout() time.Duration {
	if len(l.ready) > 0 || len(l.carry) > 0 || l.hasTasks.Load() || l.hasInbox.Load() {
		return 0
	}
	timeout := l.nextTimer()
	earliest := func(due time.Duration) {
		if d := max(due-l.clock(), 0); timeout < 0 || d < timeout {
			timeout = d
		}
	}
	if len(l.lingering) > 0 {
		earliest(l.lingerDue)
	}
	if len(l.finWait) > 0 {
		earliest(l.finWaitDue)
	}
	if len(l.resting) > 0 {
		earliest(l.clock() + time.Until(l.restUntil))
	}
	return timeout
}

// dispatch records one event and queues its entry.
func (l *eventLoop) dispatch(ev poller.Event) {
	fd, gen := int(uint32(ev.Token)), uint32(ev.Token>>32)
	c := l.table.load(fd)
	if c == nil || c.loop != l || c.gen != gen {
		// Stale: the fd was closed, maybe reused, after the event was
		// queued. Reused by another loop, the entry is that loop's, and
		// its generation may well equal the stale one (each loop counts
		// its own): only the loop check keeps this loop off its conn.
		return
	}
	if ev.Readable() || (c.kind == kindPacket && ev.Error()) {
		// A datagram socket's error (an ICMP error on a connected one) is
		// the next receive's to report; it does not end the socket.
		c.flags |= fReadable
	}
	if c.kind == kindPacket {
		if ev.Writable() {
			c.flags |= fWritable
		}
		l.schedule(c)
		return
	}
	if ev.Priority() {
		c.flags |= fUrgent
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
func (l *eventLoop) schedule(c *conn) {
	if c.flags&(fQueued|fClosed) == 0 {
		c.flags |= fQueued
		l.ready = append(l.ready, c)
	}
}

// serveReady serves this turn's ready list. Entries queued while it runs
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
	l.restamp(batch)
	clear(batch)
	l.spare = batch[:0]
}

// serve calls c's handler while it wants what the socket can give, until the
// entry has moved its budget of bytes, re-asking the handler after every
// call.
func (l *eventLoop) serve(c *conn) {
	if c.flags&fConnecting != 0 && !l.finishConnect(c) {
		return
	}
	if c.flags&fLinger != 0 {
		l.linger(c)
		return
	}
	h := c.h
	l.spent = 0
	i := 0
	for ; i < maxRounds && l.spent < l.budget; i++ {
		did := false
		if c.flags&(fReadable|fFinish) == fReadable && !l.draining && h.WantsRecv() {
			did = true
			l.depth++
			err := h.HandleRecv()
			l.depth--
			if err != nil {
				l.closeConn(c, err)
			}
			if c.flags&fClosed != 0 {
				l.reportClosed()
				return
			}
		}
		if c.flags&fWritable != 0 && h.WantsSend() {
			did = true
			l.depth++
			err := h.HandleSend()
			l.depth--
			if err != nil {
				l.closeConn(c, err)
			}
			if c.flags&fClosed != 0 {
				l.reportClosed()
				return
			}
		}
		if len(l.closing) > 0 {
			l.reportClosed() // c's handler closed another connection
		}
		if !did {
			break
		}
	}
	switch {
	case i == maxRounds || l.spent >= l.budget:
		// Out of budget while maybe still ready: the kernel will not say so
		// again, so the loop must remember.
		if c.flags&(fQueued|fClosed) == 0 {
			c.flags |= fQueued
			l.carry = append(l.carry, c)
		}
	case (l.draining || c.flags&fFinish != 0) && !h.WantsSend():
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
func (l *eventLoop) updateInterest(c *conn) {
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

// nextGen returns a fresh registration generation.
func (l *eventLoop) nextGen() uint32 {
	l.gen++
	if l.gen == 0 {
		l.gen = 1
	}
	return l.gen
}

// register adds an open descriptor to the poller and the table as an entry
// of kind with handler h (nil: set by the caller before it is served).
func (l *eventLoop) register(fd int, kind uint8, flags connFlags) (*conn, error) {
	c := &conn{fd: int32(fd), gen: l.nextGen(), kind: kind, flags: flags, active: l.tick, loop: l}
	if err := l.p.Register(fd, token(c.fd, c.gen)); err != nil {
		return nil, err
	}
	if l.lt != nil {
		c.interest = uint8(poller.Readable)
		if flags&fConnecting != 0 {
			// A connect completes with a writable event, which a
			// level-triggered poller reports only when asked for.
			if err := l.lt.SetInterest(fd, token(c.fd, c.gen), poller.Readable|poller.Writable); err != nil {
				l.p.Deregister(fd)
				return nil, err
			}
			c.interest = uint8(poller.Readable | poller.Writable)
		}
	}
	l.table.store(fd, c)
	return c, nil
}

// addConn registers an open socket and makes its handler. The descriptor is
// closed on failure. If f returns no handler the connection is closed.
func (l *eventLoop) addConn(fd int, f Factory, flags connFlags) (*conn, error) {
	c, err := l.register(fd, kindStream, flags)
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	l.live++
	l.load.Add(1)
	c.h = noHandler{}
	l.depth++
	h := f(c)
	l.depth--
	if h != nil {
		c.h = h
	}
	if c.flags&fClosed == 0 && h == nil {
		l.closeConn(c, errors.New("reactor: factory returned no handler"))
	}
	l.reportClosed()
	if c.flags&fClosed == 0 {
		l.schedule(c) // it may want to send first, or have data queued already
	}
	return c, nil
}

// noHandler stands in while the Factory runs, and for a Factory that
// returned nil: it wants nothing.
type noHandler struct{}

func (noHandler) WantsRecv() bool   { return false }
func (noHandler) WantsSend() bool   { return false }
func (noHandler) HandleRecv() error { return nil }
func (noHandler) HandleSend() error { return nil }

// closeConn closes c now; its HandleClose runs once no handler call is in
// progress, so that a handler that closes its own connection never sees
// HandleClose before it returns.
func (l *eventLoop) closeConn(c *conn, err error) {
	if c.flags&fClosed != 0 {
		return
	}
	c.flags |= fClosed
	// Deregister before close: a duplicate of the descriptor elsewhere would
	// keep the registration, and its events, alive.
	l.p.Deregister(int(c.fd))
	// Out of the table before the close: after it, another loop may get
	// the same number and store its own entry there.
	l.table.clear(int(c.fd))
	unix.Close(int(c.fd))
	if c.kind == kindListener {
		if a, ok := c.h.(*acceptor); ok {
			// A Unix socket's file goes with it, unless a successor's
			// socket has taken the path meanwhile.
			if err := a.file.Remove(); err != nil {
				l.log.Error("reactor: socket file not removed", "err", err)
			}
		}
		return
	}
	if c.kind == kindPacket {
		l.dropDgram(c)
	} else {
		l.load.Add(-1)
		if l.peers != nil {
			l.releasePeer(c.fd)
		}
	}
	l.live--
	if len(l.resting) > 0 {
		l.wakeListeners() // a descriptor is free: accept may work again
	}
	if l.table.resting.Load() > 0 {
		l.table.freed(l) // and for other loops' listeners too
	}
	l.closing = append(l.closing, closed{c, err})
	if l.depth == 0 {
		l.reportClosed()
	}
}

// wakeListeners ends the rest of the listeners whose accept failed: they
// try again in the next serve, edge or no edge.
func (l *eventLoop) wakeListeners() {
	for _, c := range l.resting {
		if c.flags&fClosed == 0 {
			c.h.(*acceptor).resting = false
			c.flags |= fReadable
			l.schedule(c)
		}
	}
	clear(l.resting)
	l.resting = l.resting[:0]
	l.table.rested(l)
}

// reportClosed runs the HandleClose of connections closed so far, unless a
// handler call is still in progress. A HandleClose may close more.
func (l *eventLoop) reportClosed() {
	if l.depth > 0 {
		return
	}
	l.depth++
	for i := 0; i < len(l.closing); i++ {
		cl := l.closing[i]
		l.closing[i] = closed{}
		if ch, ok := cl.c.h.(CloseHandler); ok {
			ch.HandleClose(cl.err)
		}
	}
	l.closing = l.closing[:0]
	l.depth--
}

// closeGraceful ends a flushed connection (Shutdown, CloseGraceful) without an RST: it
// sends FIN, discards input the peer already sent, and closes once the
// kernel has sent everything and the peer has nothing more in flight.
func (l *eventLoop) closeGraceful(c *conn) {
	if c.flags&(fEOF|fLinger) == fEOF && !l.draining {
		// CloseGraceful after the handler read the peer's FIN: no input
		// can follow to draw an RST, so a plain close loses nothing (the
		// kernel sends what it holds, then FIN), and costs no shutdown,
		// read and send-queue polls. echo closes every connection so.
		l.closeConn(c, nil)
		return
	}
	if c.flags&fLinger == 0 {
		c.flags |= fLinger
		c.active = l.tick // CloseGraceful's bound counts from here
		unix.Shutdown(int(c.fd), unix.SHUT_WR)
		if l.lt != nil {
			l.updateInterest(c)
		}
	}
	l.linger(c)
}

// linger discards input of a connection whose write side is shut. It closes
// only when closing cannot destroy what was sent: the kernel's send queue is
// empty (a close with unsent bytes, met by the peer's next segment, turns
// into an RST that discards them), and a peer that was active when draining
// began, or has sent since, has sent its FIN (closing with its data in
// flight would answer that data with an RST too). Shutdown's ctx bounds it.
func (l *eventLoop) linger(c *conn) {
	for {
		n, errno := rawRead(int(c.fd), l.buf)
		switch {
		case errno == unix.EINTR:
			continue
		case errno == unix.EAGAIN:
			switch {
			case l.lingerExpired(c):
				l.closeConn(c, nil)
			case sockopt.Unsent(int(c.fd)) > 0:
				l.lingerLater(c) // no event says when it is sent
			case l.draining && c.flags&(fPeerActive|fReadClosed) == 0:
				// Shutdown: a peer idle when it began is not waited for.
				l.closeConn(c, nil)
			case !l.draining && c.flags&fBounded == 0:
				// CloseGraceful: wait for the peer's FIN, whatever it has
				// sent so far. A client that writes right after connecting
				// (a request the service ignores) may do so after our
				// answer and FIN: closing before its bytes arrive would
				// answer them with an RST that can destroy the answer.
				// Not for ever: sweepFinWait bounds it.
				c.flags |= fBounded
				if len(l.finWait) == 0 {
					l.finWaitDue = l.now + finWaitSweep
				}
				l.finWait = append(l.finWait, c)
			}
			return
		case errno != 0:
			l.closeConn(c, nil)
			return
		case n == 0:
			c.flags |= fReadClosed
			if !l.lingerExpired(c) && sockopt.Unsent(int(c.fd)) > 0 {
				l.lingerLater(c)
				return
			}
			l.closeConn(c, nil)
			return
		}
		c.flags |= fPeerActive
	}
}

// finWaitSweep is how often the loop looks for graceful closes that have
// waited lingerLimit for the peer's FIN.
const finWaitSweep = 100 * time.Millisecond

// sweepFinWait closes the connections of finWait whose wait is over, and
// forgets the ones closed meanwhile.
func (l *eventLoop) sweepFinWait() {
	keep := l.finWait[:0]
	for _, c := range l.finWait {
		switch {
		case c.flags&fClosed != 0:
		case l.lingerExpired(c):
			l.closeConn(c, nil)
		default:
			keep = append(keep, c)
		}
	}
	clear(l.finWait[len(keep):])
	l.finWait = keep
	l.finWaitDue = l.now + finWaitSweep
}

// lingerExpired reports whether a CloseGraceful outside Shutdown has waited
// lingerLimit for the kernel to send its answer (a peer that does not read,
// or is gone) or for the peer's FIN: then it closes anyway. Shutdown has
// its ctx instead.
func (l *eventLoop) lingerExpired(c *conn) bool {
	return !l.draining && c.flags&fFinish != 0 && l.tick-c.active > uint32(lingerLimit/time.Millisecond)
}

// lingerLater has the loop look at c again after lingerPoll.
func (l *eventLoop) lingerLater(c *conn) {
	if len(l.lingering) == 0 {
		l.lingerDue = l.now + lingerPoll
	}
	l.lingering = append(l.lingering, c)
}

// finishConnect completes a non-blocking connect once the socket is writable.
func (l *eventLoop) finishConnect(c *conn) bool {
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

// post queues fn for the loop goroutine and wakes it. It is safe from any
// goroutine, the loop's own included, and never waits for fn.
func (l *eventLoop) post(fn func()) error {
	l.mu.Lock()
	if l.exited {
		l.mu.Unlock()
		return ErrClosed
	}
	l.tasks = append(l.tasks, fn)
	l.mu.Unlock()
	l.hasTasks.Store(true)
	if err := l.p.Wake(); err != nil && !errors.Is(err, poller.ErrClosed) {
		return err
	}
	// A closed poller means exit has run: it set exited after fn was
	// queued, then ran the queue, fn included, before closing the poller.
	return nil
}

// runTasks runs what was posted. The flag is cleared before the queue is
// taken, so a post that lands after the swap sets it again.
func (l *eventLoop) runTasks() {
	l.hasTasks.Store(false)
	l.mu.Lock()
	l.tasks, l.running = l.running[:0], l.tasks
	l.unlockTasks()
	for i, fn := range l.running {
		l.depth++
		fn()
		l.depth--
		l.running[i] = nil
		l.reportClosed()
	}
}

// unlockTasks releases the task queue once runTasks has taken it. The test
// hook tasksTaken runs here, at the first moment a Post from another
// goroutine can land after the swap, so that a test can post there.
func (l *eventLoop) unlockTasks() {
	l.mu.Unlock()
	if l.tasksTaken != nil {
		l.tasksTaken()
	}
}

// beginDrain starts Shutdown on this loop: listeners close, handlers get no
// more input, and each connection closes once its handler and the kernel
// have sent all.
func (l *eventLoop) beginDrain() {
	if l.draining {
		return
	}
	l.draining = true
	l.flushTx()
	for c := range l.owned {
		if c.kind == kindListener || c.kind == kindPacket {
			// A datagram socket has no peer to flush to and nothing to
			// wait for: what it queued has just been sent.
			l.closeConn(c, nil)
		}
	}
	for c := range l.owned {
		if c.flags&fConnecting != 0 {
			// A connect still in progress has sent nothing and may take
			// the whole deadline to fail (a peer that drops SYNs): abandon it.
			l.closeConn(c, ErrShutdown)
			continue
		}
		// Mid-conversation - output still to send, or a handler holding the
		// peer back - the peer is likely still sending, so the close must
		// wait for its FIN. Input waiting marks the peer active too, in
		// linger, when it is found and discarded; the readable flag is no
		// proof of it (a read that filled the buffer leaves it set), and an
		// idle peer taken for active would be waited on until ctx ends.
		// A connection already lingering (CloseGraceful has sent all)
		// reads and discards its peer's input, and linger marks the peer
		// active when there is any: its handler's wants say nothing of
		// the peer, and taking them for "holding the peer back" would wait
		// for the FIN of a client that read its answer and keeps the
		// connection open, until ctx ends.
		if c.flags&fLinger == 0 && (c.h.WantsSend() || (c.flags&(fEOF|fConnecting) == 0 && !c.h.WantsRecv())) {
			c.flags |= fPeerActive
		}
		l.schedule(c)
	}
}

// forceClose ends Shutdown when its context is done: every connection still
// open is closed with ErrShutdown.
func (l *eventLoop) forceClose() {
	l.beginDrain()
	for c := range l.owned {
		l.closeConn(c, ErrShutdown)
	}
	l.stopped = true
}

// exit closes whatever is left and the poller, and refuses further posts.
func (l *eventLoop) exit() {
	l.gone.Store(true)
	l.mu.Lock()
	l.exited = true
	l.mu.Unlock()
	l.runTasks() // posted before exited was set; Conn methods now see closed conns
	l.draining = true
	l.takeInbox() // handed over before exited was set: closed, never served
	for c := range l.owned {
		l.closeConn(c, ErrShutdown)
	}
	l.p.Close()
}
