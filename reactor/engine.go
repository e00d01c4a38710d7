package reactor

import (
	"context"
	"log/slog"
	"net"
	"time"
)

// Engine is a backend that runs handlers by its own means rather than on
// the native loop: gnet's engine (package backend/gnet) or Go's net package
// (package backend/stdnet). Loop forwards to it; its Conns implement Conn.
// Each method has the meaning of the Loop method of the same name.
type Engine interface {
	// Listen starts serving address with handlers made by f.
	Listen(network, address string, f Factory) (net.Addr, error)
	// Dial connects to address and serves the connection with f's handler.
	Dial(network, address string, f Factory) error
	// Post runs fn as the engine's documentation says.
	Post(fn func()) error
	// Shutdown stops accepting, flushes and closes, bounded by ctx.
	Shutdown(ctx context.Context) error
	// Done is closed when the engine has stopped, for whatever reason.
	Done() <-chan struct{}
	// Err reports why the engine stopped: nil after Shutdown or while it
	// runs, the failure otherwise.
	Err() error
}

// EngineFunc starts an Engine with the Loop's settings.
type EngineFunc func(Config) (Engine, error)

// Config is what New hands an EngineFunc: the settings that are not the
// native loop's own.
type Config struct {
	// Loops is the number of event loops (or the engine's equivalent).
	Loops int
	// ReadBuffer is the size of the buffer ReadBuffer lends a handler.
	ReadBuffer int
	// Logger receives conditions that have no caller to return to.
	Logger *slog.Logger
	// IdleTimeout, if positive, closes connections idle that long with
	// ErrIdleTimeout (WithIdleTimeout).
	IdleTimeout time.Duration
	// Admission, if not nil, decides at accept which TCP connections are
	// served (WithAdmission); the engine calls Release when an admitted
	// one closes.
	Admission Admission
}
