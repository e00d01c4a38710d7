package reactor_test

import (
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/edgeloop/edgeloop/reactor"
)

// sink reads whatever comes and records how many bytes each loop turn read.
type sink struct {
	c       reactor.Conn
	mu      sync.Mutex // perTurn is read by the test goroutine
	perTurn map[uint64]int
	total   int
}

func (h *sink) WantsRecv() bool   { return true }
func (h *sink) WantsSend() bool   { return false }
func (h *sink) HandleSend() error { return nil }

func (h *sink) HandleRecv() error {
	n, err := h.c.Read(h.c.ReadBuffer())
	h.mu.Lock()
	h.perTurn[reactor.LoopTurn(h.c)] += n
	h.total += n
	h.mu.Unlock()
	if errors.Is(err, reactor.ErrWouldBlock) {
		return nil
	}
	return err
}

// TestBudgetBoundsBytesPerTurn is the regression test for a flooding peer
// taking up to 1 MiB of a turn (16 rounds of 64 KiB) while the others waited:
// the budget counts bytes, so one connection moves at most the budget, plus
// the one call that crosses it, per turn.
func TestBudgetBoundsBytesPerTurn(t *testing.T) {
	forPollers(t, func(t *testing.T, name string) {
		const budget, buf = 16 << 10, 4 << 10
		l := newLoop(t, name, reactor.WithBudget(budget), reactor.WithReadBuffer(buf))
		h := &sink{perTurn: map[uint64]int{}}
		addr, err := l.Listen("tcp", "127.0.0.1:0", func(c reactor.Conn) reactor.Handler {
			h.c = c
			return h
		})
		if err != nil {
			t.Fatal(err)
		}
		c, err := net.Dial("tcp", addr.String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// Fill the server's receive queue first, so that every turn has far
		// more than the budget waiting.
		const total = 4 << 20
		go func() {
			c.SetWriteDeadline(time.Now().Add(waitTimeout))
			c.Write(make([]byte, total))
		}()
		deadline := time.Now().Add(waitTimeout)
		for {
			h.mu.Lock()
			got := h.total
			h.mu.Unlock()
			if got == total {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("read %d of %d bytes in %v", got, total, waitTimeout)
			}
			time.Sleep(time.Millisecond) // polling interval, bounded by deadline
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		most := 0
		for _, n := range h.perTurn {
			most = max(most, n)
		}
		if most > budget+buf {
			t.Fatalf("one turn read %d bytes from one connection, budget %d (+ one %d-byte read)", most, budget, buf)
		}
		if most < budget {
			t.Fatalf("no turn read the budget's %d bytes (most %d): the flood never filled a turn, so the test proves nothing", budget, most)
		}
	})
}
