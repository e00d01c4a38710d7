//go:build netbsd || openbsd

package poller

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// kqueueWake wakes a kqueue through a non-blocking pipe, for BSDs without
// EVFILT_USER (OpenBSD, NetBSD before 10).
type kqueueWake struct {
	r, w int
	buf  [64]byte
}

func (k *kqueueWake) open(kq int) error {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
		return fmt.Errorf("poller: %w", os.NewSyscallError("pipe2", err))
	}
	k.r, k.w = p[0], p[1]
	var ch [1]unix.Kevent_t
	unix.SetKevent(&ch[0], k.r, unix.EVFILT_READ, unix.EV_ADD|unix.EV_CLEAR)
	setUdata(&ch[0], WakeToken)
	if _, err := unix.Kevent(kq, ch[:], nil, nil); err != nil {
		k.close()
		return fmt.Errorf("poller: add wake pipe: %w", os.NewSyscallError("kevent", err))
	}
	return nil
}

func (k *kqueueWake) is(kev *unix.Kevent_t) bool { return int(kev.Ident) == k.r }

func (k *kqueueWake) reset() {
	for {
		if n, err := unix.Read(k.r, k.buf[:]); n <= 0 || err != nil {
			return
		}
	}
}

func (k *kqueueWake) trigger(int) error {
	for {
		_, err := unix.Write(k.w, []byte{1})
		switch err {
		case nil, unix.EAGAIN: // a full pipe is readable already
			return nil
		case unix.EINTR:
			continue
		}
		return os.NewSyscallError("write", err)
	}
}

func (k *kqueueWake) close() {
	unix.Close(k.r)
	unix.Close(k.w)
}
