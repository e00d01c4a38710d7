//go:build linux

package reactor

import (
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

// rawRead reads from a non-blocking socket. RawSyscall skips the runtime's
// entersyscall/exitsyscall, which costs about a quarter of the server's CPU
// per small request here. It is sound only because the fd is O_NONBLOCK: the
// call returns at once with data or EAGAIN and never holds the thread.
//
// A read larger than rawReadMax goes through the runtime's path instead. A
// raw call never gives up its thread, and the runtime cannot stop it: a
// read of megabytes into freshly allocated memory (an array received in
// place) page-faults inside the call, and a garbage collection waiting to
// stop the world waits for it. Through unix.Read the scheduler knows the
// goroutine is in a system call, so the collector does not wait for it.
// BenchmarkReadPath measured the two here: 2.8 against 4.0 µs for 64
// bytes, while at 64 KiB and 1 MiB into fresh memory the difference was
// within the noise (14.5 against 10.9 µs, 143 against 184 µs), so the
// runtime's path costs nothing that matters above the loop's 64 KiB buffer.
func rawRead(fd int, p []byte) (int, unix.Errno) {
	if len(p) > rawReadMax {
		n, err := unix.Read(fd, p)
		if err != nil {
			return 0, err.(unix.Errno)
		}
		return n, 0
	}
	r, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
	return int(r), e
}

// rawReadMax is the largest read that takes the raw path: the loop's
// default read buffer, so that ordinary reads stay raw.
const rawReadMax = 64 << 10

// rawWrite sends on a non-blocking socket with MSG_NOSIGNAL, so a reset peer
// gives EPIPE instead of a SIGPIPE. Non-blocking for the same reason as rawRead.
func rawWrite(fd int, p []byte) (int, unix.Errno) {
	r, _, e := unix.RawSyscall6(unix.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)), unix.MSG_NOSIGNAL, 0, 0)
	return int(r), e
}

// acceptCall is the system call accept makes, for its errors.
const acceptCall = "accept4"

// accept takes one connection off a non-blocking listener, already
// non-blocking and close-on-exec. It passes no address buffer: unix.Accept4
// allocates one (RawSockaddrAny, 112 bytes) and a Sockaddr built from it
// per call, which the loop threw away (TestAcceptAllocatesOnlyTheConn).
// RawSyscall is sound for the reason rawRead gives: the listener is
// O_NONBLOCK, so the call returns at once with a connection or EAGAIN;
// x/sys goes through Syscall6 because it cannot assume that.
// With an Admission, acceptAddr.accept passes an address buffer instead.
func accept(lfd int) (int, error) {
	r, _, e := unix.RawSyscall6(unix.SYS_ACCEPT4, uintptr(lfd), 0, 0, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0, 0)
	if e != 0 {
		return -1, e // an Errno below 256 in an interface allocates nothing
	}
	return int(r), nil
}

// acceptAddr is the address buffer its accept passes to accept4, one per
// loop and reused.
type acceptAddr struct {
	rsa unix.RawSockaddrAny
	n   uint32 // socklen_t
}

// accept is the platform's accept with the peer's IP address, for an
// Admission. The kernel writes the address into s, which the loop owns,
// and netip.Addr is a value, so it allocates nothing either. RawSyscall as
// for accept; passing &s.rsa is sound because s is a field of the loop,
// which lives on the heap, which the collector does not move, and the
// pointers are converted in the call expression.
func (s *acceptAddr) accept(lfd int) (int, netip.Addr, error) {
	s.n = unix.SizeofSockaddrAny
	r, _, e := unix.RawSyscall6(unix.SYS_ACCEPT4, uintptr(lfd), uintptr(unsafe.Pointer(&s.rsa)),
		uintptr(unsafe.Pointer(&s.n)), unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0, 0)
	if e != 0 {
		return -1, netip.Addr{}, e
	}
	return int(r), rawPeer(&s.rsa), nil
}

// rawPeer reads the IP address out of a sockaddr the kernel filled,
// IPv4-mapped IPv6 addresses unmapped (a dual-stack listener reports an
// IPv4 peer as ::ffff:a.b.c.d); the zero Addr for any other family.
func rawPeer(rsa *unix.RawSockaddrAny) netip.Addr {
	switch rsa.Addr.Family {
	case unix.AF_INET:
		// Sound: the kernel wrote a sockaddr_in, which RawSockaddrAny is
		// large enough for and aligned to.
		return netip.AddrFrom4((*unix.RawSockaddrInet4)(unsafe.Pointer(rsa)).Addr)
	case unix.AF_INET6:
		return netip.AddrFrom16((*unix.RawSockaddrInet6)(unsafe.Pointer(rsa)).Addr).Unmap()
	}
	return netip.Addr{}
}

// newSocket makes a non-blocking, close-on-exec stream socket.
func newSocket(domain int) (int, error) {
	return unix.Socket(domain, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
}

// writevState is the iovec array and msghdr rawWritev reuses, made at its
// first use.
type writevState struct {
	iov      []unix.Iovec
	msg      *unix.Msghdr
	iovBytes int // the bytes the last call offered
}

// maxIov is the most buffers one Writev sends (the kernel allows 1024).
const maxIov = 64

// rawWritev sends bufs with one sendmsg(MSG_NOSIGNAL) over an iovec array
// and a msghdr the loop owns, so that it allocates nothing (unix.Writev has
// no MSG_NOSIGNAL, and a reset peer must give EPIPE, not SIGPIPE). It sends
// at most maxIov non-empty buffers and records their bytes in w.iovBytes.
// Non-blocking socket: the call returns at once, so RawSyscall is sound, as
// for rawRead.
func (l *eventLoop) rawWritev(fd int, bufs [][]byte) (int, unix.Errno) {
	w := &l.wv
	if w.iov == nil {
		w.iov = make([]unix.Iovec, 0, maxIov)
		w.msg = new(unix.Msghdr)
	}
	iov := w.iov[:0]
	w.iovBytes = 0
	for _, b := range bufs {
		if len(b) == 0 {
			continue
		}
		if len(iov) == maxIov {
			break
		}
		iov = append(iov, unix.Iovec{Base: &b[0]})
		iov[len(iov)-1].SetLen(len(b))
		w.iovBytes += len(b)
	}
	w.msg.Iov = &iov[0]
	w.msg.SetIovlen(len(iov))
	r, _, e := unix.RawSyscall(unix.SYS_SENDMSG, uintptr(fd), uintptr(unsafe.Pointer(w.msg)), unix.MSG_NOSIGNAL)
	clear(iov) // keep no reference to the caller's memory
	w.msg.Iov = nil
	return int(r), e
}
