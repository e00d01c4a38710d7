package reactor

import (
	"fmt"
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
	balance    Balance
	lockThread bool
	admission  Admission
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
// n <= 0 keeps the default. Each loop has its own connections, and by
// default its own listening socket (SO_REUSEPORT; see WithBalance).
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

// Balance is how the native loop spreads the connections a listener accepts
// across its event loops (WithBalance).
type Balance uint8

const (
	// BalanceReusePort, the default, gives each loop its own listening
	// socket on the port (SO_REUSEPORT) and lets the kernel spread
	// connections by a hash of their addresses: no loop talks to another,
	// but a few busy peers can land on one loop.
	BalanceReusePort Balance = iota
	// BalanceRoundRobin has one listening socket, on one loop, which
	// accepts and hands the connections to the loops in turn.
	BalanceRoundRobin
	// BalanceLeastConns is BalanceRoundRobin handing each connection to
	// the loop with the fewest open, for connections of uneven length.
	BalanceLeastConns
)

// String returns the name the serve command's --balance flag takes.
func (b Balance) String() string {
	switch b {
	case BalanceReusePort:
		return "reuseport"
	case BalanceRoundRobin:
		return "round-robin"
	case BalanceLeastConns:
		return "least-conns"
	}
	return fmt.Sprintf("Balance(%d)", uint8(b))
}

// WithBalance sets how a listener's connections are spread across the
// event loops (default BalanceReusePort). With BalanceRoundRobin or
// BalanceLeastConns, and more than one loop, a listener has a single
// socket: its loop accepts, keeps the connections that fall to it and
// hands the others over through each target loop's inbox, which the target
// drains in one go, woken once per batch. That costs the accepting loop the
// accepts and a lock per connection, and a loop a wake-up per batch, for
// an even spread whatever the peers' addresses. Datagram endpoints
// (ListenPacket) keep one socket per loop. Engines (WithEngine: the gnet
// and net backends) ignore it: they spread connections their own way.
func WithBalance(b Balance) Option { return func(o *options) { o.balance = b } }

// WithLockOSThread locks each event loop's goroutine to an OS thread for
// its life (runtime.LockOSThread). It is off by default: a loop waits in
// epoll_wait through the runtime's netpoller, and a locked goroutine woken
// from there must be handed back to its own thread by another, a futex
// wake-up per turn that costs more than it saves on an idle or lightly
// loaded loop. Locked, a loop keeps its thread's caches and never migrates
// between threads mid-turn, which can pay when each loop is busy all the
// time and there are no more loops than CPUs. Engines (WithEngine) ignore
// it.
func WithLockOSThread() Option { return func(o *options) { o.lockThread = true } }
