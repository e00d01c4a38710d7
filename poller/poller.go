package poller

import (
	"fmt"
	"sort"
	"time"
)

// Poller waits for readiness on registered file descriptors.
//
// The contract, which every backend in this package keeps:
//
//   - Register adds fd with both read and write interest for its whole life.
//     Edge-triggered backends report a change of state once; the caller must
//     then read (or write) until EAGAIN, or remember that the fd is still
//     ready, because no further event comes until new data or new buffer space
//     arrives. Registering a fd twice fails with ErrRegistered.
//   - Deregister removes fd. It must be called before the fd is closed: a
//     descriptor duplicated elsewhere (dup, fork, SCM_RIGHTS) would otherwise
//     keep reporting events for a number that may already be reused. It fails
//     with ErrNotRegistered for an unknown fd. No event for fd is reported by
//     a Wait that starts after Deregister returns.
//   - Wait fills events (a slice the caller owns and reuses) and returns how
//     many it filled. A timeout < 0 blocks until an event or a Wake; 0 polls
//     and returns at once; > 0 waits at most that long, rounded up to the
//     backend's resolution, never down to 0. EINTR is retried inside Wait.
//     Wait may return 0 events (a Wake, a timeout) and spurious events: an
//     event is a hint to try the I/O, and EAGAIN then means "not ready".
//   - Wake makes a blocked or the next Wait return. Any number of Wakes before
//     Wait collapse into one return; Wake is safe from any goroutine and does
//     not allocate.
//   - Close releases the poller. Registered fds are not closed: they belong to
//     the caller. Close must not run concurrently with Wait (closing an epoll
//     descriptor does not wake a thread blocked on it): to stop a Wait from
//     another goroutine, Wake it and Close from the waiting goroutine. A Wake
//     that races Close returns ErrClosed and writes nothing.
//
// Concurrency: Wake is safe from any goroutine. On the edge-triggered
// backends (epoll, kqueue), Register and Deregister are safe while another
// goroutine blocks in Wait, and that Wait sees the new registration; gnetpoll (package
// poller/gnetpoll) keeps its fd tables unlocked and needs them called from the Wait goroutine,
// which is what the reactor does.
//
// Tokens are chosen by the caller and returned verbatim; the value
// ^Token(0) is reserved for the poller's own wake-up, and Register refuses
// it with ErrReservedToken.
type Poller interface {
	// Register adds fd with read and write interest and tags its events with tok.
	Register(fd int, tok Token) error
	// Deregister removes fd; call it before closing fd.
	Deregister(fd int) error
	// Wait waits for events as described in the Poller contract.
	Wait(events []Event, timeout time.Duration) (int, error)
	// Wake makes a blocked Wait, or the next one, return.
	Wake() error
	// Close releases the poller's own resources.
	Close() error
}

// LevelTriggered is implemented by pollers that report a fd for as long as it
// is ready rather than once per change. The loop above such a poller must keep
// the kernel's interest equal to what it wants, or it spins: SetInterest
// replaces fd's interest. Register starts with Readable only. An interest of
// none keeps fd registered, and errors and hang-ups are still reported, as
// epoll reports EPOLLERR and EPOLLHUP whatever the interest, so that a loop
// hears of a reset on a connection that wants nothing. Portability: kqueue
// has no registration without a filter; gnetpoll does not promise this on
// BSD.
type LevelTriggered interface {
	Poller
	// SetInterest replaces the interest of a registered fd.
	SetInterest(fd int, tok Token, in Interest) error
}

// Token identifies a registration in the events Wait returns.
type Token uint64

// WakeToken is the token a backend uses for its own wake-up descriptor;
// Register refuses it with ErrReservedToken.
const WakeToken = ^Token(0)

// Interest is a set of readiness kinds a level-triggered poller watches.
type Interest uint8

// Interest values.
const (
	// Readable is interest in input, end of input and errors.
	Readable Interest = 1 << iota
	// Writable is interest in space to write.
	Writable
)

// Event is one readiness notification.
type Event struct {
	// Token is the value given to Register for the fd.
	Token Token
	flags Flags
}

// Flags is the set of conditions one Event reports. Backends outside this
// package build their events with NewEvent.
type Flags uint8

// Flags values; the Event methods of the same names test them.
const (
	// FlagReadable: input, end of input or an error waits to be read.
	FlagReadable Flags = 1 << iota
	// FlagWritable: the socket takes output.
	FlagWritable
	// FlagReadClosed: the peer will send no more (EPOLLRDHUP, EV_EOF on read).
	FlagReadClosed
	// FlagWriteClosed: nothing more can be written (EPOLLHUP).
	FlagWriteClosed
	// FlagError: a socket error is pending (EPOLLERR, EV_ERROR).
	FlagError
	// FlagPriority: urgent data (TCP MSG_OOB) arrived (EPOLLPRI).
	FlagPriority
)

// NewEvent builds an Event, for backends outside this package.
func NewEvent(tok Token, f Flags) Event { return Event{Token: tok, flags: f} }

// Flags returns the event's conditions.
func (e Event) Flags() Flags { return e.flags }

// Readable reports whether a read may make progress: data, end of input or an
// error waits to be read.
func (e Event) Readable() bool { return e.flags&FlagReadable != 0 }

// Writable reports whether a write may make progress.
func (e Event) Writable() bool { return e.flags&FlagWritable != 0 }

// ReadClosed reports that the peer will send no more (EPOLLRDHUP, EV_EOF on
// the read filter). Data that arrived before it is still to be read.
func (e Event) ReadClosed() bool { return e.flags&FlagReadClosed != 0 }

// WriteClosed reports that nothing more can be written (EPOLLHUP, EV_EOF on
// the write filter).
func (e Event) WriteClosed() bool { return e.flags&FlagWriteClosed != 0 }

// Error reports a pending socket error (EPOLLERR, EV_ERROR); a read or write
// returns it.
func (e Event) Error() bool { return e.flags&FlagError != 0 }

// Priority reports urgent data (EPOLLPRI): a read stops at the urgent mark
// although more input is queued, so a short read no longer means drained;
// read until EAGAIN.
func (e Event) Priority() bool { return e.flags&FlagPriority != 0 }

// String describes the event for tests and logs.
func (e Event) String() string {
	s := fmt.Sprintf("token=%#x", uint64(e.Token))
	for _, f := range []struct {
		bit  Flags
		name string
	}{{FlagReadable, "R"}, {FlagWritable, "W"}, {FlagReadClosed, "RDHUP"}, {FlagWriteClosed, "HUP"}, {FlagError, "ERR"}, {FlagPriority, "PRI"}} {
		if e.flags&f.bit != 0 {
			s += " " + f.name
		}
	}
	return s
}

// backends maps a backend name to its constructor; each backend file adds
// itself for the OSes it builds on.
var backends = map[string]func() (Poller, error){}

// defaultBackend is the platform's native backend, set by its file.
var defaultBackend string

// New opens the platform's native poller: epoll on Linux, kqueue on BSD and
// macOS (Python's DefaultSelector).
func New() (Poller, error) {
	if defaultBackend == "" {
		return nil, fmt.Errorf("%w: no native poller on this OS", ErrUnknownBackend)
	}
	return Open(defaultBackend)
}

// Open opens the backend called name, one of Backends().
func Open(name string) (Poller, error) {
	f, ok := backends[name]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownBackend, name)
	}
	return f()
}

// Default names the platform's native backend, or "" if it has none.
func Default() string { return defaultBackend }

// Backends lists the poller backends available on this OS, sorted.
func Backends() []string {
	names := make([]string, 0, len(backends))
	for n := range backends {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// timeoutMillis converts a Wait timeout to the milliseconds epoll_wait takes,
// rounding a positive sub-millisecond timeout up to 1 rather than down to 0.
func timeoutMillis(d time.Duration) int {
	switch {
	case d < 0:
		return -1
	case d == 0:
		return 0
	}
	// Divide, then round up: adding 999999ns first overflows near the
	// largest Duration and turns a long timeout negative.
	ms := d / time.Millisecond
	if d%time.Millisecond != 0 {
		ms++
	}
	if ms > 1<<31-1 {
		ms = 1<<31 - 1
	}
	return int(ms)
}
