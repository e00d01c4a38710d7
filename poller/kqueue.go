//go:build darwin || freebsd || netbsd || openbsd || dragonfly

package poller

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

func init() {
	backends["kqueue"] = func() (Poller, error) { return OpenKqueue() }
	defaultBackend = "kqueue"
}

// Kqueue is the BSD and macOS backend: EVFILT_READ and EVFILT_WRITE with
// EV_CLEAR (edge-triggered), and EVFILT_USER for Wake. Use New or OpenKqueue.
type Kqueue struct {
	kq      int
	wake    kqueueWake // the wake-up mechanism: kqueue_user.go or kqueue_pipe.go
	pending atomic.Bool
	closed  atomic.Bool
	wakers  atomic.Int32 // Wakes between their closed check and their kevent
	mu      sync.Mutex   // guards regs; Register/Deregister are not on the hot path
	regs    map[int]struct{}
	raw     []unix.Kevent_t
}

// OpenKqueue creates a kqueue and its wake-up (EVFILT_USER where the BSD
// has it, a pipe elsewhere).
func OpenKqueue() (*Kqueue, error) {
	kq, err := unix.Kqueue()
	if err != nil {
		return nil, fmt.Errorf("poller: %w", os.NewSyscallError("kqueue", err))
	}
	unix.CloseOnExec(kq)
	p := &Kqueue{kq: kq, regs: make(map[int]struct{})}
	if err := p.wake.open(kq); err != nil {
		unix.Close(kq)
		return nil, err
	}
	return p, nil
}

// Register adds fd with EVFILT_READ and EVFILT_WRITE, both EV_CLEAR.
func (p *Kqueue) Register(fd int, tok Token) error {
	if p.closed.Load() {
		return ErrClosed
	}
	if tok == WakeToken {
		return fmt.Errorf("poller: add fd %d: %w", fd, ErrReservedToken)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.regs[fd]; ok {
		return fmt.Errorf("poller: add fd %d: %w", fd, ErrRegistered)
	}
	ch := toKevents(fd, tok, unix.EV_ADD|unix.EV_CLEAR)
	if _, err := unix.Kevent(p.kq, ch[:], nil, nil); err != nil {
		return fmt.Errorf("poller: add fd %d: %w", fd, os.NewSyscallError("kevent", err))
	}
	p.regs[fd] = struct{}{}
	return nil
}

// Deregister removes both filters of fd.
func (p *Kqueue) Deregister(fd int) error {
	if p.closed.Load() {
		return ErrClosed
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.regs[fd]; !ok {
		return fmt.Errorf("poller: delete fd %d: %w", fd, ErrNotRegistered)
	}
	ch := toKevents(fd, 0, unix.EV_DELETE)
	if _, err := unix.Kevent(p.kq, ch[:], nil, nil); err != nil && err != unix.ENOENT {
		return fmt.Errorf("poller: delete fd %d: %w", fd, os.NewSyscallError("kevent", err))
	}
	delete(p.regs, fd)
	return nil
}

// toKevents builds the read and write changes for fd with the given flags.
func toKevents(fd int, tok Token, flags uint16) [2]unix.Kevent_t {
	var ch [2]unix.Kevent_t
	for i, filter := range [2]int16{unix.EVFILT_READ, unix.EVFILT_WRITE} {
		unix.SetKevent(&ch[i], fd, int(filter), int(flags))
		// Udata is pointer-sized everywhere we build; the token travels in it
		// as an integer and is never dereferenced by the kernel or by us.
		setUdata(&ch[i], tok)
	}
	return ch
}

// Wait implements Poller.Wait.
func (p *Kqueue) Wait(events []Event, timeout time.Duration) (int, error) {
	if p.closed.Load() {
		return 0, ErrClosed
	}
	if len(events) == 0 {
		return 0, errors.New("poller: wait: empty event slice")
	}
	if len(p.raw) < len(events) {
		p.raw = make([]unix.Kevent_t, len(events))
	}
	raw := p.raw[:len(events)]
	var ts *unix.Timespec
	var t unix.Timespec
	if timeout >= 0 {
		t = unix.NsecToTimespec(int64(timeout))
		ts = &t
	}
	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
	}
	for {
		n, err := unix.Kevent(p.kq, nil, raw, ts)
		if err == unix.EINTR {
			if timeout > 0 {
				rem := time.Until(deadline)
				if rem <= 0 {
					return 0, nil
				}
				t = unix.NsecToTimespec(int64(rem))
			}
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("poller: %w", os.NewSyscallError("kevent", err))
		}
		j := 0
		for i := 0; i < n; i++ {
			if p.wake.is(&raw[i]) {
				p.wake.reset()
				p.pending.Store(false)
				continue
			}
			events[j] = Event{Token: getUdata(&raw[i]), flags: FromKevent(int16(raw[i].Filter), uint16(raw[i].Flags))}
			j++
		}
		return j, nil
	}
}

// Wake triggers the wake-up event; a burst of Wakes costs one system call.
func (p *Kqueue) Wake() error {
	if !p.pending.CompareAndSwap(false, true) {
		return nil
	}
	p.wakers.Add(1) // before the closed check; Close waits for it
	defer p.wakers.Add(-1)
	if p.closed.Load() {
		return ErrClosed
	}
	if err := p.wake.trigger(p.kq); err != nil {
		p.pending.Store(false)
		return fmt.Errorf("poller: wake: %w", err)
	}
	return nil
}

// Close closes the kqueue; registered fds stay open.
func (p *Kqueue) Close() error {
	if p.closed.Swap(true) {
		return ErrClosed
	}
	for p.wakers.Load() != 0 { // a Wake is using the descriptors
		runtime.Gosched()
	}
	p.wake.close()
	if err := unix.Close(p.kq); err != nil {
		return fmt.Errorf("poller: %w", os.NewSyscallError("close", err))
	}
	return nil
}

// FromKevent translates one kevent to Event flags. EV_EOF on the read filter
// is the peer's half-close; on the write filter, the connection is gone.
func FromKevent(filter int16, flags uint16) Flags {
	var f Flags
	switch filter {
	case unix.EVFILT_READ:
		f |= FlagReadable
		if flags&unix.EV_EOF != 0 {
			f |= FlagReadClosed
		}
	case unix.EVFILT_WRITE:
		f |= FlagWritable
		if flags&unix.EV_EOF != 0 {
			f |= FlagWriteClosed
		}
	}
	if flags&unix.EV_ERROR != 0 {
		f |= FlagReadable | FlagWritable | FlagError
	}
	return f
}

// setUdata stores tok in kev's user data. The field's type differs between
// BSDs (pointer or integer); an unsafe write of its bytes covers them all.
// It is sound because the kernel treats udata as opaque and we never
// dereference it.
func setUdata(kev *unix.Kevent_t, tok Token) {
	*(*uintptr)(unsafe.Pointer(&kev.Udata)) = uintptr(tok)
}

func getUdata(kev *unix.Kevent_t) Token {
	return Token(*(*uintptr)(unsafe.Pointer(&kev.Udata)))
}
