package frame_test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/edgeloop/edgeloop/protocols/frame"
)

// fuzzFraming derives a framing from two fuzzed bytes: which kind, and a
// size for it, kept small so that limits are crossed often.
func fuzzFraming(choice, size uint8) frame.Framing {
	s := int(size)
	switch choice % 9 {
	case 0:
		return frame.Fixed(1 + s%16)
	case 1:
		return frame.Delimited([]byte("\n"), 1+s%32)
	case 2:
		return frame.Delimited([]byte("?!"), 2+s%32)
	case 3:
		// A delimiter that overlaps itself: a partial match at the end
		// of one read must be found again when the rest arrives.
		return frame.Delimited([]byte("aba"), 3+s%32)
	case 4:
		f := frame.Length([]int{1, 2, 4, 8}[s%4], s/4%64)
		if choice&0x80 != 0 {
			f = f.Order(binary.LittleEndian)
		}
		return f
	case 5:
		return frame.UntilEOF(1 + s%64)
	case 6:
		return frame.Custom(bufio.ScanWords, 1+s%32)
	case 7:
		return frame.Custom(bufio.ScanLines, 1+s%32)
	}
	return frame.Custom(bufio.ScanRunes, 4+s%8)
}

// oracle frames the whole stream with a bufio.Scanner, as a client would:
// the messages, and the error that ends the stream (the scanner's own
// ErrTooLong is the framing's).
func oracle(f frame.Framing, stream []byte) (msgs []string, err error) {
	sc := bufio.NewScanner(bytes.NewReader(stream))
	// A buffer of MaxFrame bytes, as the Framing's doc advises, and one
	// more for UntilEOF: a stream of exactly max bytes is its message, but
	// a Scanner with a full buffer reports ErrTooLong before it reads the
	// end of input. No more than that: after a split that skips bytes, a
	// Scanner reads before it splits again, so with a larger buffer it may
	// see the end of input where the Handler does not yet, and take a last
	// unterminated message of max bytes that the framing refuses.
	size := f.MaxFrame()
	if strings.HasPrefix(f.String(), "until-eof") {
		size++
	}
	sc.Buffer(nil, size)
	sc.Split(f.Split)
	for sc.Scan() {
		msgs = append(msgs, sc.Text())
	}
	return msgs, sc.Err()
}

// errClass names the sentinel an ending error wraps, for comparing a
// Handler's with the oracle's.
func errClass(err error) string {
	switch {
	case err == nil:
		return "none"
	case errors.Is(err, frame.ErrTooLong), errors.Is(err, bufio.ErrTooLong):
		return "too long"
	case errors.Is(err, frame.ErrTruncated):
		return "truncated"
	case errors.Is(err, frame.ErrBadFraming):
		return "bad framing"
	}
	return "other: " + err.Error()
}

// FuzzHandlerSplits runs a Handler over a fuzzed stream cut into fuzzed
// reads (an empty one is an edge with nothing to read), with a small
// Outbox cap and a peer that takes a few bytes per write, so delivery
// stops and resumes as the queue fills and drains. The messages, the
// replies and the ending must be what a bufio.Scanner with the framing's
// Split makes of the whole stream at once.
func FuzzHandlerSplits(f *testing.F) {
	for i, tc := range framingCases() {
		f.Add(uint8(i), uint8(i*7), uint8(3), uint8(2), []byte{1, 0, 5, 2}, []byte(tc.stream))
	}
	f.Add(uint8(3), uint8(10), uint8(1), uint8(1), []byte{2, 1, 3}, []byte("xxabab\x00abaaba"))
	f.Add(uint8(2), uint8(5), uint8(64), uint8(0), []byte{1, 1, 1}, []byte("hi?!?!there?"))
	f.Add(uint8(4), uint8(4*5+1), uint8(2), uint8(1), []byte{1}, []byte("\x00\x03abc\x00\x00\x00\x01"))
	f.Fuzz(func(t *testing.T, choice, size, capB, writeB uint8, cuts, stream []byte) {
		if len(stream) > 4096 || len(cuts) > 256 {
			return
		}
		fr := fuzzFraming(choice, size)
		var chunks [][]byte
		rest := stream
		for _, c := range cuts {
			n := min(int(c), len(rest))
			chunks = append(chunks, rest[:n])
			rest = rest[n:]
		}
		if len(rest) > 0 {
			chunks = append(chunks, rest)
		}
		var writeMax func() int
		if writeB != 0 {
			w := int(writeB % 32)
			writeMax = func() int { return 1 + w }
		}
		capBytes := 1 + int(capB%64)
		msgs, r, h := serve(fr, chunks, capBytes, writeMax)
		how := fmt.Sprintf("%v, cap %d, reads %v", fr, capBytes, lens(chunks))

		want, wantErr := oracle(fr, stream)
		if r.err != nil {
			t.Fatalf("%s: the handler failed: %v", how, r.err)
		}
		if !equal(msgs, want) {
			t.Fatalf("%s: messages %q, the scanner's %q", how, msgs, want)
		}
		if got, want := errClass(h.Err()), errClass(wantErr); got != want {
			t.Fatalf("%s: ended with %v (%s), the scanner with %v (%s)", how, h.Err(), got, wantErr, want)
		}
		var out strings.Builder
		for _, m := range want {
			out.WriteString("[" + m + "]")
		}
		if string(r.out) != out.String() {
			t.Fatalf("%s: sent %q, want %q", how, r.out, out.String())
		}
		if !r.graceful {
			t.Fatalf("%s: not closed gracefully once done", how)
		}
		if h.Pending() != 0 || h.Held() != 0 {
			t.Fatalf("%s: the Outbox holds %d bytes (%d pending) after the close", how, h.Held(), h.Pending())
		}
		if bound := capBytes + fr.MaxFrame() + 2; r.maxPending > bound {
			t.Fatalf("%s: the Outbox held %d bytes, over the cap and one reply (%d)", how, r.maxPending, bound)
		}
	})
}

// lens returns the lengths of chunks, for messages.
func lens(chunks [][]byte) []int {
	n := make([]int, len(chunks))
	for i, c := range chunks {
		n[i] = len(c)
	}
	return n
}
