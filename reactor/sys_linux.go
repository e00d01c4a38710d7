//go:build linux

package reactor

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// rawRead reads from a non-blocking socket. RawSyscall skips the runtime's
// entersyscall/exitsyscall, which costs about a quarter of the server's CPU
// per small request here. It is sound only because the fd is O_NONBLOCK: the
// call returns at once with data or EAGAIN and never holds the thread.
func rawRead(fd int, p []byte) (int, unix.Errno) {
	r, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
	return int(r), e
}

// rawWrite sends on a non-blocking socket with MSG_NOSIGNAL, so a reset peer
// gives EPIPE instead of a SIGPIPE. Non-blocking for the same reason as rawRead.
func rawWrite(fd int, p []byte) (int, unix.Errno) {
	r, _, e := unix.RawSyscall6(unix.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)), unix.MSG_NOSIGNAL, 0, 0)
	return int(r), e
}

// accept takes one connection off a non-blocking listener, already
// non-blocking and close-on-exec.
func accept(lfd int) (int, error) {
	fd, _, err := unix.Accept4(lfd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
	return fd, err
}

// newSocket makes a non-blocking, close-on-exec stream socket.
func newSocket(domain int) (int, error) {
	return unix.Socket(domain, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
}

// tcpClose is TCP_CLOSE (include/net/tcp_states.h): the state of a
// connection that was reset or aborted.
const tcpClose = 7

// unsent returns how many bytes the kernel still holds in fd's send queue,
// sent or not but not yet acknowledged (SIOCOUTQ), or 0 if it cannot tell.
func unsent(fd int) int {
	n, err := unix.IoctlGetInt(fd, unix.SIOCOUTQ)
	if err != nil || n <= 0 {
		return 0
	}
	// A reset connection goes on reporting the bytes it will never send:
	// SIOCOUTQ is write_seq - snd_una, and a reset moves neither.
	if ti, err := unix.GetsockoptTCPInfo(fd, unix.IPPROTO_TCP, unix.TCP_INFO); err == nil && ti.State == tcpClose {
		return 0
	}
	return n
}
