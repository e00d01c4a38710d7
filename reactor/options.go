package reactor

import (
	"log/slog"
	"runtime"
	"time"

	"github.com/edgeloop/edgeloop/poller"
)

// Option configures New.
type Option func(*options)

type options struct {
	engine     EngineFunc
	openPoller func() (poller.Poller, error)
	loops      int
	readBuffer int
	budget     int
	events     int
	idle       time.Duration
	dgramSize  int
	logger     *slog.Logger
}

func defaultOptions() options {
	return options{
		loops:      runtime.NumCPU(),
		readBuffer: 64 << 10,
		budget:     64 << 10,
		events:     256,
		dgramSize:  2048,
		logger:     slog.Default(),
	}
}

// WithPoller runs the native loop over pollers that open makes, one per
// event loop, instead of the platform's own (poller.New). A level-triggered
// poller (poller.LevelTriggered) works too: the loop then keeps its interest
// in step with what handlers want.
func WithPoller(open func() (poller.Poller, error)) Option {
	return func(o *options) { o.openPoller = open }
}

// WithEngine runs handlers on another backend altogether, started by f with
// the Loop's settings, instead of the native loop. Packages backend/gnet and
// backend/stdnet provide two; the core imports neither.
func WithEngine(f EngineFunc) Option { return func(o *options) { o.engine = f } }

// WithLoops sets the number of event loops (default: the number of CPUs);
// n <= 0 keeps the default. Each loop has its own listening socket
// (SO_REUSEPORT) and connections.
func WithLoops(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.loops = n
		}
	}
}

// WithReadBuffer sets the size of each loop's shared read buffer (default
// 64 KiB); n <= 0 keeps the default.
func WithReadBuffer(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.readBuffer = n
		}
	}
}

// WithBudget sets how many bytes one connection may read and write in one
// loop turn before the others are served (default 64 KiB, Redis's
// NET_MAX_WRITES_PER_EVENT); n <= 0 keeps the default. A handler call in
// progress is never cut short, so a turn can overrun it by one call's I/O.
// An accepted connection counts as 1 KiB against a listener's budget.
func WithBudget(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.budget = n
		}
	}
}

// WithEvents sets the size of each loop's event slice (default 256); n <= 0
// keeps the default.
func WithEvents(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.events = n
		}
	}
}

// WithIdleTimeout closes a connection that has read and written nothing
// for d (HandleClose gets ErrIdleTimeout), between d and 1.125 d after its
// last byte; d <= 0, the default, never does; at most MaxIdleTimeout (24
// days). Listeners and datagram endpoints are not affected. One sweep per
// loop every d/8 checks all connections, with no timer per connection.
func WithIdleTimeout(d time.Duration) Option {
	return func(o *options) { o.idle = min(d, MaxIdleTimeout) }
}

// MaxIdleTimeout is the longest idle timeout: connections carry their last
// activity as a millisecond tick in 32 bits, which is exact for differences
// under 2^31 ms. A longer WithIdleTimeout is this.
const MaxIdleTimeout = (1<<31 - 1) * time.Millisecond

// WithDatagramSize sets the largest datagram an endpoint receives whole
// (default 2048 bytes, up to 65507); a larger one is dropped and counted
// (PacketStats.Truncated), never handed on cut short. Each loop receives
// into one vector of WithReadBuffer bytes (64 KiB) cut into slots of this
// size, up to 64 of them: the smaller the size, the more datagrams one
// recvmmsg takes. n <= 0 keeps the default.
func WithDatagramSize(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.dgramSize = min(n, maxDatagram)
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
