//go:build linux

package reactor

import (
	"encoding/binary"
	"net/netip"
	"os"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Datagrams on Linux move in batches: recvmmsg and sendmmsg, one system
// call for up to a vector of datagrams, through vectors of mmsghdr, iovec,
// sockaddr and control space that the loop owns and reuses. Nothing is
// allocated per datagram: unix.Recvfrom would allocate a Sockaddr each time.

// rxBatch is a loop's receive vector. One endpoint (owner) owns its
// contents at a time; one left unfinished is copied out (endpoint.hold).
type rxBatch struct {
	hdrs  []unix.Mmsghdr
	iovs  []unix.Iovec
	names []unix.RawSockaddrInet6 // big enough for IPv4 and IPv6
	ctrl  []byte                  // ctrlSpace per slot: the SO_TIMESTAMPNS message
	buf   []byte                  // slot bytes per slot
	slot  int
	n     int // datagrams in the batch
	next  int // the next one to hand out
	owner *endpoint
}

// txBatch is a loop's send queue: datagrams one endpoint (owner) queued in
// this handler call, copied into buf, sent in one sendmmsg.
type txBatch struct {
	hdrs  []unix.Mmsghdr
	iovs  []unix.Iovec
	names []unix.RawSockaddrInet6
	buf   []byte
	used  int
	n     int
	owner *endpoint
}

// ctrlSpace is the control space for one SO_TIMESTAMPNS message.
var ctrlSpace = unix.CmsgSpace(int(unsafe.Sizeof(unix.Timespec{})))

// batchLen is the most datagrams one recvmmsg or sendmmsg moves.
const batchLen = 64

// initDgram allocates the loop's vectors when its first datagram socket
// registers: a loop with none pays nothing for them.
func (l *eventLoop) initDgram() {
	if l.rx != nil {
		return
	}
	slots := min(max(l.dgramRecv/l.dgramSize, 1), batchLen)
	rx := &rxBatch{
		hdrs:  make([]unix.Mmsghdr, slots),
		iovs:  make([]unix.Iovec, slots),
		names: make([]unix.RawSockaddrInet6, slots),
		ctrl:  make([]byte, slots*ctrlSpace),
		buf:   make([]byte, slots*l.dgramSize),
		slot:  l.dgramSize,
	}
	for i := range rx.hdrs {
		rx.iovs[i].Base = &rx.buf[i*rx.slot]
		rx.iovs[i].SetLen(rx.slot)
		h := &rx.hdrs[i].Hdr
		h.Name = (*byte)(unsafe.Pointer(&rx.names[i]))
		h.Iov = &rx.iovs[i]
		h.SetIovlen(1)
		h.Control = &rx.ctrl[i*ctrlSpace]
	}
	tx := &txBatch{
		hdrs:  make([]unix.Mmsghdr, batchLen),
		iovs:  make([]unix.Iovec, batchLen),
		names: make([]unix.RawSockaddrInet6, batchLen),
		buf:   make([]byte, 64<<10), // room for the largest UDP datagram
	}
	for i := range tx.hdrs {
		tx.hdrs[i].Hdr.Iov = &tx.iovs[i]
		tx.hdrs[i].Hdr.SetIovlen(1)
	}
	l.rx, l.tx = rx, tx
}

// receive refills the batch from e's socket with one recvmmsg. Fewer
// datagrams than the vector holds means the socket is drained: the next
// one to arrive makes a new edge. A single datagram read would not say so.
func (l *eventLoop) receive(e *endpoint) error {
	rx := l.rx
	if rx.owner != nil && rx.owner != e && rx.next < rx.n {
		rx.owner.hold()
	}
	rx.owner, rx.n, rx.next = e, 0, 0
	for i := range rx.hdrs {
		h := &rx.hdrs[i].Hdr
		h.Namelen = uint32(unsafe.Sizeof(rx.names[i]))
		h.SetControllen(ctrlSpace)
		h.Flags = 0
	}
	for {
		// Non-blocking socket: the call returns at once (see rawRead).
		r, _, errno := unix.RawSyscall6(unix.SYS_RECVMMSG, uintptr(e.c.fd),
			uintptr(unsafe.Pointer(&rx.hdrs[0])), uintptr(len(rx.hdrs)), unix.MSG_TRUNC, 0, 0)
		switch errno {
		case 0:
			rx.n = int(r)
			if rx.n < len(rx.hdrs) {
				e.c.flags &^= fReadable
			}
			return nil
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			e.c.flags &^= fReadable
			return ErrWouldBlock
		}
		return os.NewSyscallError("recvmmsg", errno)
	}
}

// take hands out the batch's next datagram; false if it was truncated,
// which is dropped and counted.
func (rx *rxBatch) take(e *endpoint) (Datagram, bool) {
	i := rx.next
	rx.next++
	m := &rx.hdrs[i]
	from := rawToAddrPort(&rx.names[i])
	if m.Hdr.Flags&unix.MSG_TRUNC != 0 || int(m.Len) > rx.slot {
		e.truncated(int(m.Len), from)
		return Datagram{}, false
	}
	d := Datagram{Data: rx.buf[i*rx.slot : i*rx.slot+int(m.Len)], From: from}
	if int(m.Hdr.Controllen) >= ctrlSpace {
		d.Received = timestamp(rx.ctrl[i*ctrlSpace : (i+1)*ctrlSpace])
	}
	return d, true
}

// timestamp reads an SO_TIMESTAMPNS control message.
func timestamp(b []byte) time.Time {
	h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
	if h.Level != unix.SOL_SOCKET || h.Type != unix.SO_TIMESTAMPNS {
		return time.Time{}
	}
	ts := (*unix.Timespec)(unsafe.Pointer(&b[unix.CmsgLen(0)]))
	return time.Unix(ts.Unix())
}

// rawToAddrPort converts a sockaddr the kernel filled in. An IPv4-mapped
// IPv6 address becomes IPv4.
func rawToAddrPort(sa *unix.RawSockaddrInet6) netip.AddrPort {
	switch sa.Family {
	case unix.AF_INET:
		a := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		return netip.AddrPortFrom(netip.AddrFrom4(a.Addr), ntohs(a.Port))
	case unix.AF_INET6:
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), ntohs(sa.Port))
	}
	return netip.AddrPort{}
}

// ntohs reads a port as the kernel stores it, in network byte order.
func ntohs(p uint16) uint16 {
	var b [2]byte
	binary.NativeEndian.PutUint16(b[:], p)
	return binary.BigEndian.Uint16(b[:])
}

// queueTx copies p into the send queue for e, sending first what is queued
// for another endpoint, or what fills the queue.
func (l *eventLoop) queueTx(e *endpoint, p []byte, to netip.AddrPort) {
	tx := l.tx
	if tx.n > 0 && (tx.owner != e || tx.n == len(tx.hdrs) || tx.used+len(p) > len(tx.buf)) {
		l.flushTx()
	}
	tx.owner = e
	i := tx.n
	copy(tx.buf[tx.used:], p)
	iov := &tx.iovs[i]
	iov.SetLen(len(p))
	iov.Base = nil
	if len(p) > 0 {
		iov.Base = &tx.buf[tx.used]
	}
	h := &tx.hdrs[i].Hdr
	h.Name, h.Namelen = nil, 0
	if to.IsValid() {
		h.Name = (*byte)(unsafe.Pointer(&tx.names[i]))
		h.Namelen = putAddrPort(&tx.names[i], to)
	}
	tx.used += len(p)
	tx.n++
}

// putAddrPort writes to into sa, as IPv4 or IPv6 by its form.
func putAddrPort(sa *unix.RawSockaddrInet6, to netip.AddrPort) uint32 {
	port := ntohs(to.Port()) // the same swap both ways
	if to.Addr().Is4() {
		a := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		*a = unix.RawSockaddrInet4{Family: unix.AF_INET, Port: port, Addr: to.Addr().As4()}
		return unix.SizeofSockaddrInet4
	}
	*sa = unix.RawSockaddrInet6{Family: unix.AF_INET6, Port: port, Addr: to.Addr().As16()}
	return unix.SizeofSockaddrInet6
}

// flushTx sends the queue with sendmmsg. A datagram the socket refuses
// for want of buffer space is dropped and counted, as the network would
// drop it; another error drops only the datagram it is about.
func (l *eventLoop) flushTx() {
	tx := l.tx
	if tx == nil || tx.n == 0 {
		return
	}
	e := tx.owner
	sent := 0
	for sent < tx.n && e.c.flags&fClosed == 0 {
		r, _, errno := unix.RawSyscall6(unix.SYS_SENDMMSG, uintptr(e.c.fd),
			uintptr(unsafe.Pointer(&tx.hdrs[sent])), uintptr(tx.n-sent), unix.MSG_NOSIGNAL, 0, 0)
		switch errno {
		case 0:
			sent += int(r)
			e.stats.Sent += uint64(r)
			continue
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			e.c.flags &^= fWritable
			e.stats.Dropped += uint64(tx.n - sent)
			sent = tx.n
			continue
		}
		e.stats.Dropped++ // ECONNREFUSED from an earlier ICMP error, EMSGSIZE, ...
		sent++
	}
	tx.n, tx.used, tx.owner = 0, 0, nil
}

// drop forgets what e queued.
func (tx *txBatch) drop(e *endpoint) {
	if tx != nil && tx.owner == e {
		tx.n, tx.used, tx.owner = 0, 0, nil
	}
}

// newPacketSocket makes a non-blocking, close-on-exec datagram socket.
func newPacketSocket(domain int) (int, error) {
	return unix.Socket(domain, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
}

// enableTimestamps asks the kernel to stamp each datagram on arrival.
func enableTimestamps(fd int) error {
	return unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
}
