package reactor

import (
	"context"
	"fmt"
	"net"
	"sort"

	"github.com/edgeloop/edgeloop/poller"
)

// Loop runs handlers on one backend: one or more event loops, their
// listeners and their connections.
type Loop struct {
	backend string
	eng     engine
}

// engine is what a backend provides to Loop.
type engine interface {
	listen(network, address string, f Factory) (net.Addr, error)
	dial(network, address string, f Factory) error
	post(fn func()) error
	shutdown(ctx context.Context) error
	done() <-chan struct{}
}

// engines maps the non-poller backends to their constructors; their files
// add themselves.
var engines = map[string]func(o *options) (engine, error){}

// Backends lists the backends available on this OS: the poller backends
// (epoll or kqueue, gnetpoll) and the engines (gnet, net), sorted.
func Backends() []string {
	names := poller.Backends()
	for n := range engines {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// New starts the loops of the chosen backend. They run until Shutdown.
func New(opts ...Option) (*Loop, error) {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	if o.backend == "" {
		o.backend = poller.Default()
	}
	if mk, ok := engines[o.backend]; ok {
		eng, err := mk(&o)
		if err != nil {
			return nil, err
		}
		return &Loop{backend: o.backend, eng: eng}, nil
	}
	g, err := newGroup(&o)
	if err != nil {
		return nil, err
	}
	return &Loop{backend: o.backend, eng: g}, nil
}

// Backend names the backend this Loop runs on.
func (r *Loop) Backend() string { return r.backend }

// Listen starts accepting connections on a TCP address ("tcp", "tcp4" or
// "tcp6") and makes a handler for each with f. It returns the bound address,
// so "127.0.0.1:0" works.
func (r *Loop) Listen(network, address string, f Factory) (net.Addr, error) {
	a, err := r.eng.listen(network, address, f)
	if err != nil {
		return nil, fmt.Errorf("reactor: listen %s %s: %w", network, address, err)
	}
	return a, nil
}

// Dial starts a non-blocking connect and makes the handler with f at once;
// the handler is first called when the connection is established, and its
// HandleClose hears the error if it fails. Not every backend can dial.
func (r *Loop) Dial(network, address string, f Factory) error {
	if err := r.eng.dial(network, address, f); err != nil {
		return fmt.Errorf("reactor: dial %s %s: %w", network, address, err)
	}
	return nil
}

// Post runs fn on a loop goroutine. It is safe from any goroutine.
func (r *Loop) Post(fn func()) error { return r.eng.post(fn) }

// Shutdown stops accepting, lets every handler send what it has queued
// (handlers get no more input meanwhile), then closes all connections and
// stops the loops. If ctx ends first, the rest are closed at once and
// HandleClose sees ErrShutdown; Shutdown then returns ctx.Err().
func (r *Loop) Shutdown(ctx context.Context) error { return r.eng.shutdown(ctx) }

// Done is closed when every loop has stopped.
func (r *Loop) Done() <-chan struct{} { return r.eng.done() }
