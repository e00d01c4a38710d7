package reactor_test

import (
	"bytes"
	"crypto/sha256"
	"io"
	"testing"
	"time"

	"github.com/edgeloop/edgeloop/reactor"
)

// gatherer sends a header and a payload with Writev, advancing its own
// view of them after each partial write, then closes gracefully.
type gatherer struct {
	c    reactor.Conn
	bufs [][]byte
}

func (g *gatherer) WantsRecv() bool   { return false }
func (g *gatherer) WantsSend() bool   { return len(g.bufs) > 0 }
func (g *gatherer) HandleRecv() error { return nil }
func (g *gatherer) HandleSend() error {
	for len(g.bufs) > 0 {
		n, err := g.c.Writev(g.bufs)
		g.bufs = reactor.Advance(g.bufs, n)
		if err == reactor.ErrWouldBlock {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// TestWritevSendsAllInOrder: a header and an 8 MiB payload (far more than a
// socket takes at once, so the writes are partial at arbitrary points
// across the two buffers) arrive byte-exact and in order, on every backend,
// and the payload's bytes are left untouched.
func TestWritevSendsAllInOrder(t *testing.T) {
	header := []byte("header: 8 MiB follow\n")
	payload := make([]byte, 8<<20)
	for i := range payload {
		payload[i] = byte(i*7 + i>>13)
	}
	sum := sha256.Sum256(payload)
	want := append(append([]byte(nil), header...), payload...)
	for _, b := range allBackends {
		t.Run("backend="+b, func(t *testing.T) {
			l := newLoop(t, b)
			addr, err := l.Listen("tcp", "127.0.0.1:0", func(c reactor.Conn) reactor.Handler {
				reactor.CloseGraceful(c)
				return &gatherer{c: c, bufs: [][]byte{header, {}, payload}}
			})
			if err != nil {
				t.Fatal(err)
			}
			nc := dialT(t, addr)
			nc.SetDeadline(time.Now().Add(waitTimeout))
			got, err := io.ReadAll(nc)
			if err != nil {
				t.Fatalf("after %d bytes: %v", len(got), err)
			}
			if !bytes.Equal(got, want) {
				i := 0
				for i < len(got) && i < len(want) && got[i] == want[i] {
					i++
				}
				t.Fatalf("got %d bytes, want %d; first difference at byte %d", len(got), len(want), i)
			}
			if sha256.Sum256(payload) != sum {
				t.Fatal("Writev changed the payload's bytes")
			}
		})
	}
}

// TestAdvance: the view moves exactly across buffer boundaries, skipping
// empty buffers, and never touches the bytes.
func TestAdvance(t *testing.T) {
	a, b, c := []byte("abc"), []byte("de"), []byte("fghi")
	for _, tc := range []struct {
		n    int
		want string // the rest, concatenated
		bufs int    // buffers left
	}{
		{0, "abcdefghi", 4},
		{2, "cdefghi", 4},
		{3, "defghi", 3}, // a's end: a dropped, the empty one stays first
		{4, "efghi", 2},
		{5, "fghi", 1},
		{8, "i", 1},
		{9, "", 0},
	} {
		bufs := [][]byte{a, {}, b, c}
		if tc.n == 3 {
			bufs = [][]byte{a, b, c}
		}
		rest := reactor.Advance(bufs, tc.n)
		if got := string(bytes.Join(rest, nil)); got != tc.want {
			t.Errorf("Advance(%d) left %q, want %q", tc.n, got, tc.want)
		}
		if tc.n != 3 && len(rest) != tc.bufs {
			t.Errorf("Advance(%d) left %d buffers, want %d", tc.n, len(rest), tc.bufs)
		}
	}
	if string(a)+string(b)+string(c) != "abcdefghi" {
		t.Error("Advance changed the bytes")
	}
}
