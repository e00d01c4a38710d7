package conformance

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// What the kernel says about sockets, for tests that must wait for a state
// no handler call reveals: data acknowledged by the server's kernel, a FIN
// queued by a server that closed or shut down its side. unacked and
// tcpSockets are Linux's (kernel_linux_test.go); elsewhere they skip.

// sendOOB sends p on c as TCP urgent data (MSG_OOB).
func sendOOB(c *net.TCPConn, p []byte) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = rc.Write(func(fd uintptr) bool {
		serr = unix.Sendto(int(fd), p, unix.MSG_OOB, nil)
		return serr != unix.EAGAIN
	})
	if err != nil {
		return err
	}
	return os.NewSyscallError("sendto", serr)
}

// TCP states as Linux numbers them (include/net/tcp_states.h).
const (
	tcpFinWait1  = 0x04
	tcpFinWait2  = 0x05
	tcpTimeWait  = 0x06
	tcpCloseWait = 0x08
	tcpLastAck   = 0x09
	tcpClosing   = 0x0b
)

// tcpSocket is what tcpSockets says of one IPv4 TCP socket of this
// network namespace, orphans (closed by their process) included.
type tcpSocket struct {
	localPort, remotePort int
	state                 int
	txQueue               int // bytes in its send queue
}

// serverSide returns the server's end of client connection c, as
// /proc/net/tcp has it, and whether it is there.
func serverSide(socks []tcpSocket, c net.Conn) (tcpSocket, bool) {
	local, remote := c.LocalAddr().(*net.TCPAddr), c.RemoteAddr().(*net.TCPAddr)
	for _, s := range socks {
		if s.localPort == remote.Port && s.remotePort == local.Port {
			return s, true
		}
	}
	return tcpSocket{}, false
}

// goid returns the calling goroutine's id, from the header of its stack
// trace ("goroutine 42 [running]:"). Tests use it to check which goroutine
// runs a handler call or a posted function.
func goid() uint64 {
	var b [64]byte
	s := bytes.TrimPrefix(b[:runtime.Stack(b[:], false)], []byte("goroutine "))
	if i := bytes.IndexByte(s, ' '); i >= 0 {
		s = s[:i]
	}
	n, err := strconv.ParseUint(string(s), 10, 64)
	if err != nil {
		panic(fmt.Sprintf("goid: cannot parse %q", s))
	}
	return n
}

// smallReceiveBuffer is a net.Dialer Control that sets SO_RCVBUF before
// connect, so that the window the client announces in its SYN is small.
func smallReceiveBuffer(size int) func(string, string, syscall.RawConn) error {
	return func(_, _ string, rc syscall.RawConn) error {
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, size)
		}); err != nil {
			return err
		}
		return os.NewSyscallError("setsockopt", serr)
	}
}
