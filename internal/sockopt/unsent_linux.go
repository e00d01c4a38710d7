//go:build linux

package sockopt

import "golang.org/x/sys/unix"

// tcpClose is TCP_CLOSE (include/net/tcp_states.h): the state of a
// connection that was reset or aborted.
const tcpClose = 7

// Unsent returns how many bytes the kernel still holds in fd's send queue,
// sent or not but not yet acknowledged (SIOCOUTQ), or 0 if it cannot tell.
func Unsent(fd int) int {
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
