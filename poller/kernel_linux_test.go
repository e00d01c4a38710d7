//go:build linux

package poller_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/edgeloop/edgeloop/poller"
	"golang.org/x/sys/unix"
)

// epollBits are the bits the epoll backend asks for and translates.
const epollBits = unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLHUP | unix.EPOLLERR

// rawEpoll watches one fd level-triggered on a raw epoll instance, so a test
// can read the bits the kernel reports for the fd's current state.
type rawEpoll struct {
	epfd, fd int
}

func newRawEpoll(t *testing.T, s *sock) *rawEpoll {
	t.Helper()
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		t.Fatalf("epoll_create1: %v", err)
	}
	own(t, epfd)
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP, Fd: int32(s.fd)}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, s.fd, &ev); err != nil {
		t.Fatalf("epoll_ctl: %v", err)
	}
	return &rawEpoll{epfd, s.fd}
}

// bits returns the fd's current epoll bits, 0 if it reports none.
func (r *rawEpoll) bits(t *testing.T) uint32 {
	t.Helper()
	evs := make([]unix.EpollEvent, 1)
	for {
		n, err := unix.EpollWait(r.epfd, evs, 0)
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			t.Fatalf("epoll_wait: %v", err)
		case n == 0:
			return 0
		}
		return evs[0].Events & epollBits
	}
}

// await waits until the fd reports exactly want, since loopback delivery
// may finish just after the call that caused it, and fails after the timeout.
func (r *rawEpoll) await(t *testing.T, want uint32) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	got := r.bits(t)
	for got != want && time.Now().Before(deadline) {
		got = r.bits(t)
	}
	if got != want {
		t.Fatalf("epoll bits %s, want %s", bitNames(got), bitNames(want))
	}
}

func bitNames(b uint32) string {
	s := ""
	for _, n := range []struct {
		bit  uint32
		name string
	}{{unix.EPOLLIN, "IN"}, {unix.EPOLLOUT, "OUT"}, {unix.EPOLLRDHUP, "RDHUP"}, {unix.EPOLLHUP, "HUP"}, {unix.EPOLLERR, "ERR"}} {
		if b&n.bit != 0 {
			s += n.name + "|"
		}
	}
	if s == "" {
		return "none"
	}
	return s[:len(s)-1]
}

// TestKernelEpollBits records the bits Linux reports for a TCP socket in each
// state a connection goes through (checklist 11), and what the epoll backend
// makes of them, so a kernel change or a translation mistake shows here.
func TestKernelEpollBits(t *testing.T) {
	const (
		in, out, rdhup, hup, err = unix.EPOLLIN, unix.EPOLLOUT, unix.EPOLLRDHUP, unix.EPOLLHUP, unix.EPOLLERR
	)
	type step struct {
		name string
		do   func(t *testing.T, local, peer *sock)
		bits uint32
		want string // poller.Event.String() flags, after the token
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"Orderly", []step{
			{"Fresh", func(*testing.T, *sock, *sock) {}, out, "W"},
			{"DataArrived", func(t *testing.T, _, peer *sock) { send(t, peer, "x") }, in | out, "R W"},
			{"Drained", func(t *testing.T, local, _ *sock) { drain(t, local) }, out, "W"},
			{"PeerShutWR", func(t *testing.T, _, peer *sock) { unix.Shutdown(peer.fd, unix.SHUT_WR) }, in | out | rdhup, "R W RDHUP"},
			{"BothShutWR", func(t *testing.T, local, _ *sock) { unix.Shutdown(local.fd, unix.SHUT_WR) }, in | out | rdhup | hup, "R W RDHUP HUP"},
		}},
		{"Reset", []step{
			{"PeerRST", func(t *testing.T, _, peer *sock) { reset(t, peer) }, in | out | rdhup | hup | err, "R W RDHUP HUP ERR"},
			{"ErrorRead", func(t *testing.T, local, _ *sock) {
				if _, e := unix.Read(local.fd, make([]byte, 1)); e != unix.ECONNRESET {
					t.Fatalf("read: %v, want ECONNRESET", e)
				}
			}, in | out | rdhup | hup, "R W RDHUP HUP"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			local, peer := pair(t)
			raw := newRawEpoll(t, local)
			for _, s := range tc.steps {
				t.Run(s.name, func(t *testing.T) {
					s.do(t, local, peer)
					raw.await(t, s.bits)
					want := fmt.Sprintf("token=0x0 %s", s.want)
					if got := poller.NewEvent(0, poller.FromEpoll(s.bits)).String(); got != want {
						t.Fatalf("FromEpoll(%s) = %q, want %q", bitNames(s.bits), got, want)
					}
				})
			}
		})
	}
	t.Run("LocalClose", func(t *testing.T) {
		// Closing the only descriptor of a socket removes it from epoll.
		local, peer := pair(t)
		raw := newRawEpoll(t, local)
		send(t, peer, "x")
		raw.await(t, in|out)
		local.Close()
		raw.await(t, 0)
	})
}
