//go:build darwin || freebsd || netbsd || openbsd || dragonfly

package reactor

import (
	"net/netip"

	"golang.org/x/sys/unix"
)

// rawRead reads from a non-blocking socket. The BSDs go through libc or the
// ordinary wrapper; only Linux has been measured for the raw path.
func rawRead(fd int, p []byte) (int, unix.Errno) {
	n, err := unix.Read(fd, p)
	if err != nil {
		return 0, err.(unix.Errno)
	}
	return n, 0
}

// rawWrite writes to a non-blocking socket; SO_NOSIGPIPE, set at accept and
// connect, turns SIGPIPE into EPIPE.
func rawWrite(fd int, p []byte) (int, unix.Errno) {
	n, err := unix.Write(fd, p)
	if err != nil {
		return 0, err.(unix.Errno)
	}
	return n, 0
}

// acceptCall is the system call accept makes, for its errors.
const acceptCall = "accept"

// accept takes one connection off a non-blocking listener and makes it
// non-blocking and close-on-exec (macOS has no accept4). Unlike Linux's, it
// still gets the peer's address, which unix.Accept allocates: macOS and
// OpenBSD reach the kernel only through libc wrappers, and the one x/sys
// has for accept, unexported, is the only way to pass no address buffer
// short of a go:linkname into x/sys. Not measured on these systems.
func accept(lfd int) (int, error) {
	fd, _, err := unix.Accept(lfd)
	return prepare(fd, err)
}

// acceptAddr is empty on the BSDs: unix.Accept returns the address.
type acceptAddr struct{}

// accept is the platform's accept with the peer's IP address, for an
// Admission, from the Sockaddr unix.Accept builds anyway, IPv4-mapped IPv6
// addresses unmapped.
func (*acceptAddr) accept(lfd int) (int, netip.Addr, error) {
	fd, sa, err := unix.Accept(lfd)
	fd, err = prepare(fd, err)
	if err != nil {
		return -1, netip.Addr{}, err
	}
	return fd, peerOf(sa), nil
}

// peerOf returns the IP address in sa, IPv4-mapped IPv6 addresses
// unmapped, or the zero Addr for a Sockaddr that has none (a Unix socket).
func peerOf(sa unix.Sockaddr) netip.Addr {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrFrom4(sa.Addr)
	case *unix.SockaddrInet6:
		return netip.AddrFrom16(sa.Addr).Unmap()
	}
	return netip.Addr{}
}

// newSocket makes a non-blocking, close-on-exec stream socket.
func newSocket(domain int) (int, error) {
	return prepare(unix.Socket(domain, unix.SOCK_STREAM, 0))
}

// prepare gives a new socket what Linux sets with flags at creation:
// close-on-exec, non-blocking, and no SIGPIPE.
func prepare(fd int, err error) (int, error) {
	if err != nil {
		return -1, err
	}
	unix.CloseOnExec(fd)
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return -1, err
	}
	setNoSigpipe(fd)
	return fd, nil
}

// writevState keeps only the bytes the last call offered: package unix
// makes the iovecs.
type writevState struct {
	iovBytes int
}

// rawWritev sends bufs with one sendmsg through package unix, which
// allocates its iovecs per call; SO_NOSIGPIPE stands for MSG_NOSIGNAL.
func (l *eventLoop) rawWritev(fd int, bufs [][]byte) (int, unix.Errno) {
	l.wv.iovBytes = 0
	for _, b := range bufs {
		l.wv.iovBytes += len(b)
	}
	n, err := unix.SendmsgBuffers(fd, bufs, nil, nil, 0)
	if err != nil {
		return 0, err.(unix.Errno)
	}
	return n, 0
}
