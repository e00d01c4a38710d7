//go:build darwin || dragonfly || freebsd || netbsd || openbsd

package reactor

import (
	"net/netip"
	"os"

	"golang.org/x/sys/unix"
)

// Datagrams on the BSDs and macOS move one per system call, through
// package unix's recvmsg and sendto, which allocate a socket address per
// datagram: these systems lack recvmmsg (macOS) or it is not wired up
// here yet. A single datagram read does not say the socket is drained, so
// an endpoint reads until EAGAIN. No kernel receive time is taken
// (Datagram.Received is zero).

// rxBatch holds the one datagram last received, for its owner.
type rxBatch struct {
	buf   []byte
	slot  int
	n     int // 1 when a datagram is waiting
	next  int
	size  int
	trunc bool
	from  netip.AddrPort
	owner *endpoint
}

// txBatch is empty here: SendTo sends at once.
type txBatch struct{}

func (l *eventLoop) initDgram() {
	if l.rx == nil {
		l.rx = &rxBatch{buf: make([]byte, l.dgramSize), slot: l.dgramSize}
	}
}

func (l *eventLoop) receive(e *endpoint) error {
	rx := l.rx
	if rx.owner != nil && rx.owner != e && rx.next < rx.n {
		rx.owner.hold()
	}
	rx.owner, rx.n, rx.next = e, 0, 0
	for {
		n, _, flags, sa, err := unix.Recvmsg(int(e.c.fd), rx.buf, nil, 0)
		switch err {
		case nil:
			rx.n, rx.size, rx.trunc = 1, n, flags&unix.MSG_TRUNC != 0
			rx.from = toAddrPort(sa)
			return nil
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			e.c.flags &^= fReadable
			return ErrWouldBlock
		}
		return os.NewSyscallError("recvmsg", err)
	}
}

func (rx *rxBatch) take(e *endpoint) (Datagram, bool) {
	rx.next++
	if rx.trunc {
		e.truncated(rx.size, rx.from)
		return Datagram{}, false
	}
	return Datagram{Data: rx.buf[:rx.size], From: rx.from}, true
}

func toAddrPort(sa unix.Sockaddr) netip.AddrPort {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port))
	case *unix.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(a.Addr).Unmap(), uint16(a.Port))
	}
	return netip.AddrPort{}
}

func (l *eventLoop) queueTx(e *endpoint, p []byte, to netip.AddrPort) {
	var err error
	switch {
	case !to.IsValid():
		_, err = unix.Write(int(e.c.fd), p)
	case to.Addr().Is4():
		err = unix.Sendto(int(e.c.fd), p, 0, &unix.SockaddrInet4{Port: int(to.Port()), Addr: to.Addr().As4()})
	default:
		err = unix.Sendto(int(e.c.fd), p, 0, &unix.SockaddrInet6{Port: int(to.Port()), Addr: to.Addr().As16()})
	}
	if err != nil {
		e.stats.Dropped++
		return
	}
	e.stats.Sent++
}

func (l *eventLoop) flushTx() {}

func (tx *txBatch) drop(*endpoint) {}

func newPacketSocket(domain int) (int, error) {
	fd, err := unix.Socket(domain, unix.SOCK_DGRAM, 0)
	if err != nil {
		return -1, err
	}
	unix.CloseOnExec(fd)
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

func enableTimestamps(int) error { return nil }
