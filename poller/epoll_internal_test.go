//go:build linux

package poller

import (
	"testing"

	"golang.org/x/sys/unix"
)

func TestFromEpoll(t *testing.T) {
	// What each epoll bit means on its own; a combination means the union.
	bits := []struct {
		name string
		bit  uint32
		want Flags
	}{
		{"IN", unix.EPOLLIN, FlagReadable},
		{"PRI", unix.EPOLLPRI, FlagReadable | FlagPriority},
		{"OUT", unix.EPOLLOUT, FlagWritable},
		{"RDHUP", unix.EPOLLRDHUP, FlagReadable | FlagReadClosed},
		{"HUP", unix.EPOLLHUP, FlagReadable | FlagWritable | FlagReadClosed | FlagWriteClosed},
		{"ERR", unix.EPOLLERR, FlagReadable | FlagWritable | FlagError},
	}
	for set := 0; set < 1<<len(bits); set++ {
		var e uint32
		var want Flags
		name := "none"
		for i, b := range bits {
			if set&(1<<i) != 0 {
				if e == 0 {
					name = b.name
				} else {
					name += "|" + b.name
				}
				e |= b.bit
				want |= b.want
			}
		}
		t.Run(name, func(t *testing.T) {
			if got := FromEpoll(e); got != want {
				t.Fatalf("FromEpoll(%#x) = %v, want %v", e, Event{flags: got}, Event{flags: want})
			}
		})
	}
	// Bits a registration does not ask for, or that only describe it, add nothing.
	for _, tc := range []struct {
		name string
		e    uint32
	}{
		{"ET", unix.EPOLLET},
		{"ONESHOT", unix.EPOLLONESHOT},
		{"RDNORM|RDBAND|WRNORM|WRBAND|MSG", unix.EPOLLRDNORM | unix.EPOLLRDBAND | unix.EPOLLWRNORM | unix.EPOLLWRBAND | unix.EPOLLMSG},
	} {
		t.Run("ignores "+tc.name, func(t *testing.T) {
			if got := FromEpoll(tc.e); got != 0 {
				t.Fatalf("FromEpoll(%#x) = %v, want no flags", tc.e, Event{flags: got})
			}
		})
	}
}

func TestTokenRoundTrip(t *testing.T) {
	for _, tok := range []Token{0, 1, 0xffffffff, 1 << 32, 0x8000000080000000, WakeToken - 1, WakeToken} {
		var ev unix.EpollEvent
		putToken(&ev, tok)
		if got := getToken(&ev); got != tok {
			t.Errorf("getToken(putToken(%#x)) = %#x", uint64(tok), uint64(got))
		}
	}
}
