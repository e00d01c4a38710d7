package fdpass

import (
	"errors"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgeloop/edgeloop/reactor"
)

// SendTimeout bounds each hand-off to one worker: a worker whose socket
// stays full that long (it stopped reading) is taken for dead, as one
// whose socket is closed. NewDispatcher reads it; a change applies to the
// Dispatchers made after it.
var SendTimeout = 5 * time.Second

// queueLen is how many detached connections may wait for the workers'
// senders, split evenly among the workers' queues, each of at least
// minQueueLen. A worker that stops reading holds at most its queue's share
// (and what its socket buffers) until SendTimeout drops it.
const (
	queueLen    = 1024
	minQueueLen = 64
)

// Dispatcher is the acceptor's side of a worker hand-off: its Factory
// detaches each connection a Loop accepts (reactor.Detach) and queues it
// for the next worker, round robin, skipping a worker whose queue is full;
// each worker has a sender goroutine of its own that sends what is queued
// for it over that worker's Unix socket, then closes the acceptor's copy.
// The Factory never blocks: a worker that is slow, or stopped (SIGSTOP)
// rather than dead, fills its own queue and is passed over, while the
// others go on being fed.
//
// A worker whose send fails (its end is closed: the process died; or
// SendTimeout passed: it stopped reading) is dropped for good, logged
// once, and the connections queued for it, the failed one first, go to
// the other workers (waiting up to SendTimeout for room in their queues).
// A connection is closed instead (its client sees the close) when no
// worker is left (ErrNoWorkers is logged), when every live worker's queue
// is full (queueLen, 1024 in all, split among them), or when it is
// re-dispatched after Close. These drops are logged rate-limited, as
// access logs refusals: the first at once, then at most one line per
// dropLogInterval, saying how many were not logged since the last;
// Dropped counts them all.
type Dispatcher struct {
	log     *slog.Logger
	timeout time.Duration // SendTimeout when made

	mu      sync.Mutex // guards next, closed, the workers' dead and queues against Close
	workers []*worker
	next    int
	closed  bool
	senders sync.WaitGroup

	live    atomic.Int32
	handed  atomic.Uint64
	dropped atomic.Uint64
	drops   dropLog
}

// worker is one worker's socket, queue and state.
type worker struct {
	i     int
	conn  *net.UnixConn // its sender's only
	queue chan *os.File
	dead  bool // guarded by Dispatcher.mu; no more is queued once set
}

// dropLogInterval is the least time between two lines logging dropped
// connections.
const dropLogInterval = 10 * time.Second

// dropLog rate-limits the lines that log dropped connections: a client
// that floods connects while no worker is left must not fill the disk.
type dropLog struct {
	mu         sync.Mutex
	next       time.Time
	suppressed uint64 // drops not logged since the last line
}

// log logs a drop with msg and args, unless a line was logged less than
// dropLogInterval ago; then it only counts it.
func (g *dropLog) log(l *slog.Logger, msg string, args ...any) {
	g.mu.Lock()
	now := time.Now()
	if now.Before(g.next) {
		g.suppressed++
		g.mu.Unlock()
		return
	}
	n := g.suppressed
	g.suppressed, g.next = 0, now.Add(dropLogInterval)
	g.mu.Unlock()
	l.Error(msg, append(args, "not_logged_since_last", n)...)
}

// NewDispatcher starts a Dispatcher that hands connections to workers,
// each the acceptor's end of a Unix stream socket whose other end a worker
// reads with Serve. It owns workers from now on and closes them in Close.
// log receives worker failures and dropped connections (nil:
// slog.Default()).
func NewDispatcher(workers []*net.UnixConn, log *slog.Logger) *Dispatcher {
	if log == nil {
		log = slog.Default()
	}
	d := &Dispatcher{log: log, timeout: SendTimeout}
	per := minQueueLen
	if len(workers) > 0 {
		per = max(queueLen/len(workers), minQueueLen)
	}
	for i, c := range workers {
		d.workers = append(d.workers, &worker{i: i, conn: c, queue: make(chan *os.File, per)})
	}
	d.live.Store(int32(len(workers)))
	d.senders.Add(len(d.workers))
	for _, w := range d.workers {
		go d.send(w)
	}
	return d
}

// Factory is a reactor.Factory (pass d.Factory to Loop.Listen): it detaches
// c and queues it for a worker, without blocking. The handler it returns
// is never called but for HandleClose(reactor.ErrDetached). On a backend
// that cannot detach (gnet) it closes c and logs why.
func (d *Dispatcher) Factory(c reactor.Conn) reactor.Handler {
	f, err := reactor.Detach(c)
	if err != nil {
		d.dropped.Add(1)
		d.log.Error("fdpass: connection not handed off", "conn", c.String(), "err", err)
		c.Close()
		return detached{}
	}
	d.mu.Lock()
	err = d.dispatch(f)
	d.mu.Unlock()
	if err != nil {
		d.drop(f, err, "conn", c.String())
	}
	return detached{}
}

// Sentinels for drop's log; only ErrNoWorkers is exported.
var (
	errQueuesFull = errors.New("fdpass: every worker's hand-off queue is full")
	errClosed     = errors.New("fdpass: dispatcher closed")
)

// dispatch queues f for the next live worker, round robin, whose queue
// has room, without blocking. d.mu must be held. On an error f is not
// queued and the caller drops it.
func (d *Dispatcher) dispatch(f *os.File) error {
	if d.closed {
		return errClosed
	}
	live := false
	for range d.workers {
		w := d.workers[d.next]
		d.next = (d.next + 1) % len(d.workers)
		if w.dead {
			continue
		}
		live = true
		select {
		case w.queue <- f:
			return nil
		default: // full: a slow or stopped worker is passed over
		}
	}
	if !live {
		return ErrNoWorkers
	}
	return errQueuesFull
}

// drop closes f, counts it and logs why, rate-limited.
func (d *Dispatcher) drop(f *os.File, err error, args ...any) {
	f.Close()
	d.dropped.Add(1)
	d.drops.log(d.log, "fdpass: connection closed", append(args, "err", err)...)
}

// handByte is the data byte that carries each descriptor.
var handByte = []byte{'c'}

// send is w's sender: it hands each connection queued for w to w, then
// closes its copy, until Close closes the queue or a send fails; then it
// drops w and re-dispatches what w held. It closes w's socket.
func (d *Dispatcher) send(w *worker) {
	defer d.senders.Done()
	defer w.conn.Close()
	for f := range w.queue {
		w.conn.SetWriteDeadline(time.Now().Add(d.timeout))
		err := Send(w.conn, handByte, f)
		if err == nil {
			d.handed.Add(1)
			f.Close()
			continue
		}
		d.log.Warn("fdpass: worker failed; handing its share to the others", "worker", w.i, "err", err)
		d.live.Add(-1)
		d.mu.Lock()
		w.dead = true // nothing more is queued for w, so the drain below empties it for good
		held := []*os.File{f}
		for more := true; more; {
			select {
			case g, ok := <-w.queue:
				if ok {
					held = append(held, g)
				} else {
					more = false // closed by Close: empty now
				}
			default:
				more = false
			}
		}
		d.mu.Unlock()
		d.redispatch(held)
		return
	}
}

// redispatchPoll is how often redispatch looks for room in a queue.
const redispatchPoll = 10 * time.Millisecond

// redispatch hands the connections a failed worker held to the others.
// Unlike the Factory it runs on the failed worker's sender and may wait: a
// connection that finds every live worker's queue full waits for room, up
// to the send timeout, before it is dropped; one that finds no worker
// left, or the Dispatcher closed, is dropped at once.
func (d *Dispatcher) redispatch(held []*os.File) {
	deadline := time.Now().Add(d.timeout)
	for len(held) > 0 {
		var err error
		d.mu.Lock()
		for len(held) > 0 {
			if err = d.dispatch(held[0]); err != nil {
				break
			}
			held = held[1:]
		}
		d.mu.Unlock()
		if err == nil {
			return
		}
		if errors.Is(err, errQueuesFull) && time.Now().Before(deadline) {
			time.Sleep(redispatchPoll)
			continue
		}
		d.drop(held[0], err)
		held = held[1:]
	}
}

// Live returns how many workers have not failed yet.
func (d *Dispatcher) Live() int { return int(d.live.Load()) }

// Handed returns how many connections were sent to a worker.
func (d *Dispatcher) Handed() uint64 { return d.handed.Load() }

// Dropped returns how many connections were closed instead of handed off.
func (d *Dispatcher) Dropped() uint64 { return d.dropped.Load() }

// Close stops taking connections (the Factory closes them from now on),
// sends those already queued, closes the workers' sockets (each worker's
// Serve then returns) and returns once done. A worker that fails now has
// the connections queued for it closed, not re-dispatched; one that
// stopped reading holds Close for up to SendTimeout. Shut the Loop down
// first, or stop its listener, so that nothing is accepted only to be
// closed.
func (d *Dispatcher) Close() error {
	d.mu.Lock()
	if !d.closed {
		d.closed = true
		for _, w := range d.workers {
			close(w.queue)
		}
	}
	d.mu.Unlock()
	d.senders.Wait()
	return nil
}

// detached is the handler of a connection handed off: it wants nothing.
type detached struct{}

func (detached) WantsRecv() bool   { return false }
func (detached) WantsSend() bool   { return false }
func (detached) HandleRecv() error { return nil }
func (detached) HandleSend() error { return nil }

// maxPerMessage is how many descriptors Serve makes room for per message:
// a Dispatcher sends one, and a sender that batches a few is served too.
const maxPerMessage = 16

// Serve is a worker's side of a hand-off: it receives connections on from
// (a Dispatcher's worker socket) and serves each on l with f's handler
// (Loop.Adopt, loops round robin), until the acceptor closes its end, when
// it returns nil. A message whose descriptors could not all be received
// (ErrTruncated) or came without data is dropped, its descriptors closed,
// and Serve goes on; so is a descriptor Adopt refuses (not a stream
// socket). It returns Loop.Adopt's error once l is shut down, and any other
// error of from. It closes neither from nor l.
func Serve(l *reactor.Loop, from *net.UnixConn, f reactor.Factory) error {
	buf := make([]byte, 64)
	for {
		_, files, err := Recv(from, buf, maxPerMessage)
		switch {
		case isClosed(err):
			return nil
		case errors.Is(err, ErrTruncated), errors.Is(err, ErrNoData):
			continue
		case err != nil:
			return err
		}
		for i, file := range files {
			if err := l.Adopt(file, -1, f); errors.Is(err, reactor.ErrClosed) {
				for _, rest := range files[i+1:] {
					rest.Close()
				}
				return err
			}
		}
	}
}
