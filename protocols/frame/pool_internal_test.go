package frame

import (
	"encoding/binary"
	"net"
	"runtime"
	"testing"

	"github.com/edgeloop/edgeloop/reactor"
)

// chunkConn hands out its input a chunk per read and takes every write.
type chunkConn struct {
	chunks [][]byte
	buf    [64 << 10]byte
}

func (c *chunkConn) Read(p []byte) (int, error) {
	if len(c.chunks) == 0 {
		return 0, reactor.ErrWouldBlock
	}
	n := copy(p, c.chunks[0])
	c.chunks = c.chunks[1:]
	return n, nil
}
func (c *chunkConn) Write(p []byte) (int, error)    { return len(p), nil }
func (c *chunkConn) Writev(b [][]byte) (int, error) { return 0, nil }
func (c *chunkConn) Close() error                   { return nil }
func (c *chunkConn) CloseWrite() error              { return nil }
func (c *chunkConn) ReadBuffer() []byte             { return c.buf[:] }
func (c *chunkConn) Wake()                          {}
func (c *chunkConn) Post(fn func()) error           { fn(); return nil }
func (c *chunkConn) Fd() int                        { return -1 }
func (c *chunkConn) LocalAddr() net.Addr            { return nil }
func (c *chunkConn) RemoteAddr() net.Addr           { return nil }
func (c *chunkConn) String() string                 { return "chunks" }

// TestBigInputBufferLeavesPool: a message gathered over many reads grows
// the Handler's input buffer past poolMax; once delivered, that buffer must
// not go back to the pool, where an idle server (no collection runs) would
// keep it resident, and where the next Outbox.Push of a few bytes would
// take it. The Outbox drops such buffers (and tells memreturn); the
// Handler's input buffer must do the same.
func TestBigInputBufferLeavesPool(t *testing.T) {
	const size = 4 * poolMax
	msg := make([]byte, 4+size)
	binary.BigEndian.PutUint32(msg, size)
	c := &chunkConn{}
	for p := msg; len(p) > 0; p = p[min(len(p), 16<<10):] {
		c.chunks = append(c.chunks, p[:min(len(p), 16<<10)])
	}
	delivered := 0
	h := NewHandler(c, Length(4, size), func(m []byte, _ *Outbox) error {
		delivered = len(m)
		return nil
	})
	runtime.GC()
	runtime.GC() // empty the pool, its victim cache too
	for len(c.chunks) > 0 {
		if err := h.HandleRecv(); err != nil {
			t.Fatal(err)
		}
	}
	if delivered != size {
		t.Fatalf("delivered a message of %d bytes, want %d", delivered, size)
	}
	if h.in != nil {
		t.Fatalf("the input buffer is still held (%d bytes) after its message went", cap(h.in.B))
	}
	// The pool hands back what was last put on this P: the input buffer,
	// had it been put there.
	b := pool.Get()
	defer pool.Put(b)
	if cap(b.B) > poolMax {
		t.Fatalf("the pool holds a buffer of %d bytes, over poolMax (%d): the input buffer went back to it", cap(b.B), poolMax)
	}
}
