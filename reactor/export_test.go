package reactor

import "fmt"

// This file exposes internals of the poller backends to the package's
// external tests (package reactor_test). Everything here reads loop state on
// the loop's own goroutine, through post, so that -race sees no data race.

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
		if err := l.call(func() error { n = l.turns; return nil }); err != nil {
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
			if err := l.call(func() error { return nil }); err != nil {
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
	err = l.call(func() error {
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
