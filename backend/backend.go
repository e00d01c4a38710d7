// Package backend names every backend edgeloop's handlers run on, so that
// one program can pick any of them at run time, as `edgeloop serve
// --backend NAME` does: the platform's edge-triggered poller (epoll or
// kqueue), this loop over gnet's poller (gnetpoll), gnet's whole engine
// (gnet) and Go's net package (net).
//
// The core (reactor, poller, protocols) imports none of the comparison
// backends; this package imports them all. A program that wants only one
// imports that one and passes it to reactor.New itself:
//
//	l, err := reactor.New(reactor.WithEngine(gnet.Engine))
//
// Usage:
//
//	opt, err := backend.Option("gnetpoll")
//	if err != nil { ... } // errors.Is(err, backend.ErrUnknown)
//	l, err := reactor.New(opt, reactor.WithLoops(1))
package backend

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/edgeloop/edgeloop/backend/gnet"
	"github.com/edgeloop/edgeloop/backend/stdnet"
	"github.com/edgeloop/edgeloop/poller"
	"github.com/edgeloop/edgeloop/poller/gnetpoll"
	"github.com/edgeloop/edgeloop/reactor"
)

// ErrUnknown is returned by Option for a name that is not in Names().
var ErrUnknown = errors.New("backend: unknown backend")

// options maps the backends that are not native pollers to their option.
var options = map[string]reactor.Option{
	"gnetpoll": reactor.WithPoller(func() (poller.Poller, error) { return OpenPoller("gnetpoll") }),
	"gnet":     reactor.WithEngine(gnet.Engine),
	"net":      reactor.WithEngine(stdnet.Engine),
}

// Names lists the backends available on this OS, sorted.
func Names() []string {
	names := poller.Backends()
	for n := range options {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Default names the platform's native backend ("epoll" or "kqueue").
func Default() string { return poller.Default() }

// Native reports whether name runs the native loop over a native poller.
func Native(name string) bool { return slices.Contains(poller.Backends(), name) }

// Option returns the reactor.Option that selects the backend called name;
// "" is the platform's default.
func Option(name string) (reactor.Option, error) {
	if name == "" {
		name = Default()
	}
	if opt, ok := options[name]; ok {
		return opt, nil
	}
	if Native(name) {
		return reactor.WithPoller(func() (poller.Poller, error) { return poller.Open(name) }), nil
	}
	return nil, fmt.Errorf("%w %q (have %s)", ErrUnknown, name, strings.Join(Names(), ", "))
}

// Pollers lists the backends that run the reactor's own loop, over a
// native poller or gnet's (gnetpoll), sorted.
func Pollers() []string {
	names := append(poller.Backends(), "gnetpoll")
	slices.Sort(names)
	return names
}

// New starts a reactor.Loop on the backend called name ("" for the
// platform's default), with opts after it.
func New(name string, opts ...reactor.Option) (*reactor.Loop, error) {
	opt, err := Option(name)
	if err != nil {
		return nil, err
	}
	return reactor.New(append([]reactor.Option{opt}, opts...)...)
}

// OpenPoller opens the poller of a backend in Pollers(), for programs and
// tests that drive a poller themselves.
func OpenPoller(name string) (poller.Poller, error) {
	if name == "gnetpoll" {
		return gnetpoll.Open()
	}
	return poller.Open(name)
}
