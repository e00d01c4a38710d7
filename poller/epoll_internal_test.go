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
		want uint8
	}{
		{"IN", unix.EPOLLIN, evReadable},
		{"PRI", unix.EPOLLPRI, evReadable},
		{"OUT", unix.EPOLLOUT, evWritable},
		{"RDHUP", unix.EPOLLRDHUP, evReadable | evReadClosed},
		{"HUP", unix.EPOLLHUP, evReadable | evWritable | evReadClosed | evWriteClosed},
		{"ERR", unix.EPOLLERR, evReadable | evWritable | evError},
	}
	for set := 0; set < 1<<len(bits); set++ {
		var e uint32
		var want uint8
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
			if got := fromEpoll(e); got != want {
				t.Fatalf("fromEpoll(%#x) = %v, want %v", e, Event{flags: got}, Event{flags: want})
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
			if got := fromEpoll(tc.e); got != 0 {
				t.Fatalf("fromEpoll(%#x) = %v, want no flags", tc.e, Event{flags: got})
			}
		})
	}
}

func TestTokenRoundTrip(t *testing.T) {
	for _, tok := range []Token{0, 1, 0xffffffff, 1 << 32, 0x8000000080000000, wakeToken - 1, wakeToken} {
		var ev unix.EpollEvent
		putToken(&ev, tok)
		if got := getToken(&ev); got != tok {
			t.Errorf("getToken(putToken(%#x)) = %#x", uint64(tok), uint64(got))
		}
	}
}
