package reactor

import (
	"context"
	"fmt"
	"net"
)

// Loop runs handlers: the native event loops (one or more, each with its
// own poller, listeners and connections), or an Engine given WithEngine.
type Loop struct {
	eng Engine
}

// New starts the loops: by default the platform's edge-triggered poller
// (epoll on Linux, kqueue on BSD and macOS), one event loop per CPU. They
// run until Shutdown.
func New(opts ...Option) (*Loop, error) {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	if o.engine != nil {
		eng, err := o.engine(Config{Loops: o.loops, ReadBuffer: o.readBuffer, Logger: o.logger})
		if err != nil {
			return nil, err
		}
		return &Loop{eng: eng}, nil
	}
	g, err := newGroup(&o)
	if err != nil {
		return nil, err
	}
	return &Loop{eng: g}, nil
}

// Listen and Dial wrap errors as package net does, "listen tcp ADDR: " and
// the cause, which names its package ("reactor: closed", "bind: ...").

// Listen starts accepting connections on a TCP address ("tcp", "tcp4" or
// "tcp6") and makes a handler for each with f. It returns the bound address,
// so "127.0.0.1:0" works. A host left empty (":7007") listens on every
// address, IPv6 and IPv4 alike where the system has IPv6, as package net
// does. It is safe from any goroutine, the loop's own included.
func (r *Loop) Listen(network, address string, f Factory) (net.Addr, error) {
	if f == nil {
		return nil, fmt.Errorf("listen %s %s: %w", network, address, ErrNilFactory)
	}
	a, err := r.eng.Listen(network, address, f)
	if err != nil {
		return nil, fmt.Errorf("listen %s %s: %w", network, address, err)
	}
	return a, nil
}

// Dial starts a non-blocking connect and returns; the handler is made with f
// on a loop goroutine, first called when the connection is established, and
// its HandleClose hears the error if the connect fails. It is safe from any
// goroutine, the loop's own included (a proxy dials its upstream from a
// Factory). Not every backend can dial.
func (r *Loop) Dial(network, address string, f Factory) error {
	if f == nil {
		return fmt.Errorf("dial %s %s: %w", network, address, ErrNilFactory)
	}
	if err := r.eng.Dial(network, address, f); err != nil {
		return fmt.Errorf("dial %s %s: %w", network, address, err)
	}
	return nil
}

// Post runs fn on a loop goroutine of the native loop. It is safe from any
// goroutine, the loop's own included. On an Engine it does what that engine
// documents (gnet and net run fn on a goroutine of its own).
func (r *Loop) Post(fn func()) error { return r.eng.Post(fn) }

// Shutdown stops accepting, lets every handler send what it has queued
// (handlers get no more input meanwhile) and waits until the kernel has sent
// it too, then closes all connections and stops the loops. If ctx ends
// first, it returns ctx.Err() at once, whatever state the loops are in: the
// rest are closed as soon as their loop gets to it, with ErrShutdown for
// HandleClose, and Done closes after that.
func (r *Loop) Shutdown(ctx context.Context) error { return r.eng.Shutdown(ctx) }

// Done is closed when every loop has stopped: after Shutdown, or when a
// poller or an engine fails (see Err).
func (r *Loop) Done() <-chan struct{} { return r.eng.Done() }

// Err reports why the loops stopped when nobody called Shutdown: a failed
// poller, or an engine that died. It is nil while they run and after
// Shutdown.
func (r *Loop) Err() error { return r.eng.Err() }
