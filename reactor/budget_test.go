package reactor_test

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
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

// turnOrder reads whatever comes and records, per loop turn, the order
// in which connections were called.
type turnOrder struct {
	c    reactor.Conn
	name string
	log  *turnLog
}

// turnLog is the calls of all connections, in order; the test reads it
// after the loop is done with it.
type turnLog struct {
	mu    sync.Mutex
	calls []struct {
		turn uint64
		name string
	}
}

func (h *turnOrder) WantsRecv() bool   { return true }
func (h *turnOrder) WantsSend() bool   { return false }
func (h *turnOrder) HandleSend() error { return nil }

func (h *turnOrder) HandleRecv() error {
	b := h.c.ReadBuffer()
	if h.name == "bulk" {
		b = b[:64] // drain slowly, so that bulk always has more queued
	}
	n, err := h.c.Read(b)
	if n > 0 {
		h.log.mu.Lock()
		h.log.calls = append(h.log.calls, struct {
			turn uint64
			name string
		}{reactor.LoopTurn(h.c), h.name})
		h.log.mu.Unlock()
	}
	if errors.Is(err, reactor.ErrWouldBlock) {
		return nil
	}
	return err
}

// TestFreshEventsBeforeCarriedWork is the regression test for a small
// request waiting a whole turn behind bulk peers: a connection that ran out
// of budget was queued ahead of the next turn's events, so a probe that
// arrived beside bulk traffic was served only after every bulk peer's
// carried-over work. Now what the kernel has just signalled comes first.
func TestFreshEventsBeforeCarriedWork(t *testing.T) {
	forPollers(t, func(t *testing.T, name string) {
		const budget, buf = 4 << 10, 4 << 10
		l := newLoop(t, name, reactor.WithBudget(budget), reactor.WithReadBuffer(buf))
		log := &turnLog{}
		var n atomic.Int32
		addr, err := l.Listen("tcp", "127.0.0.1:0", func(c reactor.Conn) reactor.Handler {
			who := "bulk"
			if n.Add(1) == 2 {
				who = "probe"
			}
			return &turnOrder{c: c, name: who, log: log}
		})
		if err != nil {
			t.Fatal(err)
		}
		bulk, err := net.Dial("tcp", addr.String())
		if err != nil {
			t.Fatal(err)
		}
		defer bulk.Close()
		// Much more than the budget waits, so bulk is carried every turn.
		go func() {
			bulk.SetWriteDeadline(time.Now().Add(waitTimeout))
			bulk.Write(make([]byte, 8<<20))
		}()
		deadline := time.Now().Add(waitTimeout)
		for {
			log.mu.Lock()
			started := len(log.calls) > 10
			log.mu.Unlock()
			if started {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the bulk peer was never served")
			}
			time.Sleep(time.Millisecond) // polling interval, bounded by deadline
		}
		probe, err := net.Dial("tcp", addr.String())
		if err != nil {
			t.Fatal(err)
		}
		defer probe.Close()
		// The claim is about carried work: bulk must have run out of its
		// rounds in the turn before the probe's. A bulk peer that drained
		// its socket is a fresh event like the probe, in the kernel's
		// order, so such a try says nothing and the probe asks again.
		const rounds = 16 // the loop's maxRounds: bulk reads 64 B a call, far below the budget
		last := ""
		for try := 1; ; try++ {
			if time.Now().After(deadline) {
				t.Fatalf("in %d tries the bulk peer was never carried into the probe's turn: the test set-up failed (%s)", try, last)
			}
			if _, err := probe.Write([]byte("?")); err != nil {
				t.Fatal(err)
			}
			var probeTurn uint64
			var order []string
			carried := false
			for {
				log.mu.Lock()
				seen := 0
				for _, c := range log.calls {
					if c.name == "probe" {
						if seen++; seen == try {
							probeTurn = c.turn
						}
					}
				}
				if probeTurn != 0 {
					before := 0
					for _, c := range log.calls {
						switch {
						case c.turn == probeTurn:
							order = append(order, c.name)
						case c.turn == probeTurn-1 && c.name == "bulk":
							before++
						}
					}
					carried = before == rounds
				}
				log.mu.Unlock()
				if probeTurn != 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the probe was never served")
				}
				time.Sleep(time.Millisecond) // polling interval, bounded by deadline
			}
			if !carried || len(order) < 2 {
				log.mu.Lock()
				lastBulk, nBulk := uint64(0), 0
				for _, c := range log.calls {
					if c.name == "bulk" {
						lastBulk, nBulk = c.turn, nBulk+1
					}
				}
				log.mu.Unlock()
				last = fmt.Sprintf("last try: probe in turn %d, carried %v, order %v; bulk's last call in turn %d, %d calls", probeTurn, carried, order, lastBulk, nBulk)
				continue
			}
			if order[0] != "probe" {
				t.Fatalf("in the probe's turn the calls ran %v: carried bulk work went before the fresh event", order)
			}
			break
		}
	})
}
