package array

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgeloop/edgeloop/internal/memreturn"
	"github.com/edgeloop/edgeloop/reactor"
)

// DefaultMaxArray is the largest array a connection may send, by default.
const DefaultMaxArray = 1 << 30

// Service is the NPY round-trip service: each array a connection sends
// comes back unchanged. The array is received in place, into one
// allocation of exactly its size made once the header is parsed, and sent
// back from that memory with a gathered write of header and data. Its
// Factory method is the reactor.Factory.
type Service struct {
	// Limits bound the headers accepted; zero fields take the defaults
	// (MaxData DefaultMaxArray, MaxDims 32, MaxHeader 64 KiB).
	Limits Limits
	// Memory bounds the array memory of all connections together; nil is
	// a budget of MaxData, one array at a time at the largest.
	Memory *Budget

	once sync.Once // fills in Memory's default at the first connection
}

// limits returns the Limits with defaults filled in.
func (s *Service) limits() Limits {
	l := s.Limits
	if l.MaxData <= 0 {
		l.MaxData = DefaultMaxArray
	}
	if l.MaxDims <= 0 {
		l.MaxDims = 32
	}
	if l.MaxHeader <= 0 {
		l.MaxHeader = 64 << 10
	}
	return l
}

// Factory makes a connection's handler.
func (s *Service) Factory(c reactor.Conn) reactor.Handler {
	s.once.Do(func() {
		if s.Memory == nil {
			s.Memory = NewBudget(s.limits().MaxData)
		}
	})
	h := &Handler{c: c, lim: s.limits(), mem: s.Memory}
	h.wake = h.memoryFreed
	return h
}

// The handler's states, in the order a message goes through them.
const (
	stPreamble = iota // reading magic, version and header length
	stDict            // reading the header's dict text
	stMemory          // waiting for the budget to take the array
	stData            // reading the array into its own allocation
	stSend            // sending header and array back
	stError           // sending the error line, then closing
)

// Handler serves one connection: one array after another.
type Handler struct {
	c    reactor.Conn
	lim  Limits
	mem  *Budget
	wake func() // memoryFreed, made once

	state    int
	pre      [12]byte // magic, version, header length: 10 or 12 bytes
	preLen   int      // the preamble's length once the version is known, else 8
	got      int      // bytes of the current part received
	dict     []byte   // the header's dict text, at exactly its length
	hdr      Header
	data     []byte // the array, at exactly its size
	reserved int64  // bytes taken from the budget
	waiting  bool   // registered with the budget, not woken yet
	big      bool   // held an array of returnThreshold or more
	peak     int64  // the largest array it held, for memreturn
	out      [][]byte
	outBufs  [3][]byte
}

// WantsRecv implements reactor.Handler: while a message is being read and
// its memory is granted.
func (h *Handler) WantsRecv() bool {
	switch h.state {
	case stPreamble, stDict, stData:
		return true
	case stMemory:
		return !h.waiting
	}
	return false
}

// WantsSend implements reactor.Handler.
func (h *Handler) WantsSend() bool { return len(h.out) > 0 }

// HandleRecv reads the message's parts with reads of exactly what each
// still needs, so that array bytes never land in the loop's shared buffer:
// the preamble and dict into their own small buffers, the data straight
// into the array.
func (h *Handler) HandleRecv() error {
	for {
		var err error
		switch h.state {
		case stPreamble:
			err = h.readPreamble()
		case stDict:
			err = h.readDict()
		case stMemory:
			if !h.reserve() {
				return nil // WantsRecv is false until the budget wakes us
			}
			continue
		case stData:
			err = h.readData()
		default:
			return nil
		}
		switch {
		case err == reactor.ErrWouldBlock:
			return nil
		case err == io.EOF && h.state == stPreamble && h.got == 0:
			return io.EOF // between arrays: the client is done
		case errors.Is(err, errBadInput):
			return h.fail(err)
		case err == io.EOF:
			return fmt.Errorf("array: the client closed in the middle of an array: %w", io.ErrUnexpectedEOF)
		case err != nil:
			return err
		}
		if h.state >= stSend {
			return nil
		}
	}
}

// errBadInput marks errors the client is told about before the close.
var errBadInput = errors.New("bad input")

func bad(err error) error { return fmt.Errorf("%w: %w", errBadInput, err) }

func (h *Handler) readPreamble() error {
	if h.preLen == 0 {
		h.preLen = 8 // magic and version first: they say how long the rest is
	}
	for h.got < h.preLen {
		n, err := h.c.Read(h.pre[h.got:h.preLen])
		h.got += n
		if err != nil {
			return err
		}
		if h.got == 8 && h.preLen == 8 {
			l, err := PreambleLen(h.pre[:8])
			if err != nil {
				return bad(err)
			}
			h.preLen = l
		}
	}
	n, err := HeaderLen(h.pre[:h.preLen], h.lim)
	if err != nil {
		return bad(err)
	}
	h.dict = make([]byte, n)
	h.state, h.got = stDict, 0
	return nil
}

func (h *Handler) readDict() error {
	for h.got < len(h.dict) {
		n, err := h.c.Read(h.dict[h.got:])
		h.got += n
		if err != nil {
			return err
		}
	}
	hdr, err := ParseHeader([2]byte{h.pre[6], h.pre[7]}, h.dict, h.lim)
	if err != nil {
		return bad(err)
	}
	size, err := hdr.DataSize()
	if err != nil {
		return bad(err)
	}
	if size > h.mem.Limit() {
		return bad(fmt.Errorf("an array of %d bytes can never fit the server's array memory of %d bytes", size, h.mem.Limit()))
	}
	h.hdr, h.reserved = hdr, size
	h.state, h.got = stMemory, 0
	return nil
}

// reserve takes the array's memory from the budget and allocates it, or
// registers to be woken and returns false.
func (h *Handler) reserve() bool {
	if !h.mem.reserve(h.reserved, h.c, h.wake) {
		h.waiting = true
		return false
	}
	if h.big && h.reserved >= returnThreshold {
		// The previous large array is garbage, but nothing has collected
		// it: allocated now, this one would double the heap (GOGC lets it
		// grow to twice the live heap first). A collection first lets it
		// reuse the same pages. It is cheap: arrays are pointer-free, so
		// marking skips them.
		runtime.GC()
	}
	h.data = make([]byte, h.reserved) // once, at exactly the data size
	h.peak = max(h.peak, h.reserved)
	h.big = h.big || h.reserved >= returnThreshold
	h.state = stData
	return true
}

// memoryFreed runs on the connection's loop when the budget released
// memory; the Post that runs it has the loop consult the handler again.
func (h *Handler) memoryFreed() { h.waiting = false }

func (h *Handler) readData() error {
	for h.got < len(h.data) {
		n, err := h.c.Read(h.data[h.got:])
		h.got += n
		if err != nil {
			return err
		}
	}
	// All in: send the header as it came and the array from its memory.
	h.outBufs = [3][]byte{h.pre[:h.preLen], h.dict, h.data}
	h.out = h.outBufs[:]
	h.state = stSend
	return nil
}

// HandleSend implements reactor.Handler: a gathered write of what is left.
func (h *Handler) HandleSend() error {
	for len(h.out) > 0 {
		n, err := h.c.Writev(h.out)
		h.out = reactor.Advance(h.out, n)
		if err == reactor.ErrWouldBlock {
			return nil
		}
		if err != nil {
			return err
		}
	}
	if h.state == stSend {
		h.next()
	}
	return nil
}

// next forgets the array just sent and gets ready for the next one.
func (h *Handler) next() {
	h.release()
	h.data, h.dict, h.outBufs = nil, nil, [3][]byte{}
	h.state, h.got, h.preLen = stPreamble, 0, 0
}

// release gives the array's memory back to the budget.
func (h *Handler) release() {
	if h.reserved > 0 && h.data != nil {
		h.mem.release(h.reserved)
	}
	h.reserved, h.data = 0, nil
}

// returnThreshold is the array size from which a connection that held one
// hands memory back to the operating system when it ends. While it lives,
// the next array reuses the freed heap instead of faulting fresh pages in.
const returnThreshold = 64 << 20

// lastReturn is when returnMemory last ran (UnixNano).
var lastReturn atomic.Int64

// returnMemory runs a collection and returns freed pages to the operating
// system (debug.FreeOSMemory), on a goroutine of its own, at most once a
// second. Without it a released array stays resident: nothing else
// allocates to trigger a collection (the runtime forces one only every two
// minutes), and the scavenger then returns pages only gradually.
func returnMemory() {
	now := time.Now().UnixNano()
	last := lastReturn.Load()
	if now-last < int64(time.Second) || !lastReturn.CompareAndSwap(last, now) {
		return
	}
	go debug.FreeOSMemory()
}

// fail answers bad input with one line and closes gracefully: the line
// reaches the client, and only this connection is affected.
func (h *Handler) fail(err error) error {
	h.release()
	msg := strings.ReplaceAll(strings.TrimPrefix(err.Error(), errBadInput.Error()+": "), "\n", " ")
	h.outBufs = [3][]byte{[]byte("error: " + msg + "\n")}
	h.out = h.outBufs[:1]
	h.state = stError
	return reactor.CloseGraceful(h.c)
}

// HandleClose implements reactor.CloseHandler: memory goes back to the
// budget, and the array to the garbage collector, however the connection
// ended.
func (h *Handler) HandleClose(error) {
	if h.waiting {
		h.mem.cancel(h.c)
	}
	h.release()
	// An array under returnThreshold is garbage too, and in an idle server
	// nothing collects it: memreturn, which serve runs, returns it. The
	// returnMemory below stays for programs that use this package without
	// it (internal/memreturn is not theirs to import).
	memreturn.Released(int(h.peak))
	if h.big {
		returnMemory()
	}
}
