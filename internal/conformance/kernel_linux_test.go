//go:build linux

package conformance

import (
	"bufio"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

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

// unread returns how many bytes wait in c's receive queue (SIOCINQ): the
// peer sent them and c has not read them.
func unread(t testing.TB, c *net.TCPConn) int {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	n, ierr := -1, error(nil)
	if err := rc.Control(func(fd uintptr) { n, ierr = unix.IoctlGetInt(int(fd), unix.SIOCINQ) }); err != nil {
		t.Fatal(err)
	}
	if ierr != nil {
		t.Fatalf("ioctl SIOCINQ: %v", ierr)
	}
	return n
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
		tx, _, _ := strings.Cut(fields[4], ":") // tx_queue:rx_queue
		txq, _ := strconv.ParseUint(tx, 16, 32)
		out = append(out, tcpSocket{
			localPort: port(fields[1]), remotePort: port(fields[2]),
			state: int(st), txQueue: int(txq),
		})
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
