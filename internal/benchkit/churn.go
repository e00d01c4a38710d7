package benchkit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/edgeloop/edgeloop/reactor"
	"golang.org/x/sys/unix"
)

// timeReplySize is the TCP time service's answer: 4 bytes, then the close.
const timeReplySize = 4

// redialDelay is how long a churn slot waits before it dials again after a
// failed connection, so that a server that refuses does not make the load
// spin.
const redialDelay = 10 * time.Millisecond

// churn drives connection churn at a TCP time server from one of
// edgeloop's own loops: conns slots each dial, read the 4-byte time until
// the server closes, close and dial again, so that conns connections are
// under way at any time. A connection's latency is from the dial to the
// server's close.
type churn struct {
	l       *reactor.Loop
	addr    string
	done    atomic.Int64 // connections that got the time and the close
	done0   int64        // done at the last reset; the loop goroutine writes it
	failed  atomic.Int64 // connections that failed: refused, reset, short answer
	fail0   int64        // failed at the last reset
	lastErr atomic.Value // error: why the last one failed
	hist    *hdrhistogram.Histogram
	stop    atomic.Bool
	dialFn  reactor.Factory // g.newClient, made once: a method value allocates
	redial  func()          // g.dial, likewise
	// msg is, for the accept rows, what each connection echoes before it
	// resets the connection (acceptClient); nil is the time service's
	// churn (timeClient).
	msg []byte
}

// timeClient is one connection of the churn.
type timeClient struct {
	g     *churn
	c     reactor.Conn
	got   int
	start int64 // when it was dialled, in ns
	ok    bool  // got the time and the close
}

// startChurn starts conns slots of connection churn against addr: against
// the time service if size is 0, else against echo, each connection
// echoing one size-byte message (acceptClient).
func startChurn(addr string, conns, size int) (*churn, error) {
	l, err := reactor.New(reactor.WithLoops(1))
	if err != nil {
		return nil, err
	}
	g := &churn{l: l, addr: addr, hist: newHist()}
	if size > 0 {
		g.msg = bytes.Repeat([]byte{'a'}, size)
	}
	g.dialFn, g.redial = g.newClient, g.dial
	for i := 0; i < conns; i++ {
		if err := l.Dial("tcp", addr, g.dialFn); err != nil {
			g.close()
			return nil, err
		}
	}
	return g, nil
}

// dial starts the next connection of a slot; it runs on the loop
// goroutine. A dial that fails at once (no descriptor, no port) counts as a
// failed connection and is tried again later.
func (g *churn) dial() {
	if g.stop.Load() {
		return
	}
	if err := g.l.Dial("tcp", g.addr, g.dialFn); err != nil {
		g.lastErr.Store(err)
		g.failed.Add(1)
		if _, err := g.l.AfterFunc(redialDelay, g.redial); err != nil && !g.stop.Load() {
			g.failed.Add(1) // the loop is gone: this slot ends
		}
	}
}

// newClient runs on the loop goroutine when a dial begins.
func (g *churn) newClient(c reactor.Conn) reactor.Handler {
	if g.msg != nil {
		return &acceptClient{g: g, c: c, start: time.Now().UnixNano()}
	}
	return &timeClient{g: g, c: c, start: time.Now().UnixNano()}
}

// WantsRecv implements reactor.Handler.
func (t *timeClient) WantsRecv() bool { return true }

// WantsSend implements reactor.Handler: the client sends nothing.
func (t *timeClient) WantsSend() bool { return false }

// HandleSend implements reactor.Handler; it is never called.
func (t *timeClient) HandleSend() error { return nil }

// HandleRecv reads the time until the server's close, then closes.
func (t *timeClient) HandleRecv() error {
	for {
		n, err := t.c.Read(t.c.ReadBuffer())
		t.got += n
		switch {
		case err == reactor.ErrWouldBlock:
			return nil
		case err == io.EOF:
			if t.got != timeReplySize {
				return fmt.Errorf("benchkit: time service sent %d bytes, want %d", t.got, timeReplySize)
			}
			t.ok = true
			now := time.Now().UnixNano()
			t.g.hist.RecordValue((now - t.start) / 1e3)
			t.g.done.Add(1)
			// The server closed first, so the TIME_WAIT of a plain close
			// would be the server's: 20-50k of them a second, past
			// tcp_max_tw_buckets in a few seconds, and each a 4-tuple a
			// later SYN from a reused client port must get past. An
			// abortive close (SO_LINGER 0) resets the connection instead,
			// on both sides, and leaves no TIME_WAIT anywhere. The
			// server's socket is done either way: it has sent all and is
			// only waiting for our close.
			if fd := t.c.Fd(); fd >= 0 {
				unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
			}
			return t.c.Close()
		case err != nil:
			return err
		}
		if t.got > timeReplySize {
			return fmt.Errorf("benchkit: time service sent %d bytes, want %d", t.got, timeReplySize)
		}
	}
}

// HandleClose implements reactor.CloseHandler: the slot dials again.
func (t *timeClient) HandleClose(err error) {
	t.g.closed(t.ok, err, t.got, timeReplySize)
}

// closed ends one connection of a slot, which dials again: at once after
// a connection that did what it came for (ok), after redialDelay after one
// that failed, counting the failure; got and want are the bytes it
// received and awaited, which say what failed if err does not.
func (g *churn) closed(ok bool, err error, got, want int) {
	if g.stop.Load() {
		return
	}
	if !ok || (err != nil && !errors.Is(err, reactor.ErrClosed)) {
		if err == nil {
			err = fmt.Errorf("benchkit: connection closed after %d of the %d bytes it awaited", got, want)
		}
		g.lastErr.Store(err)
		g.failed.Add(1)
		if _, err := g.l.AfterFunc(redialDelay, g.redial); err != nil {
			g.failed.Add(1) // the loop is gone: this slot ends
		}
		return
	}
	g.dial()
}

// failFast is how many connections may fail before the first success
// before the churn gives up on the server: one that never answers right
// would otherwise fail again every redialDelay until the window ends.
const failFast = 100

// err reports a server that has failed failFast connections and answered
// none: a failure now and then is counted, not an error.
func (g *churn) err() error {
	if n := g.failed.Load(); n >= failFast && g.done.Load() == 0 {
		err, _ := g.lastErr.Load().(error)
		return fmt.Errorf("benchkit: %d time connections failed and none got the time: %v", n, err)
	}
	return nil
}

// reset clears the histogram on the loop goroutine and counts connections
// from now.
func (g *churn) reset() error {
	done := make(chan struct{})
	if err := g.l.Post(func() {
		g.hist.Reset()
		g.done0, g.fail0 = g.done.Load(), g.failed.Load()
		close(done)
	}); err != nil {
		return err
	}
	<-done
	return nil
}

// count is the connections completed since reset.
func (g *churn) count() (int64, error) { return g.done.Load() - g.done0, nil }

// stats reads the connections, their latencies and the failures since
// reset, on the loop goroutine.
func (g *churn) stats() (probeStats, error) {
	ch := make(chan probeStats, 1)
	if err := g.l.Post(func() {
		ch <- probeStats{
			n:    g.done.Load() - g.done0,
			p50:  float64(g.hist.ValueAtQuantile(50)),
			p99:  float64(g.hist.ValueAtQuantile(99)),
			p999: float64(g.hist.ValueAtQuantile(99.9)),
			lost: g.failed.Load() - g.fail0,
		}
	}); err != nil {
		return probeStats{}, err
	}
	return <-ch, nil
}

func (g *churn) close() {
	g.stop.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	g.l.Shutdown(ctx)
}

// acceptClient is one connection of an accept row: it echoes one message
// and then resets the connection, so that the server sees its peer close,
// as a server does when clients leave, and no TIME_WAIT is left anywhere.
// Its latency is from the dial to the echo.
type acceptClient struct {
	g        *churn
	c        reactor.Conn
	off, got int // bytes of the message sent and received
	start    int64
	ok       bool // got the echo
}

// WantsRecv implements reactor.Handler.
func (a *acceptClient) WantsRecv() bool { return true }

// WantsSend implements reactor.Handler: the message, once connected.
func (a *acceptClient) WantsSend() bool { return a.off < len(a.g.msg) }

// HandleSend writes what the socket takes of the message.
func (a *acceptClient) HandleSend() error {
	n, err := a.c.Write(a.g.msg[a.off:])
	a.off += n
	if err != nil && err != reactor.ErrWouldBlock {
		return err
	}
	return nil
}

// HandleRecv reads the echo; once all of it is in, it resets the
// connection.
func (a *acceptClient) HandleRecv() error {
	for {
		n, err := a.c.Read(a.c.ReadBuffer())
		a.got += n
		switch {
		case a.got > len(a.g.msg):
			return fmt.Errorf("benchkit: %d bytes back for a %d byte message", a.got, len(a.g.msg))
		case a.got == len(a.g.msg):
			a.ok = true
			now := time.Now().UnixNano()
			a.g.hist.RecordValue((now - a.start) / 1e3)
			a.g.done.Add(1)
			// The abortive close: an RST the server reads as its peer's
			// end, and no TIME_WAIT on either side.
			if fd := a.c.Fd(); fd >= 0 {
				unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
			}
			return a.c.Close()
		case err == reactor.ErrWouldBlock:
			return nil
		case err == io.EOF:
			return fmt.Errorf("benchkit: echo closed after %d of %d bytes", a.got, len(a.g.msg))
		case err != nil:
			return err
		}
	}
}

// HandleClose implements reactor.CloseHandler: the slot dials again.
func (a *acceptClient) HandleClose(err error) {
	a.g.closed(a.ok, err, a.got, len(a.g.msg))
}
