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
// whose socket is closed.
var SendTimeout = 5 * time.Second

// queueLen is how many detached connections may wait for the sender.
const queueLen = 1024

// Dispatcher is the acceptor's side of a worker hand-off: its Factory
// detaches each connection a Loop accepts (reactor.Detach) and a goroutine
// of its own sends it to the next worker, round robin, over that worker's
// Unix socket, then closes the acceptor's copy. Sending off the loop keeps
// a slow worker from holding the loop.
//
// A worker whose send fails (its end is closed: the process died; or
// SendTimeout passed) is dropped for good, logged once, and the
// connection goes to the next worker. When none is left, the connection
// is closed (its client sees the close) and ErrNoWorkers is logged; so is
// a connection that finds the queue full (queueLen waiting). These drops
// are logged rate-limited, as access logs refusals: the first at once,
// then at most one line per dropLogInterval, saying how many were not
// logged since the last; Dropped counts them all.
type Dispatcher struct {
	log     *slog.Logger
	workers []*net.UnixConn // the sender's only; nil once dead
	next    int

	mu     sync.Mutex // guards queue against Close
	queue  chan *os.File
	closed bool
	done   chan struct{}

	live    atomic.Int32
	handed  atomic.Uint64
	dropped atomic.Uint64
	drops   dropLog
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
	d := &Dispatcher{
		log:     log,
		workers: append([]*net.UnixConn(nil), workers...),
		queue:   make(chan *os.File, queueLen),
		done:    make(chan struct{}),
	}
	d.live.Store(int32(len(workers)))
	go d.send()
	return d
}

// Factory is a reactor.Factory (pass d.Factory to Loop.Listen): it detaches
// c and queues it for a worker. The handler it returns is never called but
// for HandleClose(reactor.ErrDetached). On a backend that cannot detach
// (gnet) it closes c and logs why.
func (d *Dispatcher) Factory(c reactor.Conn) reactor.Handler {
	f, err := reactor.Detach(c)
	if err != nil {
		d.dropped.Add(1)
		d.log.Error("fdpass: connection not handed off", "conn", c.String(), "err", err)
		c.Close()
		return detached{}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.closed {
		select {
		case d.queue <- f:
			return detached{}
		default:
		}
	}
	f.Close()
	d.dropped.Add(1)
	d.drops.log(d.log, "fdpass: connection closed: hand-off queue full or closed", "conn", c.String())
	return detached{}
}

// send hands each queued connection to a worker, then closes its copy.
func (d *Dispatcher) send() {
	defer close(d.done)
	for f := range d.queue {
		d.hand(f)
		f.Close()
	}
	for _, w := range d.workers {
		if w != nil {
			w.Close()
		}
	}
}

// handByte is the data byte that carries each descriptor.
var handByte = []byte{'c'}

// hand sends f to the next live worker, trying each at most once.
func (d *Dispatcher) hand(f *os.File) {
	for range d.workers {
		i := d.next
		d.next = (d.next + 1) % len(d.workers)
		w := d.workers[i]
		if w == nil {
			continue
		}
		w.SetWriteDeadline(time.Now().Add(SendTimeout))
		err := Send(w, handByte, f)
		if err == nil {
			d.handed.Add(1)
			return
		}
		d.log.Warn("fdpass: worker failed; handing its share to the others", "worker", i, "err", err)
		w.Close()
		d.workers[i] = nil
		d.live.Add(-1)
	}
	d.dropped.Add(1)
	d.drops.log(d.log, "fdpass: connection closed", "err", ErrNoWorkers)
}

// Live returns how many workers have not failed yet.
func (d *Dispatcher) Live() int { return int(d.live.Load()) }

// Handed returns how many connections were sent to a worker.
func (d *Dispatcher) Handed() uint64 { return d.handed.Load() }

// Dropped returns how many connections were closed instead of handed off.
func (d *Dispatcher) Dropped() uint64 { return d.dropped.Load() }

// Close stops taking connections (the Factory closes them from now on),
// sends those already queued, closes the workers' sockets (each worker's
// Serve then returns) and returns once done. Shut the Loop down first, or
// stop its listener, so that nothing is accepted only to be closed.
func (d *Dispatcher) Close() error {
	d.mu.Lock()
	if !d.closed {
		d.closed = true
		close(d.queue)
	}
	d.mu.Unlock()
	<-d.done
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
