package echo_test

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/edgeloop/edgeloop/internal/conformance"
	"github.com/edgeloop/edgeloop/internal/frametest"
	"github.com/edgeloop/edgeloop/protocols/echo"
)

// TestLinesEverySplit: lines come back whole, in order, whatever the cuts
// between reads, on every backend: a short stream cut at every pair of
// split points, then long streams cut at random.
func TestLinesEverySplit(t *testing.T) {
	s := uint64(time.Now().UnixNano())
	t.Logf("seed %d", s)
	conformance.ForEachBackend(t, conformance.EchoMany, func(t *testing.T, backend string) {
		_, addr := conformance.Start(t, backend, 2, echo.Lines(0))
		stream := []byte("one\ntwo\r\n\nfour\n")
		for i := 0; i <= len(stream); i++ {
			for j := i; j <= len(stream); j++ {
				if err := frametest.Exchange(addr, frametest.SplitAt(stream, i, j), stream); err != nil {
					t.Fatalf("cut at %d and %d: %v", i, j, err)
				}
			}
		}
		r := rand.New(rand.NewPCG(s, 1))
		for round := range 5 {
			var b strings.Builder
			for i := range 3000 {
				fmt.Fprintf(&b, "line %d of round %d %s\n", i, round, strings.Repeat("z", r.IntN(300)))
			}
			p := []byte(b.String())
			if err := frametest.Exchange(addr, frametest.RandomSplit(r, p, 1+r.IntN(5000)), p); err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
	})
}

// TestLinesLastLineWithoutNewline: a last line without a newline goes back
// as it is once the input ends, as `for line in rfile` yields it.
func TestLinesLastLineWithoutNewline(t *testing.T) {
	conformance.ForEachBackend(t, conformance.HalfClose, func(t *testing.T, backend string) {
		_, addr := conformance.Start(t, backend, 1, echo.Lines(0))
		err := frametest.ExchangeAtEOF(addr, [][]byte{[]byte("a\nb"), []byte("c")}, []byte("a\n"), []byte("bc"))
		if err != nil {
			t.Fatal(err)
		}
	})
}

// TestLinesTooLong: a line over the maximum gets an error line after the
// lines before it, and only that connection closes.
func TestLinesTooLong(t *testing.T) {
	conformance.ForEachBackend(t, conformance.EchoMany, func(t *testing.T, backend string) {
		_, addr := conformance.Start(t, backend, 1, echo.Lines(10))
		other := conformance.DialTCP(t, addr)
		stream := []byte("123456789\n" + strings.Repeat("x", 30) + "\nafter\n")
		want := []byte("123456789\nerror: line longer than 10 bytes\n")
		for _, chunks := range [][][]byte{{stream}, frametest.SplitAt(stream, 5, 12, 25)} {
			if err := frametest.Exchange(addr, chunks, want); err != nil {
				t.Fatal(err)
			}
		}
		other.SetDeadline(time.Now().Add(frametest.Timeout))
		if _, err := other.Write([]byte("still\n")); err != nil {
			t.Fatal(err)
		}
		if err := conformance.ReadExactly(other, []byte("still\n")); err != nil {
			t.Fatalf("the other connection: %v", err)
		}
	})
}
