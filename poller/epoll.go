//go:build linux

package poller

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

func init() {
	backends["epoll"] = func() (Poller, error) { return OpenEpoll() }
	defaultBackend = "epoll"
}

// epollInterest is the one registration every fd gets: both directions and
// peer half-close, edge-triggered. It is never modified.
// EPOLLPRI: a read stops at TCP's urgent mark with more input queued behind
// it, and no further edge comes for that input; the PRI bit tells the caller
// to read on until EAGAIN rather than take the short read as drained.
const epollInterest = unix.EPOLLIN | unix.EPOLLPRI | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET

// Epoll is the edge-triggered Linux backend. Use New or OpenEpoll.
type Epoll struct {
	epfd    int
	wakefd  int         // eventfd, registered with WakeToken
	pending atomic.Bool // a wake is written and not yet consumed
	closed  atomic.Bool
	wakers  atomic.Int32      // Wakes between their closed check and their write
	raw     []unix.EpollEvent // kernel-format events, grown once to len(events)
	wakeBuf [8]byte
}

// OpenEpoll creates an epoll instance and its eventfd wake-up.
func OpenEpoll() (*Epoll, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("poller: %w", os.NewSyscallError("epoll_create1", err))
	}
	wfd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("poller: %w", os.NewSyscallError("eventfd", err))
	}
	p := &Epoll{epfd: epfd, wakefd: wfd}
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLET}
	putToken(&ev, WakeToken)
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wfd, &ev); err != nil {
		unix.Close(wfd)
		unix.Close(epfd)
		return nil, fmt.Errorf("poller: add eventfd: %w", os.NewSyscallError("epoll_ctl", err))
	}
	return p, nil
}

// putToken stores tok in the 64-bit data union of ev, which x/sys/unix
// splits into Fd (low half) and Pad (high half).
func putToken(ev *unix.EpollEvent, tok Token) {
	ev.Fd = int32(uint32(tok))
	ev.Pad = int32(uint32(tok >> 32))
}

func getToken(ev *unix.EpollEvent) Token {
	return Token(uint32(ev.Fd)) | Token(uint32(ev.Pad))<<32
}

// Register adds fd for read, write and peer half-close, edge-triggered.
func (p *Epoll) Register(fd int, tok Token) error {
	if p.closed.Load() {
		return ErrClosed
	}
	if tok == WakeToken {
		return fmt.Errorf("poller: add fd %d: %w", fd, ErrReservedToken)
	}
	ev := unix.EpollEvent{Events: epollInterest}
	putToken(&ev, tok)
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		if err == unix.EEXIST {
			return fmt.Errorf("poller: add fd %d: %w", fd, ErrRegistered)
		}
		return fmt.Errorf("poller: add fd %d: %w", fd, os.NewSyscallError("epoll_ctl", err))
	}
	return nil
}

// Deregister removes fd.
func (p *Epoll) Deregister(fd int) error {
	if p.closed.Load() {
		return ErrClosed
	}
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, fd, nil); err != nil {
		if err == unix.ENOENT {
			return fmt.Errorf("poller: delete fd %d: %w", fd, ErrNotRegistered)
		}
		return fmt.Errorf("poller: delete fd %d: %w", fd, os.NewSyscallError("epoll_ctl", err))
	}
	return nil
}

// Wait implements Poller.Wait.
func (p *Epoll) Wait(events []Event, timeout time.Duration) (int, error) {
	if p.closed.Load() {
		return 0, ErrClosed
	}
	if len(events) == 0 {
		return 0, errors.New("poller: wait: empty event slice")
	}
	if len(p.raw) < len(events) {
		p.raw = make([]unix.EpollEvent, len(events))
	}
	raw := p.raw[:len(events)]
	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
	}
	for {
		n, err := epollWait(p.epfd, raw, timeout)
		if err == unix.EINTR {
			if timeout > 0 {
				if timeout = time.Until(deadline); timeout <= 0 {
					return 0, nil
				}
			}
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("poller: %w", os.NewSyscallError("epoll_wait", err))
		}
		j := 0
		for i := 0; i < n; i++ {
			tok := getToken(&raw[i])
			if tok == WakeToken {
				p.consumeWake()
				continue
			}
			events[j] = Event{Token: tok, flags: FromEpoll(raw[i].Events)}
			j++
		}
		return j, nil
	}
}

// epollWait calls epoll_pwait. A zero timeout cannot block, so it goes
// through RawSyscall6 and skips the scheduler hand-off that Syscall6 pays
// for; any other timeout may block and must let the runtime know.
func epollWait(epfd int, raw []unix.EpollEvent, timeout time.Duration) (int, error) {
	ptr := unsafe.Pointer(&raw[0]) // raw is non-empty and stays reachable until the call returns
	var r uintptr
	var e unix.Errno
	if timeout == 0 {
		r, _, e = unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(ptr), uintptr(len(raw)), 0, 0, 0)
	} else {
		r, _, e = unix.Syscall6(unix.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(ptr), uintptr(len(raw)), uintptr(timeoutMillis(timeout)), 0, 0)
	}
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}

// consumeWake resets the eventfd and re-arms Wake. The flag is cleared after
// the read, so a Wake racing with this either sees pending and is covered by
// the return under way, or writes again and makes the next Wait return.
func (p *Epoll) consumeWake() {
	unix.Read(p.wakefd, p.wakeBuf[:]) // EAGAIN is fine: the counter is already 0
	p.pending.Store(false)
}

// Wake implements Poller.Wake. Only the first of a burst of Wakes writes.
func (p *Epoll) Wake() error {
	if !p.pending.CompareAndSwap(false, true) {
		return nil
	}
	// Counted before the closed check, so Close waits for this write before
	// it frees the descriptor number (see Close).
	p.wakers.Add(1)
	defer p.wakers.Add(-1)
	if p.closed.Load() {
		return ErrClosed
	}
	var one [8]byte
	binary.NativeEndian.PutUint64(one[:], 1) // eventfd takes a host-order counter
	for {
		_, err := unix.Write(p.wakefd, one[:])
		switch err {
		case nil:
			return nil
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			// The counter is saturated, so the eventfd is readable already
			// and Wait will return; nothing is lost.
			return nil
		}
		p.pending.Store(false)
		return fmt.Errorf("poller: wake: %w", os.NewSyscallError("write", err))
	}
}

// Close closes the epoll and eventfd descriptors; registered fds stay open.
func (p *Epoll) Close() error {
	if p.closed.Swap(true) {
		return ErrClosed
	}
	// A Wake that passed its closed check before the Swap is writing to
	// wakefd; closing now could let that write land on a reused number.
	for p.wakers.Load() != 0 {
		runtime.Gosched()
	}
	err1 := unix.Close(p.wakefd)
	err2 := unix.Close(p.epfd)
	if err1 != nil {
		return fmt.Errorf("poller: %w", os.NewSyscallError("close", err1))
	}
	if err2 != nil {
		return fmt.Errorf("poller: %w", os.NewSyscallError("close", err2))
	}
	return nil
}

// Fd returns the epoll descriptor, for tests that inspect kernel state.
func (p *Epoll) Fd() int { return p.epfd }

// FromEpoll translates epoll event bits to Event flags, for this package's
// epoll backend and for backends elsewhere that read epoll bits. HUP and ERR make both
// directions "ready" so that the next read or write reports the condition.
func FromEpoll(e uint32) Flags {
	var f Flags
	if e&unix.EPOLLIN != 0 {
		f |= FlagReadable
	}
	if e&unix.EPOLLPRI != 0 {
		f |= FlagReadable | FlagPriority
	}
	if e&unix.EPOLLOUT != 0 {
		f |= FlagWritable
	}
	if e&unix.EPOLLRDHUP != 0 {
		f |= FlagReadable | FlagReadClosed
	}
	if e&unix.EPOLLHUP != 0 {
		f |= FlagReadable | FlagWritable | FlagReadClosed | FlagWriteClosed
	}
	if e&unix.EPOLLERR != 0 {
		f |= FlagReadable | FlagWritable | FlagError
	}
	return f
}
