package frame

import (
	"github.com/edgeloop/edgeloop/internal/memreturn"
	"github.com/edgeloop/edgeloop/reactor"
	"github.com/valyala/bytebufferpool"
)

// DefaultCap is the output an Outbox holds before Full reports true, when
// Init is given no cap.
const DefaultCap = 1 << 20

// pool holds outgoing buffers between bursts, those of up to poolMax bytes
// only.
var pool bytebufferpool.Pool

// poolMax is the largest outgoing buffer kept in the pool: the loop's read
// buffer (64 KiB), the most that one read brings in, which is what a burst
// the socket does not take at once usually leaves. A bigger buffer belongs
// to a peer that read slower than it wrote; it is dropped when it empties,
// and reported to memreturn so that its pages go back to the OS once the
// server is quiet. Kept in the pool, it would stay resident until two
// collections have run (sync.Pool's victim cache), and an idle server runs
// none: bytebufferpool drops big buffers itself only after calibrating,
// which takes 42000 Puts of one size class, and then by their length at Put
// rather than their capacity.
const poolMax = 64 << 10

// Outbox is a connection's outgoing queue, asynchat's producer fifo: a
// handler pushes its replies and the loop sends them. Embed it in a handler
// and its WantsSend, HandleSend and HandleClose are the handler's; the
// handler's WantsRecv should be false while Full, which is backpressure: the
// peer's input waits in the kernel, and a peer that never reads costs the
// server about the cap.
//
// The queue holds a buffer only while something waits to be sent: it comes
// from a pool when the socket does not take a reply at once and goes back
// when the queue empties, so an idle connection holds none. All methods
// must be called on the connection's loop goroutine.
type Outbox struct {
	c       reactor.Conn
	out     *bytebufferpool.ByteBuffer // pending output is out.B[off:]; nil when empty
	off     int
	cap     int
	closing bool // CloseWhenDone was called
}

// Init makes o the queue of c, holding about capBytes before Full (0 or
// less: DefaultCap). Call it in the Factory, before any other method.
func (o *Outbox) Init(c reactor.Conn, capBytes int) {
	if capBytes <= 0 {
		capBytes = DefaultCap
	}
	*o = Outbox{c: c, cap: capBytes}
}

// Conn returns the connection o was made for.
func (o *Outbox) Conn() reactor.Conn { return o.c }

// Pending returns how many bytes wait to be sent.
func (o *Outbox) Pending() int {
	if o.out == nil {
		return 0
	}
	return len(o.out.B) - o.off
}

// Room returns how many bytes may be queued before Full; 0 when full.
func (o *Outbox) Room() int { return max(o.cap-o.Pending(), 0) }

// Full reports whether the queue holds its cap or more: the handler should
// stop reading (WantsRecv false) until HandleSend has made room.
func (o *Outbox) Full() bool { return o.Pending() >= o.cap }

// Buffered returns the length of the queue's buffer, the part already sent
// since it last emptied included.
func (o *Outbox) Buffered() int {
	if o.out == nil {
		return 0
	}
	return len(o.out.B)
}

// Held returns the capacity of the queue's buffer: the memory the queue
// holds, whatever it contains; 0 when it is empty.
func (o *Outbox) Held() int {
	if o.out == nil {
		return 0
	}
	return cap(o.out.B)
}

// Push queues a copy of p, to be sent when the loop next calls HandleSend:
// on the native loop that is in the same turn, after HandleRecv, so the
// replies to everything one read brought leave in one write. Push never
// refuses: the cap is for the handler to respect (Full), and the queue may
// exceed it by what one call pushes. Outside the handler's own calls (a
// timer, a function run by Conn.Post), call Conn().Wake() after pushing,
// so that the loop consults WantsSend again.
func (o *Outbox) Push(p []byte) { push(o, p) }

// PushString is Push for a string.
func (o *Outbox) PushString(s string) { push(o, s) }

// push is Push for either kind of bytes.
func push[B []byte | string](o *Outbox, p B) {
	if len(p) == 0 {
		return
	}
	if o.out == nil {
		o.out = pool.Get()
	}
	if len(o.out.B)+len(p) > cap(o.out.B) {
		o.grow(len(p))
	}
	o.out.B = append(o.out.B, p...)
}

// Send writes p at once if nothing is queued before it, and queues a copy
// of what the socket does not take: nothing is copied while the peer keeps
// up, which suits p in the loop's read buffer (echo). It returns the
// write's error, other than ErrWouldBlock.
func (o *Outbox) Send(p []byte) error {
	if o.out == nil && len(p) > 0 {
		n, err := o.c.Write(p)
		if err != nil && err != reactor.ErrWouldBlock {
			return err
		}
		p = p[n:]
	}
	o.Push(p)
	return nil
}

// grow makes room for n more bytes: first by sliding the unsent tail to the
// front, over what was sent, then if that is not enough by doubling the
// buffer up to poolMax, and past that straight to the cap (or to what is
// needed, if more). A queue held at its cap so costs the cap and not twice
// it, and leaves no garbage of 128 KiB to 512 KiB buffers behind.
func (o *Outbox) grow(n int) {
	b := o.out.B
	if o.off > 0 {
		// Sliding copies the unsent bytes, about the cap at most, once per
		// push that would not fit: each follows a send that made room.
		b = b[:copy(b, b[o.off:])]
		o.off = 0
	}
	if need := len(b) + n; need > cap(b) {
		size := o.cap
		if need <= poolMax {
			size = min(max(2*cap(b), need), poolMax)
		}
		nb := make([]byte, len(b), max(size, need))
		copy(nb, b)
		if cap(b) > poolMax {
			memreturn.Released(cap(b))
		}
		b = nb
	}
	o.out.B = b
}

// WantsSend reports whether anything waits to be sent; it is the
// handler's reactor.Handler.WantsSend when the Outbox is embedded.
func (o *Outbox) WantsSend() bool { return o.out != nil }

// HandleSend writes what the socket takes; it is the handler's
// reactor.Handler.HandleSend when the Outbox is embedded. The buffer goes
// back to the pool once empty.
func (o *Outbox) HandleSend() error {
	if o.out == nil {
		return nil
	}
	n, err := o.c.Write(o.out.B[o.off:])
	o.off += n
	if o.off == len(o.out.B) {
		o.release()
	}
	if err != nil && err != reactor.ErrWouldBlock {
		return err
	}
	return nil
}

// CloseWhenDone closes the connection once everything queued has been
// sent, asynchat's close_when_done: the handler gets no more input, and
// the reactor's graceful close (reactor.CloseGraceful) shuts the write
// side after the last byte and discards what the peer still sends, so that
// no RST destroys the reply. The wait for the peer to read what is queued
// is bounded only by the loop's idle timeout (WithIdleTimeout): the 5 s
// bound of the graceful close starts once the queue is empty. On a Conn
// that is no reactor.GracefulCloser it is Close, which drops the queue.
func (o *Outbox) CloseWhenDone() error {
	if o.closing {
		return nil
	}
	o.closing = true
	return reactor.CloseGraceful(o.c)
}

// Closing reports whether CloseWhenDone has been called.
func (o *Outbox) Closing() bool { return o.closing }

// HandleClose gives the buffer back; it is the handler's
// reactor.CloseHandler when the Outbox is embedded. A handler with its own
// HandleClose calls it.
func (o *Outbox) HandleClose(error) { o.release() }

// release gives the emptied buffer back: to the pool if it is of the usual
// size, else to the garbage collector, and memreturn is told.
func (o *Outbox) release() {
	if o.out == nil {
		return
	}
	putBuffer(o.out)
	o.out, o.off = nil, 0
}

// putBuffer gives a buffer the queue or a Handler's input no longer needs
// back: to the pool if it is of the usual size (poolMax), else to the
// garbage collector, and memreturn is told.
func putBuffer(b *bytebufferpool.ByteBuffer) {
	if c := cap(b.B); c > poolMax {
		memreturn.Released(c)
		return
	}
	pool.Put(b) // Put resets it, after sizing its class by its length
}
