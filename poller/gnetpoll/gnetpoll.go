//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package gnetpoll

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/edgeloop/edgeloop/poller"
	gerrors "github.com/panjf2000/gnet/v2/pkg/errors"
	"github.com/panjf2000/gnet/v2/pkg/netpoll"
	"golang.org/x/sys/unix"
)

// Poller adapts gnet's own poller (pkg/netpoll), level-triggered as gnet
// uses it, to the Poller interface, so that edgeloop's loop can run over
// either poller and the two can be compared.
//
// gnet's poller has no "wait once" call: Polling runs its own loop and calls
// back per event. Wait therefore runs Polling and stops it from the callback
// once the batch has been collected. The end of a batch is marked by writing
// to a breaker pipe registered with the poller: its event is reported after
// the events already pending, and its callback ends Polling. Compared with
// a native Wait, each Wait that returns events costs one more write and read
// on the pipe, and Polling allocates its event list on every call; the
// benchmarks count both against gnetpoll.
type Poller struct {
	gp       *netpoll.Poller
	epfd     int // gnet's epoll descriptor, Linux only (clearInterest)
	brkR     int // breaker pipe, read end (registered)
	brkW     int
	armed    atomic.Bool // the breaker has been written and not yet read
	closed   atomic.Bool
	wakers   atomic.Int32      // breakBatch calls between their closed check and their write
	toks     []poller.Token    // by fd
	regs     []poller.Interest // by fd; 0 means registered with no interest (see noneKeepsFD)
	known    []bool            // by fd: registered with us
	out      []poller.Event
	n        int
	callback netpoll.PollEventHandler
	timer    *time.Timer
	drainBuf [64]byte
}

// errStopPolling ends gnet's Polling; it is the one error Polling returns on.
var errStopPolling = gerrors.ErrEngineShutdown

// Open opens gnet's poller and the breaker pipe.
func Open() (*Poller, error) {
	gp, err := netpoll.OpenPoller()
	if err != nil {
		return nil, fmt.Errorf("poller: gnet: %w", err)
	}
	epfd, err := gnetEpollFD(gp)
	if err != nil {
		gp.Close()
		return nil, err
	}
	var fds [2]int
	if err := unix.Pipe(fds[:]); err != nil {
		gp.Close()
		return nil, fmt.Errorf("poller: %w", os.NewSyscallError("pipe", err))
	}
	for _, fd := range fds {
		unix.CloseOnExec(fd)
		unix.SetNonblock(fd, true)
	}
	p := &Poller{gp: gp, epfd: epfd, brkR: fds[0], brkW: fds[1]}
	p.callback = p.onEvent
	p.timer = time.AfterFunc(time.Hour, p.breakBatch)
	p.timer.Stop()
	// Edge-triggered, so the breaker joins epoll's ready list when written,
	// behind what was ready before. Level-triggered, it would stay on the
	// list ahead of fds that become ready later, and a Wait(0) that stops at
	// it would never reach them.
	if err := gp.AddRead(&netpoll.PollAttachment{FD: p.brkR}, true); err != nil {
		p.Close()
		return nil, fmt.Errorf("poller: gnet add breaker: %w", err)
	}
	return p, nil
}

func (p *Poller) grow(fd int) {
	for fd >= len(p.toks) {
		p.toks = append(p.toks, 0)
		p.regs = append(p.regs, 0)
		p.known = append(p.known, false)
	}
}

// Register adds fd with read interest, level-triggered.
func (p *Poller) Register(fd int, tok poller.Token) error {
	if p.closed.Load() {
		return poller.ErrClosed
	}
	if fd < 0 {
		return fmt.Errorf("poller: add fd %d: %w", fd, os.NewSyscallError("epoll_ctl", unix.EBADF))
	}
	if tok == poller.WakeToken {
		return fmt.Errorf("poller: add fd %d: %w", fd, poller.ErrReservedToken)
	}
	p.grow(fd)
	if p.known[fd] {
		return fmt.Errorf("poller: add fd %d: %w", fd, poller.ErrRegistered)
	}
	if err := p.gp.AddRead(&netpoll.PollAttachment{FD: fd}, false); err != nil {
		if errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("poller: add fd %d: %w", fd, poller.ErrRegistered)
		}
		return fmt.Errorf("poller: add fd %d: %w", fd, err)
	}
	p.toks[fd], p.regs[fd], p.known[fd] = tok, poller.Readable, true
	return nil
}

// SetInterest implements LevelTriggered. gnet's poller can modify to "read"
// or "read and write" only; "write only" is a delete and an add, and "none"
// is clearInterest: on Linux the fd stays in the set with no events, so
// that errors and hang-ups are still reported.
func (p *Poller) SetInterest(fd int, tok poller.Token, in poller.Interest) error {
	if p.closed.Load() {
		return poller.ErrClosed
	}
	if fd < 0 || fd >= len(p.known) || !p.known[fd] {
		return fmt.Errorf("poller: modify fd %d: %w", fd, poller.ErrNotRegistered)
	}
	old := p.regs[fd]
	inSet := old != 0 || noneKeepsFD // fd is in gnet's kernel set now
	pa := &netpoll.PollAttachment{FD: fd}
	var err error
	switch {
	case in == old:
	case in == 0:
		err = p.clearInterest(fd)
	case !inSet && in == poller.Readable:
		err = p.gp.AddRead(pa, false)
	case !inSet && in == poller.Writable:
		err = p.gp.AddWrite(pa, false)
	case !inSet:
		err = p.gp.AddReadWrite(pa, false)
	case in == poller.Readable:
		err = p.gp.ModRead(pa, false)
	case in == poller.Writable:
		if err = p.gp.Delete(fd); err == nil {
			err = p.gp.AddWrite(pa, false)
		}
	default:
		err = p.gp.ModReadWrite(pa, false)
	}
	if err != nil {
		return fmt.Errorf("poller: modify fd %d: %w", fd, err)
	}
	p.toks[fd], p.regs[fd] = tok, in
	return nil
}

// Deregister removes fd.
func (p *Poller) Deregister(fd int) error {
	if p.closed.Load() {
		return poller.ErrClosed
	}
	if fd < 0 || fd >= len(p.known) || !p.known[fd] {
		return fmt.Errorf("poller: delete fd %d: %w", fd, poller.ErrNotRegistered)
	}
	p.known[fd] = false
	if p.regs[fd] != 0 || noneKeepsFD {
		if err := p.gp.Delete(fd); err != nil {
			return fmt.Errorf("poller: delete fd %d: %w", fd, err)
		}
	}
	return nil
}

// Wait implements Poller.Wait over gnet's Polling.
func (p *Poller) Wait(events []poller.Event, timeout time.Duration) (int, error) {
	if p.closed.Load() {
		return 0, poller.ErrClosed
	}
	if len(events) == 0 {
		return 0, errors.New("poller: wait: empty event slice")
	}
	p.out, p.n = events, 0
	switch {
	case timeout == 0:
		p.breakBatch() // whatever the first epoll_wait finds, then stop
	case timeout > 0:
		p.timer.Reset(timeout)
		defer p.timer.Stop()
	}
	err := p.gp.Polling(p.callback)
	p.out = nil
	if err != nil && !errors.Is(err, errStopPolling) {
		return p.n, fmt.Errorf("poller: gnet polling: %w", err)
	}
	return p.n, nil
}

// onEvent is gnet's callback for one event.
func (p *Poller) onEvent(fd int, ev netpoll.IOEvent, fl netpoll.IOFlags) error {
	if fd == p.brkR {
		p.disarm()
		return errStopPolling
	}
	if fd >= len(p.known) || !p.known[fd] {
		return nil // deregistered while its event was pending
	}
	p.out[p.n] = poller.NewEvent(p.toks[fd], fromGnet(ev, fl))
	p.n++
	if p.n == 1 {
		p.breakBatch() // the rest of this batch, then stop
	}
	if p.n == len(p.out) {
		// Full: stop now. The fds' events left in this batch are
		// level-triggered and are reported again; the breaker's is
		// edge-triggered and may be among them, lost, so disarm it here or
		// no later Wake would write again.
		p.disarm()
		return errStopPolling
	}
	return nil
}

// disarm empties the breaker pipe and lets the next breakBatch write.
func (p *Poller) disarm() {
	for {
		if n, _ := unix.Read(p.brkR, p.drainBuf[:]); n <= 0 {
			break
		}
	}
	p.armed.Store(false)
}

// breakBatch makes Polling stop after the events it has pending.
func (p *Poller) breakBatch() {
	if p.armed.CompareAndSwap(false, true) {
		p.wakers.Add(1) // before the closed check; Close waits for it
		defer p.wakers.Add(-1)
		if !p.closed.Load() {
			unix.Write(p.brkW, []byte{1}) // EAGAIN: the pipe is full, so readable already
		}
	}
}

// Wake implements Poller.Wake.
func (p *Poller) Wake() error {
	p.breakBatch()
	if p.closed.Load() {
		return poller.ErrClosed
	}
	return nil
}

// Close closes gnet's poller and the breaker pipe.
func (p *Poller) Close() error {
	if p.closed.Swap(true) {
		return poller.ErrClosed
	}
	p.timer.Stop()
	for p.wakers.Load() != 0 { // a Wake or the timer is writing to the pipe
		runtime.Gosched()
	}
	unix.Close(p.brkR)
	unix.Close(p.brkW)
	return p.gp.Close()
}
