//go:build darwin || freebsd || dragonfly

package poller

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// kqueueWake wakes a kqueue with an EVFILT_USER event: no descriptor, one
// kevent call per wake.
type kqueueWake struct{}

// wakeIdent is the EVFILT_USER identifier of the wake-up event.
const wakeIdent = 0

func (kqueueWake) open(kq int) error {
	ch := []unix.Kevent_t{{Ident: wakeIdent, Filter: unix.EVFILT_USER, Flags: unix.EV_ADD | unix.EV_CLEAR}}
	if _, err := unix.Kevent(kq, ch, nil, nil); err != nil {
		return fmt.Errorf("poller: add user event: %w", os.NewSyscallError("kevent", err))
	}
	return nil
}

func (kqueueWake) is(kev *unix.Kevent_t) bool { return kev.Filter == unix.EVFILT_USER }

func (kqueueWake) reset() {} // EV_CLEAR resets the user event when it is reported

func (kqueueWake) trigger(kq int) error {
	ch := []unix.Kevent_t{{Ident: wakeIdent, Filter: unix.EVFILT_USER, Fflags: unix.NOTE_TRIGGER}}
	for {
		_, err := unix.Kevent(kq, ch, nil, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return os.NewSyscallError("kevent", err)
		}
		return nil
	}
}

func (kqueueWake) close() {}
