//go:build linux

package sockopt

import "golang.org/x/sys/unix"

// tcpClose is TCP_CLOSE (include/net/tcp_states.h): the state of a
// connection that was reset or aborted.
const tcpClose = 7

// Unsent returns how many bytes the kernel still holds in fd's send queue,
// sent or not but not yet acknowledged (SIOCOUTQ), or 0 if it cannot tell.
// A Unix socket's is always 0: what it wrote is in the peer's receive
// queue already, where a close loses none of it, though SIOCOUTQ counts it
// until the peer reads it.
func Unsent(fd int) int {
	n, err := unix.IoctlGetInt(fd, unix.SIOCOUTQ)
	if err != nil || n <= 0 {
		return 0
	}
	// A reset connection goes on reporting the bytes it will never send:
	// SIOCOUTQ is write_seq - snd_una, and a reset moves neither. TCP_INFO
	// fails only on a socket that is not TCP (a Unix socket).
	if ti, err := unix.GetsockoptTCPInfo(fd, unix.IPPROTO_TCP, unix.TCP_INFO); err != nil || ti.State == tcpClose {
		return 0
	}
	return n
}
