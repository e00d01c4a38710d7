package reactor

import (
	"net"
	"net/netip"
	"time"
)

// PacketConn is a datagram endpoint (a UDP socket) as its handler sees it:
// the same Handler with its four methods runs it, as Python's loop runs a
// UDP server with the handler it gives a TCP connection. HandleRecv calls
// Recv until ErrWouldBlock and answers with SendTo.
//
// Like Conn's, its methods must be called from its loop goroutine (handler
// calls, the PacketFactory, Post callbacks and timers), except Post.
type PacketConn interface {
	// Recv returns the next datagram that has arrived. Its Data is valid
	// until the next Recv or until the handler call returns. It returns
	// ErrWouldBlock when none is waiting, and also once this entry has
	// used its budget for the turn: the loop calls HandleRecv again later.
	// A datagram larger than the receive buffer (WithDatagramSize) is
	// dropped, counted in Stats and logged, never returned cut short.
	Recv() (Datagram, error)
	// SendTo queues a copy of p for to; a zero to means the connected
	// peer (DialPacket). Queued datagrams leave together, in one sendmmsg
	// on Linux, when the handler call returns or when the queue fills. A
	// datagram the socket refuses (its send buffer is full) is dropped and
	// counted, as the network would drop it; an error here is about p or
	// to (too large, wrong family, closed).
	SendTo(p []byte, to netip.AddrPort) error
	// Close closes the socket now; queued datagrams are dropped.
	Close() error
	// Wake asks the loop to consult the handler again (see Conn.Wake).
	Wake()
	// Post runs fn on the endpoint's loop goroutine (see Conn.Post).
	Post(fn func()) error
	// Fd returns the socket descriptor, or -1 where the backend hides it.
	Fd() int
	// LocalAddr returns the bound address. It allocates; call it once.
	LocalAddr() net.Addr
	// Stats returns the endpoint's counters.
	Stats() PacketStats
	// String names the endpoint for logs.
	String() string
}

// Datagram is one received datagram.
type Datagram struct {
	// Data is the payload, in a buffer the loop owns (see Recv).
	Data []byte
	// From is the sender. An IPv4 sender on a dual-stack socket is an
	// IPv4 address, not an IPv4-mapped IPv6 one.
	From netip.AddrPort
	// Received is when the kernel received it (SO_TIMESTAMPNS on Linux),
	// or the zero time where the backend cannot say: then use the loop's
	// time for the turn.
	Received time.Time
}

// PacketStats counts what happened to an endpoint's datagrams.
type PacketStats struct {
	Received  uint64 // datagrams handed to Recv's callers
	Sent      uint64 // datagrams the kernel took
	Truncated uint64 // received datagrams dropped: larger than the buffer
	Dropped   uint64 // queued datagrams dropped: the socket's send buffer was full
}

// PacketFactory makes the handler for a new datagram endpoint. It runs on
// the loop goroutine.
type PacketFactory func(pc PacketConn) Handler

// PacketEngine is implemented by Engines that serve datagrams.
type PacketEngine interface {
	// ListenPacket binds a datagram socket and serves it with f's handler.
	ListenPacket(network, address string, f PacketFactory) (net.Addr, error)
	// DialPacket makes a datagram socket connected to address and serves
	// it with f's handler.
	DialPacket(network, address string, f PacketFactory) error
}
