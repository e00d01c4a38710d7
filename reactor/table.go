package reactor

import (
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// fdTable maps descriptor numbers, which are the process's, to the entries
// registered on them, for all the event loops of a group: one table, not
// one per loop, so that N loops do not cost N times 8 bytes times the
// highest descriptor. It is built in chunks of fdChunkSize entries, each
// made when a descriptor in its range is first registered, so that it costs
// what the highest descriptor needs and never regrows by append (which
// left the old array as garbage at every doubling).
//
// Entries are atomic: a descriptor that one loop closes may be reused at
// once by another loop, which then writes the entry while the first may
// still read it for a stale event. A loop writes only the entries of the
// descriptors it owns, and ignores entries it reads that belong to another
// loop (dispatch checks conn.loop). A conn's fd, gen, kind and loop never
// change once it is stored, so a loop may read those of another loop's conn;
// nothing else.
type fdTable struct {
	mu  sync.Mutex // serializes making chunks and growing the directory
	dir atomic.Pointer[fdDir]

	// The loops with a listener resting after a failed accept (EMFILE and
	// the like). Descriptors are the process's, so a close on any loop may
	// let their accept work again: closeConn reads resting, without a lock,
	// and wakes them (freed). With a hand-off (WithBalance) one loop holds
	// the listener and the others most connections.
	restMu  sync.Mutex // guards resters
	resters []*eventLoop
	resting atomic.Int32 // len(resters)
}

// rests records that l has a resting listener.
func (t *fdTable) rests(l *eventLoop) {
	t.restMu.Lock()
	defer t.restMu.Unlock()
	for _, r := range t.resters {
		if r == l {
			return
		}
	}
	t.resters = append(t.resters, l)
	t.resting.Store(int32(len(t.resters)))
}

// rested records that l's listeners rest no more.
func (t *fdTable) rested(l *eventLoop) {
	t.restMu.Lock()
	defer t.restMu.Unlock()
	for i, r := range t.resters {
		if r == l {
			t.resters = append(t.resters[:i], t.resters[i+1:]...)
			t.resting.Store(int32(len(t.resters)))
			return
		}
	}
}

// freed tells the loops with a resting listener, but from (which has
// woken its own), that a descriptor was closed: each tries its accept again
// in its next turn.
func (t *fdTable) freed(from *eventLoop) {
	t.restMu.Lock()
	defer t.restMu.Unlock()
	for _, r := range t.resters {
		if r != from {
			r.restWake.Store(true)
			r.p.Wake() // a closed poller means r has exited: nothing to wake
		}
	}
}

// fdDir is the table's directory of chunks. It is replaced, never grown in
// place, when a descriptor beyond it is registered (the soft RLIMIT_NOFILE
// raised after the table was made).
type fdDir struct {
	chunks []atomic.Pointer[fdChunk]
}

const (
	fdChunkBits = 10
	fdChunkSize = 1 << fdChunkBits // entries per chunk: 8 KiB of pointers

	// fdDirMax bounds the directory made up front, for a limit of
	// RLIM_INFINITY or close to it; a larger descriptor grows it.
	fdDirMax = 1 << 20 >> fdChunkBits
)

// fdChunk is fdChunkSize consecutive entries.
type fdChunk [fdChunkSize]atomic.Pointer[conn]

// newFDTable makes a table whose directory covers the current soft limit
// on descriptors (Go raises it to the hard limit at start-up), so that it
// is normally sized once. The chunks come later, as descriptors do.
func newFDTable() *fdTable {
	n := fdChunkSize
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err == nil && lim.Cur > 0 {
		n = int(min(uint64(lim.Cur), uint64(fdDirMax)<<fdChunkBits)) // int64 on FreeBSD
	}
	t := &fdTable{}
	t.dir.Store(&fdDir{chunks: make([]atomic.Pointer[fdChunk], (n+fdChunkSize-1)>>fdChunkBits)})
	return t
}

// load returns the entry on fd, or nil. Safe from any goroutine.
func (t *fdTable) load(fd int) *conn {
	d := t.dir.Load()
	i := fd >> fdChunkBits
	if i >= len(d.chunks) {
		return nil
	}
	ch := d.chunks[i].Load()
	if ch == nil {
		return nil
	}
	return ch[fd&(fdChunkSize-1)].Load()
}

// store sets the entry on fd, making its chunk if needed. Only the loop
// that owns fd calls it.
func (t *fdTable) store(fd int, c *conn) {
	d := t.dir.Load()
	if i := fd >> fdChunkBits; i < len(d.chunks) {
		if ch := d.chunks[i].Load(); ch != nil {
			ch[fd&(fdChunkSize-1)].Store(c)
			return
		}
	}
	t.chunk(fd)[fd&(fdChunkSize-1)].Store(c)
}

// chunk returns the chunk for fd, growing the directory and making the
// chunk under the lock: two loops may need a new chunk at once.
func (t *fdTable) chunk(fd int) *fdChunk {
	t.mu.Lock()
	defer t.mu.Unlock()
	i := fd >> fdChunkBits
	d := t.dir.Load()
	if i >= len(d.chunks) {
		nd := &fdDir{chunks: make([]atomic.Pointer[fdChunk], max(i+1, 2*len(d.chunks)))}
		for j := range d.chunks {
			nd.chunks[j].Store(d.chunks[j].Load())
		}
		t.dir.Store(nd)
		d = nd
	}
	ch := d.chunks[i].Load()
	if ch == nil {
		ch = new(fdChunk)
		d.chunks[i].Store(ch)
	}
	return ch
}

// clear removes the entry on fd. The owning loop calls it before it closes
// the descriptor: after the close, the number, and so the entry, may be
// another loop's at once.
func (t *fdTable) clear(fd int) {
	d := t.dir.Load()
	if i := fd >> fdChunkBits; i < len(d.chunks) {
		if ch := d.chunks[i].Load(); ch != nil {
			ch[fd&(fdChunkSize-1)].Store(nil)
		}
	}
}

// owned yields the entries registered by l, in descriptor order. It scans
// the whole table: for Shutdown and the idle sweep, not for a turn.
// Entries may be closed (and so removed) while it runs.
func (l *eventLoop) owned(yield func(*conn) bool) {
	d := l.table.dir.Load()
	for i := range d.chunks {
		ch := d.chunks[i].Load()
		if ch == nil {
			continue
		}
		for j := range ch {
			if c := ch[j].Load(); c != nil && c.loop == l && !yield(c) {
				return
			}
		}
	}
}
