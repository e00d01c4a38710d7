package reactor_test

import (
	"fmt"
	"sync/atomic"

	"github.com/edgeloop/edgeloop/reactor"
)

// counts are one connection's handler calls and the Conn calls its handler
// made, counted from the test side: a wrapped Conn and a wrapped Handler,
// so the loop itself carries no counters. Tests of edge-triggered
// efficiency use them to count wasted calls: a HandleRecv whose Read finds
// nothing, a HandleSend whose Write moves nothing.
type counts struct {
	recvCalls     atomic.Int64 // HandleRecv calls
	sendCalls     atomic.Int64 // HandleSend calls
	reads         atomic.Int64 // Read calls
	readsBlocked  atomic.Int64 // Read calls that returned ErrWouldBlock
	readBytes     atomic.Int64
	writes        atomic.Int64 // Write calls
	writesBlocked atomic.Int64 // Write calls that moved nothing and returned ErrWouldBlock
	shortWrites   atomic.Int64 // Write calls that moved some but not all
	wroteBytes    atomic.Int64
}

func (n *counts) String() string {
	return fmt.Sprintf("HandleRecv %d, HandleSend %d, Read %d (%d ErrWouldBlock, %d bytes), Write %d (%d short, %d ErrWouldBlock with 0 bytes, %d bytes)",
		n.recvCalls.Load(), n.sendCalls.Load(), n.reads.Load(), n.readsBlocked.Load(), n.readBytes.Load(),
		n.writes.Load(), n.shortWrites.Load(), n.writesBlocked.Load(), n.wroteBytes.Load())
}

// countingConn counts the Read and Write calls of the Conn it wraps.
type countingConn struct {
	reactor.Conn
	n *counts
}

func (c countingConn) Read(p []byte) (int, error) {
	k, err := c.Conn.Read(p)
	c.n.reads.Add(1)
	c.n.readBytes.Add(int64(k))
	if err == reactor.ErrWouldBlock {
		c.n.readsBlocked.Add(1)
	}
	return k, err
}

func (c countingConn) Write(p []byte) (int, error) {
	k, err := c.Conn.Write(p)
	c.n.writes.Add(1)
	c.n.wroteBytes.Add(int64(k))
	switch {
	case k == 0 && err == reactor.ErrWouldBlock:
		c.n.writesBlocked.Add(1)
	case k < len(p):
		c.n.shortWrites.Add(1)
	}
	return k, err
}

// countingHandler counts the calls of the Handler it wraps and forwards
// HandleClose.
type countingHandler struct {
	reactor.Handler
	n *counts
}

func (h countingHandler) HandleRecv() error {
	h.n.recvCalls.Add(1)
	return h.Handler.HandleRecv()
}

func (h countingHandler) HandleSend() error {
	h.n.sendCalls.Add(1)
	return h.Handler.HandleSend()
}

func (h countingHandler) HandleClose(err error) {
	if ch, ok := h.Handler.(reactor.CloseHandler); ok {
		ch.HandleClose(err)
	}
}

// counted wraps f so that each connection's handler and Conn are counted;
// the counts of each new connection are sent to conns.
func counted(f reactor.Factory, conns chan<- *counts) reactor.Factory {
	return func(c reactor.Conn) reactor.Handler {
		n := &counts{}
		h := f(countingConn{c, n})
		if h == nil {
			return nil
		}
		conns <- n
		return countingHandler{h, n}
	}
}
