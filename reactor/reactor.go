package reactor

import (
	"context"
	"errors"
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
		eng, err := o.engine(Config{Loops: o.loops, ReadBuffer: o.readBuffer, Logger: o.logger, IdleTimeout: o.idle, Admission: o.admission})
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
// "tcp6") or a Unix socket ("unix") and makes a handler for each with f. It returns the bound address,
// so "127.0.0.1:0" works. A host left empty (":7007") listens on every
// address, IPv6 and IPv4 alike where the system has IPv6, as package net
// does. It is safe from any goroutine, the loop's own included.
//
// "unix" listens on a Unix domain socket: a path, the same path written
// "unix:///path", or on Linux an abstract name ("@name", no file). The
// address returned is a *net.UnixAddr. A stale socket file at the path
// (nothing listens there) is removed first; a live server's socket, or
// anything that is not a socket, makes Listen fail (EADDRINUSE) and is left
// alone. Shutdown removes the file, unless another socket has taken the
// path since. With several loops one socket accepts and hands connections
// over (WithBalance; BalanceReusePort means round robin here). Dial takes
// the same addresses.
func (r *Loop) Listen(network, address string, f Factory) (net.Addr, error) {
	if f == nil {
		return nil, fmt.Errorf("listen %s %s: %w", network, address, ErrNilFactory)
	}
	a, err := r.eng.Listen(network, address, f)
	var opErr *net.OpError
	switch {
	case errors.As(err, &opErr):
		return nil, err // package net's error says "listen tcp ADDR: " already
	case err != nil:
		return nil, fmt.Errorf("listen %s %s: %w", network, address, err)
	}
	return a, nil
}

// Dial starts a non-blocking connect and returns; the handler is made with f
// on a loop goroutine (round robin), first called when the connection is
// established, and its HandleClose hears the error if the connect fails. It
// is safe from any goroutine, the loop's own included; a handler that will
// talk to the new connection directly dials with DialSameLoop. A connect
// still in progress when Shutdown begins is abandoned (HandleClose sees
// ErrShutdown). Not every backend can dial. "unix" takes what Listen does
// (a path, "unix:///path", "@name"); a Unix connect is refused at once, not
// later as TCP's is, and HandleClose hears that refusal all the same.
func (r *Loop) Dial(network, address string, f Factory) error {
	if f == nil {
		return fmt.Errorf("dial %s %s: %w", network, address, ErrNilFactory)
	}
	if err := r.eng.Dial(network, address, f); err != nil {
		return fmt.Errorf("dial %s %s: %w", network, address, err)
	}
	return nil
}

// DialSameLoop is Dial onto the loop that serves c, so that c's handler and
// the new connection's run on one goroutine and may touch each other's state
// and call each other's Conn methods: a proxy dials its upstream this way
// from its Factory. Dial picks a loop round robin, and with several loops
// the two would run on different goroutines. On an Engine it is Dial (on
// the net backend every connection has a goroutine of its own).
func (r *Loop) DialSameLoop(c Conn, network, address string, f Factory) error {
	if f == nil {
		return fmt.Errorf("dial %s %s: %w", network, address, ErrNilFactory)
	}
	var err error
	nc, native := c.(*conn)
	g, isGroup := r.eng.(*group)
	if native && isGroup {
		err = g.dialOn(nc.loop, network, address, f)
	} else {
		err = r.eng.Dial(network, address, f)
	}
	if err != nil {
		return fmt.Errorf("dial %s %s: %w", network, address, err)
	}
	return nil
}

// ListenPacket binds a datagram socket ("udp", "udp4" or "udp6") and serves
// it with the handler f makes for it; it returns the bound address. On the
// native loop each event loop gets its own socket on the port
// (SO_REUSEPORT). ":PORT" is dual-stack as for Listen, and an IPv4 sender
// appears as an IPv4 address. It is safe from any goroutine. Not every
// backend serves datagrams (ErrUnsupported).
func (r *Loop) ListenPacket(network, address string, f PacketFactory) (net.Addr, error) {
	if f == nil {
		return nil, fmt.Errorf("listen %s %s: %w", network, address, ErrNilFactory)
	}
	pe, ok := r.eng.(PacketEngine)
	if !ok {
		return nil, fmt.Errorf("listen %s %s: %w", network, address, ErrUnsupported)
	}
	a, err := pe.ListenPacket(network, address, f)
	var opErr *net.OpError
	switch {
	case errors.As(err, &opErr):
		return nil, err
	case err != nil:
		return nil, fmt.Errorf("listen %s %s: %w", network, address, err)
	}
	return a, nil
}

// DialPacket makes a datagram socket connected to address, for clients:
// SendTo with a zero address sends to it, and only its datagrams are
// received. The handler is made with f on a loop goroutine (round robin).
// It is safe from any goroutine.
func (r *Loop) DialPacket(network, address string, f PacketFactory) error {
	if f == nil {
		return fmt.Errorf("dial %s %s: %w", network, address, ErrNilFactory)
	}
	pe, ok := r.eng.(PacketEngine)
	if !ok {
		return fmt.Errorf("dial %s %s: %w", network, address, ErrUnsupported)
	}
	if err := pe.DialPacket(network, address, f); err != nil {
		return fmt.Errorf("dial %s %s: %w", network, address, err)
	}
	return nil
}

// Post runs fn on one of the native loop's goroutines, round robin. It is
// safe from any goroutine, the loop's own included. With several loops fn
// may not run on a given connection's loop: to reach a connection, use its
// Conn.Post. On an Engine it does what that engine documents (gnet and net
// run fn on a goroutine of its own).
func (r *Loop) Post(fn func()) error { return r.eng.Post(fn) }

// Shutdown stops accepting, lets every handler send what it has queued
// (handlers get no more input meanwhile) and waits until the kernel has sent
// it too, then closes all connections and stops the loops. If ctx ends
// first, it returns ctx.Err() at once, whatever state the loops are in: the
// rest are closed as soon as their loop gets to it, with ErrShutdown for
// HandleClose, and Done closes after that.
//
// "Loses nothing" is about output: input a handler has not read when
// Shutdown begins is discarded (the peer gets our FIN, not an RST, and
// everything sent before it). Shutdown waits for the loops, so a handler
// that wants to stop the server calls it on a goroutine of its own
// (go l.Shutdown(ctx)); called on a loop goroutine it would wait out ctx.
func (r *Loop) Shutdown(ctx context.Context) error { return r.eng.Shutdown(ctx) }

// Done is closed when every loop has stopped: after Shutdown, or when a
// poller or an engine fails (see Err).
func (r *Loop) Done() <-chan struct{} { return r.eng.Done() }

// Err reports why the loops stopped when nobody called Shutdown: a failed
// poller, or an engine that died. It is nil while they run and after
// Shutdown.
func (r *Loop) Err() error { return r.eng.Err() }
