package conformance

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// What the kernel says about sockets, for tests that must wait for a state
// no handler call reveals: data acknowledged by the server's kernel, a FIN
// queued by a server that closed or shut down its side.

// unacked returns how many bytes c's kernel holds that the peer's kernel has
// not acknowledged yet (SIOCOUTQ): 0 once everything sent has arrived there.
func unacked(t testing.TB, c *net.TCPConn) int {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	n, ierr := -1, error(nil)
	if err := rc.Control(func(fd uintptr) { n, ierr = unix.IoctlGetInt(int(fd), unix.SIOCOUTQ) }); err != nil {
		t.Fatal(err)
	}
	if ierr != nil {
		t.Fatalf("ioctl SIOCOUTQ: %v", ierr)
	}
	return n
}

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

// TCP states as /proc/net/tcp numbers them (include/net/tcp_states.h).
const (
	tcpEstablished = 0x01
	tcpFinWait1    = 0x04
	tcpFinWait2    = 0x05
	tcpTimeWait    = 0x06
	tcpCloseWait   = 0x08
	tcpLastAck     = 0x09
	tcpClosing     = 0x0b
)

// tcpSocket is one line of /proc/net/tcp: an IPv4 TCP socket of this
// network namespace, orphans (closed by their process) included.
type tcpSocket struct {
	localPort, remotePort int
	state                 int
	txQueue, rxQueue      int
}

// tcpSockets reads /proc/net/tcp.
func tcpSockets(t testing.TB) []tcpSocket {
	t.Helper()
	f, err := os.Open("/proc/net/tcp")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []tcpSocket
	s := bufio.NewScanner(f)
	s.Scan() // header
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) < 5 {
			continue
		}
		port := func(hexAddr string) int {
			i := strings.LastIndexByte(hexAddr, ':')
			v, _ := strconv.ParseUint(hexAddr[i+1:], 16, 16)
			return int(v)
		}
		st, _ := strconv.ParseUint(fields[3], 16, 8)
		tx, rx, _ := strings.Cut(fields[4], ":")
		txq, _ := strconv.ParseUint(tx, 16, 32)
		rxq, _ := strconv.ParseUint(rx, 16, 32)
		out = append(out, tcpSocket{
			localPort: port(fields[1]), remotePort: port(fields[2]),
			state: int(st), txQueue: int(txq), rxQueue: int(rxq),
		})
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	return out
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
