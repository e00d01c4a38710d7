package qa_test

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/edgeloop/edgeloop/internal/conformance"
	"github.com/edgeloop/edgeloop/internal/frametest"
	"github.com/edgeloop/edgeloop/protocols/qa"
)

// TestEverySplit: the notes' example, "Yoyo" then "?Pu" then "yo?", and
// that stream cut at every split point and every pair of split points, is
// answered "Yoyo.Puyo." on every backend.
func TestEverySplit(t *testing.T) {
	stream := []byte("Yoyo?Puyo?")
	want := []byte("Yoyo.Puyo.")
	conformance.ForEachBackend(t, conformance.EchoMany, func(t *testing.T, backend string) {
		_, addr := conformance.Start(t, backend, 2, qa.New)
		if err := frametest.Exchange(addr, [][]byte{[]byte("Yoyo"), []byte("?Pu"), []byte("yo?")}, want); err != nil {
			t.Fatalf("the notes' example: %v", err)
		}
		for i := 0; i <= len(stream); i++ {
			for j := i; j <= len(stream); j++ {
				if err := frametest.Exchange(addr, frametest.SplitAt(stream, i, j), want); err != nil {
					t.Fatalf("cut at %d and %d: %v", i, j, err)
				}
			}
		}
	})
}

// TestManyQuestionsRandomSplits: thousands of questions in one stream, cut
// at random, several to a write, are answered in order on every backend.
func TestManyQuestionsRandomSplits(t *testing.T) {
	s := uint64(time.Now().UnixNano())
	t.Logf("seed %d", s)
	conformance.ForEachBackend(t, conformance.EchoMany, func(t *testing.T, backend string) {
		_, addr := conformance.Start(t, backend, 2, qa.New)
		r := rand.New(rand.NewPCG(s, 1))
		for round := range 5 {
			var stream, want strings.Builder
			for i := range 5000 {
				q := fmt.Sprintf("question %d of round %d, %s", i, round, strings.Repeat("x", r.IntN(200)))
				stream.WriteString(q + "?")
				want.WriteString(q + ".")
			}
			chunks := frametest.RandomSplit(r, []byte(stream.String()), 1+r.IntN(4000))
			if err := frametest.Exchange(addr, chunks, []byte(want.String())); err != nil {
				t.Fatalf("round %d, %d chunks: %v", round, len(chunks), err)
			}
		}
	})
}

// TestUnfinishedQuestionUnanswered: bytes after the last '?' when the peer
// ends its input are no question: the answers before them come, then the
// close, and nothing else.
func TestUnfinishedQuestionUnanswered(t *testing.T) {
	conformance.ForEachBackend(t, conformance.EchoMany, func(t *testing.T, backend string) {
		_, addr := conformance.Start(t, backend, 1, qa.New)
		if err := frametest.Exchange(addr, [][]byte{[]byte("Yoyo?Pu")}, []byte("Yoyo.")); err != nil {
			t.Fatal(err)
		}
	})
}

// TestQuestionTooLong: a question over the maximum gets an error line
// after the answers before it, and the connection closes; other
// connections are unaffected.
func TestQuestionTooLong(t *testing.T) {
	conformance.ForEachBackend(t, conformance.EchoMany, func(t *testing.T, backend string) {
		_, addr := conformance.Start(t, backend, 1, qa.Factory(16))
		other := conformance.DialTCP(t, addr)
		stream := []byte("short?" + strings.Repeat("y", 40) + "?after?")
		want := []byte("short.error: question longer than 16 bytes\n")
		for _, chunks := range [][][]byte{{stream}, frametest.SplitAt(stream, 3, 10, 30)} {
			if err := frametest.Exchange(addr, chunks, want); err != nil {
				t.Fatal(err)
			}
		}
		other.SetDeadline(time.Now().Add(frametest.Timeout))
		if _, err := other.Write([]byte("still here?")); err != nil {
			t.Fatal(err)
		}
		if err := conformance.ReadExactly(other, []byte("still here.")); err != nil {
			t.Fatalf("the other connection: %v", err)
		}
	})
}
