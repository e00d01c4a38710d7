package reactor

import (
	"log/slog"
	"runtime"
)

// Option configures New.
type Option func(*options)

type options struct {
	backend    string
	loops      int
	readBuffer int
	budget     int
	events     int
	logger     *slog.Logger
}

func defaultOptions() options {
	return options{
		loops:      runtime.NumCPU(),
		readBuffer: 64 << 10,
		budget:     16,
		events:     256,
		logger:     slog.Default(),
	}
}

// WithBackend picks the backend by name, one of Backends(). The default is
// the platform's edge-triggered poller.
func WithBackend(name string) Option { return func(o *options) { o.backend = name } }

// WithLoops sets the number of event loops (default: the number of CPUs).
// Each loop has its own listening socket (SO_REUSEPORT) and connections.
func WithLoops(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.loops = n
		}
	}
}

// WithReadBuffer sets the size of each loop's shared read buffer (default 64 KiB).
func WithReadBuffer(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.readBuffer = n
		}
	}
}

// WithBudget sets how many rounds of HandleRecv/HandleSend one connection
// gets per loop turn before the others are served (default 16).
func WithBudget(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.budget = n
		}
	}
}

// WithEvents sets the size of each loop's event slice (default 256).
func WithEvents(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.events = n
		}
	}
}

// WithLogger sets the logger for conditions that have no caller to return
// to, such as a failed accept (default slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if l != nil {
			o.logger = l
		}
	}
}
