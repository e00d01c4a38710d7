package array

import (
	"sync"

	"github.com/edgeloop/edgeloop/reactor"
)

// Budget bounds the array memory of all connections together, so that
// clients that each declare a large array cannot make the server allocate
// the sum. A connection whose array does not fit now waits, reading
// nothing (the kernel pushes back on its client), until another releases
// memory; one that could never fit is refused. It is safe for handlers on
// different loops.
type Budget struct {
	mu      sync.Mutex
	limit   int64
	used    int64
	waiting []waiter
}

// waiter is a connection waiting for memory, woken on its own loop.
type waiter struct {
	c    reactor.Conn
	wake func()
}

// NewBudget returns a budget of limit bytes.
func NewBudget(limit int64) *Budget { return &Budget{limit: limit} }

// Limit is the budget's size.
func (b *Budget) Limit() int64 { return b.limit }

// Used is how much is reserved now.
func (b *Budget) Used() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

// Waiting is how many connections wait for memory now.
func (b *Budget) Waiting() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.waiting)
}

// cancel forgets c's wait: it has closed, and the entry would keep it, and
// its header, alive until the next release, which may never come.
func (b *Budget) cancel(c reactor.Conn) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i, w := range b.waiting {
		if w.c == c {
			n := copy(b.waiting[i:], b.waiting[i+1:])
			b.waiting[i+n] = waiter{}
			b.waiting = b.waiting[:i+n]
			return
		}
	}
}

// reserve takes n bytes if they fit. If not, it registers wake to run on
// c's loop once memory is released, and returns false.
func (b *Budget) reserve(n int64, c reactor.Conn, wake func()) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used+n <= b.limit {
		b.used += n
		return true
	}
	b.waiting = append(b.waiting, waiter{c, wake})
	return false
}

// release gives n bytes back and wakes every waiter to try again: each
// re-checks, and those that still do not fit wait again.
func (b *Budget) release(n int64) {
	b.mu.Lock()
	b.used -= n
	w := b.waiting
	b.waiting = nil
	b.mu.Unlock()
	for _, x := range w {
		x.c.Post(x.wake) // ErrClosed: that connection has gone, nothing to wake
	}
}
