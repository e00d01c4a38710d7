//go:build !linux

package conformance

import (
	"net"
	"testing"
)

// unacked is SIOCOUTQ, which only Linux has in this form: the tests that
// need it skip elsewhere.
func unacked(t testing.TB, _ *net.TCPConn) int {
	t.Helper()
	t.Skip("needs SIOCOUTQ (Linux) to see what the server's kernel has acknowledged")
	return 0
}

// unread is SIOCINQ, which only Linux has under that name: the tests that
// need it skip elsewhere.
func unread(t testing.TB, _ *net.TCPConn) int {
	t.Helper()
	t.Skip("needs SIOCINQ (Linux) to see what waits unread in the client's socket")
	return 0
}

// tcpSockets reads /proc/net/tcp, which only Linux has: the tests that need
// it skip elsewhere.
func tcpSockets(t testing.TB) []tcpSocket {
	t.Helper()
	t.Skip("needs /proc/net/tcp (Linux) to see the server's sockets")
	return nil
}
