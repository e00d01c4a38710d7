package reactor

import (
	"net"
	"net/netip"

	"golang.org/x/sys/unix"
)

// Admission decides, at accept, whether a stream connection is served
// (WithAdmission). It sees the peer's IP address before anything else does:
// before the connection is registered with the poller or the table, before
// its Factory runs. Package reactor/access provides one built from
// allow and deny lists and connection limits.
//
// Its methods are called concurrently from every event loop (and from the
// goroutines of the net backend), so an implementation guards its own
// state; they run on the accepting loop and should be quick.
type Admission interface {
	// Admit reports whether a connection from peer is served. On false the
	// connection is closed at once, and Release is not called for it. An
	// IPv4 peer on a dual-stack listener arrives as an IPv4 address
	// (unmapped), never as ::ffff:a.b.c.d.
	Admit(peer netip.Addr) bool
	// Release is called once for every connection Admit admitted, when it
	// closes, however it closes: by its handler, by the peer, by an error,
	// by the idle sweep or by Shutdown, and also when it could not be
	// registered, was handed to a loop that was exiting, or was detached
	// (Detach).
	Release(peer netip.Addr)
}

// WithAdmission has a decide, at accept, which stream connections are
// served; nil, the default, admits all. It applies to TCP listeners of the
// native loop and of the net and gnet backends. Connections accepted on a
// Unix socket have no IP address: they are admitted without calling a
// (their access is the socket file's permissions). Connections made with
// Dial or taken in with Adopt, and datagram endpoints, are not subject to
// it; a connection taken off its loop with Detach is released then.
//
// On the native loop a refused connection costs an accept and a close and
// nothing else: no Factory call, no epoll_ctl, no table entry. The gnet
// backend can apply it only in its OnOpen, after gnet has registered the
// connection, but still before the Factory runs.
func WithAdmission(a Admission) Option { return func(o *options) { o.admission = a } }

// PeerOf returns the IP address of a net.Addr as an Admission sees it, for
// engines: IPv4-mapped IPv6 addresses unmapped, without the zone of a
// link-local address (the native loop's peers have none), the zero Addr
// for an address with no IP (a Unix socket's).
func PeerOf(a net.Addr) netip.Addr {
	switch a := a.(type) {
	case *net.TCPAddr:
		return a.AddrPort().Addr().Unmap().WithZone("")
	case *net.UDPAddr:
		return a.AddrPort().Addr().Unmap().WithZone("")
	}
	return netip.Addr{}
}

// admit applies the loop's Admission to a connection just accepted from
// peer, on the accepting loop. It reports whether the connection is to be
// served; a refused one it has closed.
func (l *eventLoop) admit(fd int, peer netip.Addr) bool {
	if l.adm.Admit(peer) {
		return true
	}
	unix.Close(fd)
	return false
}

// addAdmitted registers an admitted connection from peer (zero: not
// subject to admission) and remembers peer for its Release. The peer goes
// in before the Factory runs, which may close the connection already.
func (l *eventLoop) addAdmitted(fd int, f Factory, peer netip.Addr) {
	if peer.IsValid() {
		l.peers[int32(fd)] = peer
	}
	if _, err := l.addConn(fd, f, fWritable); err != nil && peer.IsValid() {
		// Not registered, and closed: no closeConn will release it.
		delete(l.peers, int32(fd))
		l.adm.Release(peer)
	}
}

// releasePeer releases the admission of a stream connection being closed,
// if it had one.
func (l *eventLoop) releasePeer(fd int32) {
	if peer, ok := l.peers[fd]; ok {
		delete(l.peers, fd)
		l.adm.Release(peer)
	}
}
