package reactor

import (
	"fmt"
	"time"

	"github.com/edgeloop/edgeloop/internal/sockopt"
	"github.com/edgeloop/edgeloop/poller"
)

// This file exposes internals of the poller backends to the package's
// external tests (package reactor_test). Everything here reads loop state on
// the loop's own goroutine, through post, so that -race sees no data race.

// CallTimeout bounds every wait in this file for a loop to run a posted
// function. A loop that does not get to it within this time is stuck (a
// handler that blocks, a spin inside one turn) or lost a wake-up; the
// error then says which loop, so the test fails in seconds rather than at
// go test's -timeout.
const CallTimeout = 5 * time.Second

// callWithin is call with a deadline: it runs fn on l's goroutine and waits
// at most d for its result.
func (l *eventLoop) callWithin(d time.Duration, fn func() error) error {
	res := make(chan error, 1)
	if err := l.post(func() { res <- fn() }); err != nil {
		return err
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
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
	case <-timer.C:
		l.mu.Lock()
		queued := len(l.tasks)
		l.mu.Unlock()
		return fmt.Errorf("reactor: event loop %d did not run a posted function within %v "+
			"(%d posted functions queued, task flag %v): the loop is stuck in a turn or lost a wake-up",
			l.id, d, queued, l.hasTasks.Load())
	}
}

// bounded runs fn on l's goroutine within CallTimeout.
func (l *eventLoop) bounded(fn func() error) error { return l.callWithin(CallTimeout, fn) }

// groupOf returns r's event loops, or an error on a backend without them
// (gnet, net).
func groupOf(r *Loop) (*group, error) {
	g, ok := r.eng.(*group)
	if !ok {
		return nil, fmt.Errorf("%w: an Engine has no event loops", ErrUnsupported)
	}
	return g, nil
}

// EventLoops returns how many event loops r runs.
func EventLoops(r *Loop) (int, error) {
	g, err := groupOf(r)
	if err != nil {
		return 0, err
	}
	return len(g.loops), nil
}

// Turns returns the sum of the turn counters of r's event loops, each read
// on its loop's goroutine. Reading costs each loop about one turn (the
// wake-up that runs the read).
func Turns(r *Loop) (uint64, error) {
	g, err := groupOf(r)
	if err != nil {
		return 0, err
	}
	var total uint64
	for _, l := range g.loops {
		var n uint64
		if err := l.bounded(func() error { n = l.turns; return nil }); err != nil {
			return 0, err
		}
		total += n
	}
	return total, nil
}

// Sync returns once every event loop of r has run a posted function: the
// turn each loop was in when Sync was called, and anything it had queued
// for the turn after, are over.
func Sync(r *Loop) error {
	g, err := groupOf(r)
	if err != nil {
		return err
	}
	for range 2 { // the second round also covers the ready list the first turn left
		for _, l := range g.loops {
			if err := l.bounded(func() error { return nil }); err != nil {
				return err
			}
		}
	}
	return nil
}

// LoopConfig is what the options made of one event loop.
type LoopConfig struct {
	Loops      int // event loops in the group
	Budget     int // rounds per connection per turn
	ReadBuffer int // bytes in the shared read buffer
	Events     int // length of the event slice
}

// Settings returns the settings of r's first event loop, read on its goroutine.
func Settings(r *Loop) (LoopConfig, error) {
	g, err := groupOf(r)
	if err != nil {
		return LoopConfig{}, err
	}
	l := g.loops[0]
	var cfg LoopConfig
	err = l.bounded(func() error {
		cfg = LoopConfig{Loops: len(g.loops), Budget: l.budget, ReadBuffer: len(l.buf), Events: len(l.events)}
		return nil
	})
	return cfg, err
}

// Queued reports whether c is on its loop's ready list. Call it on c's loop
// goroutine, with a native Conn.
func Queued(c Conn) bool { return c.(*conn).flags&fQueued != 0 }

// Readable reports whether the loop believes c has input waiting (an edge
// said so and no read has hit EAGAIN since). Call it on c's loop goroutine.
func Readable(c Conn) bool { return c.(*conn).flags&fReadable != 0 }

// Writable is Readable for output space.
func Writable(c Conn) bool { return c.(*conn).flags&fWritable != 0 }

// SyncWithin is Sync with its own bound on each wait for a loop, for tests
// of the bound itself.
func SyncWithin(r *Loop, d time.Duration) error {
	g, err := groupOf(r)
	if err != nil {
		return err
	}
	for _, l := range g.loops {
		if err := l.callWithin(d, func() error { return nil }); err != nil {
			return err
		}
	}
	return nil
}

// TaskQueue reports, from any goroutine, how many posted functions wait on
// each of r's event loops and whether each loop's task flag is set: a
// function queued with the flag clear is lost until the next Post.
func TaskQueue(r *Loop) (queued []int, flag []bool, err error) {
	g, err := groupOf(r)
	if err != nil {
		return nil, nil, err
	}
	for _, l := range g.loops {
		l.mu.Lock()
		queued = append(queued, len(l.tasks))
		l.mu.Unlock()
		flag = append(flag, l.hasTasks.Load())
	}
	return queued, flag, nil
}

// OnTasksTaken makes every event loop of r call fn on its goroutine each
// time it has taken its queue of posted functions, before running them: at
// the first moment a Post from another goroutine could land after the
// swap. fn may call Post. nil removes the hook.
func OnTasksTaken(r *Loop, fn func()) error {
	g, err := groupOf(r)
	if err != nil {
		return err
	}
	for _, l := range g.loops {
		if err := l.bounded(func() error { l.tasksTaken = fn; return nil }); err != nil {
			return err
		}
	}
	return nil
}

// Accept is the platform's accept, for an accept hook that fails some calls
// and hands the others on.
var Accept = accept

// SetAccept makes every event loop of r take connections off its listeners
// with f instead of the platform's accept (nil restores it), so that tests
// reach accept's error branches.
func SetAccept(r *Loop, f func(lfd int) (int, error)) error {
	g, err := groupOf(r)
	if err != nil {
		return err
	}
	if f == nil {
		f = accept
	}
	for _, l := range g.loops {
		if err := l.bounded(func() error { l.accept = f; return nil }); err != nil {
			return err
		}
	}
	return nil
}

// LoopTurn returns the turn c's loop is in. Call it on c's loop goroutine,
// with a native Conn: from a handler, it tells which turn a call ran in.
func LoopTurn(c Conn) uint64 { return c.(*conn).loop.turns }

// Token returns the poller token c is registered with. Call it on c's loop
// goroutine.
func Token(c Conn) poller.Token {
	cc := c.(*conn)
	return token(cc.fd, cc.gen)
}

// Closed reports whether the loop has closed c. Call it on c's loop
// goroutine.
func Closed(c Conn) bool { return c.(*conn).flags&fClosed != 0 }

// Unsent returns how many bytes c's kernel send queue holds, sent or not but
// not yet acknowledged (SIOCOUTQ on Linux), or -1 once c is closed. Call it
// on c's loop goroutine.
func Unsent(c Conn) int {
	if Closed(c) {
		return -1
	}
	return sockopt.Unsent(c.Fd())
}

// CurrentTurn returns the turn event loop i of r is in. Call it on that
// loop's goroutine: from a handler, a posted function or an accept hook.
func CurrentTurn(r *Loop, i int) uint64 { return r.eng.(*group).loops[i].turns }

// AcceptRetry returns how long a listener whose accept failed rests, as
// SetAcceptRetry left it: a function, since a copy would not see the change.
func AcceptRetry() time.Duration { return acceptRetry }

// SetAcceptRetry changes how long a listener whose accept failed rests,
// until the test ends. Call it before starting the Loop.
func SetAcceptRetry(t interface{ Cleanup(func()) }, d time.Duration) {
	old := acceptRetry
	acceptRetry = d
	t.Cleanup(func() { acceptRetry = old })
}

// Draining reports whether Shutdown has begun on every event loop of r: the
// loops closed their listeners and judged which peers are active. A loop
// that has exited counts as draining.
func Draining(r *Loop) (bool, error) {
	g, err := groupOf(r)
	if err != nil {
		return false, err
	}
	for _, l := range g.loops {
		var d bool
		err := l.bounded(func() error { d = l.draining; return nil })
		if err == ErrClosed {
			continue
		}
		if err != nil || !d {
			return false, err
		}
	}
	return true, nil
}

// BeginDrain starts Shutdown's drain on c's loop at once, from inside a
// handler call, so that a test can fix the state the drain sees. Call it on
// c's loop goroutine.
func BeginDrain(c Conn) { c.(*conn).loop.beginDrain() }

// SetLingerLimit changes CloseGraceful's bound on waiting for the peer's
// FIN until the test ends.
func SetLingerLimit(t interface{ Cleanup(func()) }, d time.Duration) {
	old := lingerLimit
	lingerLimit = d
	t.Cleanup(func() { lingerLimit = old })
}

// LoopConns returns, for each event loop of r, the stream connections open
// on it or waiting in its inbox: the counts BalanceLeastConns reads. They
// are atomic, so any goroutine may call it.
func LoopConns(r *Loop) ([]int64, error) {
	g, err := groupOf(r)
	if err != nil {
		return nil, err
	}
	n := make([]int64, len(g.loops))
	for i, l := range g.loops {
		n[i] = l.load.Load()
	}
	return n, nil
}

// LoopIndex returns the index of the event loop that serves c, a native
// Conn. Any goroutine may call it: a conn never changes loops.
func LoopIndex(c Conn) int { return c.(*conn).loop.id }

// Inbox returns how many handed-off connections wait in the inbox of event
// loop i of r. Any goroutine may call it.
func Inbox(r *Loop, i int) int {
	l := r.eng.(*group).loops[i]
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.inbox)
}

// PostTo runs fn on event loop i of r, as Post does on one picked in turn.
func PostTo(r *Loop, i int, fn func()) error { return r.eng.(*group).loops[i].post(fn) }

// LoopDone returns a channel closed when event loop i of r has exited.
func LoopDone(r *Loop, i int) <-chan struct{} { return r.eng.(*group).loops[i].done }
