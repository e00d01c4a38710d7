package frame_test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/edgeloop/edgeloop/internal/frametest"
	"github.com/edgeloop/edgeloop/protocols/frame"
)

// framingCase is a stream and what a framing must make of it.
type framingCase struct {
	name    string
	framing frame.Framing
	stream  string
	want    []string // the messages, in order
	err     error    // the framing error that ends the stream, if any
}

// lengthStream encodes msgs with a Length framing's headers.
func lengthStream(f frame.Framing, msgs ...string) string {
	var b []byte
	for _, m := range msgs {
		var err error
		if b, err = f.AppendLength(b, len(m)); err != nil {
			panic(err)
		}
		b = append(b, m...)
	}
	return string(b)
}

func framingCases() []framingCase {
	l1, l2, l4, l8 := frame.Length(1, 300), frame.Length(2, 300), frame.Length(4, 300), frame.Length(8, 300)
	le := frame.Length(4, 300).Order(binary.LittleEndian)
	return []framingCase{
		{"fixed", frame.Fixed(3), "abcdefghi", []string{"abc", "def", "ghi"}, nil},
		{"fixed/truncated", frame.Fixed(3), "abcdefgh", []string{"abc", "def"}, frame.ErrTruncated},
		{"delimited/qa", frame.Delimited([]byte("?"), 16), "Yoyo?Puyo?", []string{"Yoyo?", "Puyo?"}, nil},
		{"delimited/tail", frame.Delimited([]byte("?"), 16), "Yoyo?Pu", []string{"Yoyo?", "Pu"}, nil},
		{"delimited/crlf", frame.Delimited([]byte("\r\n"), 16), "a\r\nbc\r\n\r\nd\re\r\n",
			[]string{"a\r\n", "bc\r\n", "\r\n", "d\re\r\n"}, nil},
		{"delimited/exactly-max", frame.Delimited([]byte("\n"), 4), "abc\nd\n", []string{"abc\n", "d\n"}, nil},
		{"delimited/too-long", frame.Delimited([]byte("\n"), 4), "ab\nabcd\nx\n", []string{"ab\n"}, frame.ErrTooLong},
		{"length/1", l1, lengthStream(l1, "hello", "", "x", strings.Repeat("y", 255)),
			[]string{"hello", "", "x", strings.Repeat("y", 255)}, nil},
		{"length/2", l2, lengthStream(l2, "hello", "", strings.Repeat("z", 300)), []string{"hello", "", strings.Repeat("z", 300)}, nil},
		{"length/4", l4, lengthStream(l4, "ab", "cde"), []string{"ab", "cde"}, nil},
		{"length/8", l8, lengthStream(l8, "ab", "cde"), []string{"ab", "cde"}, nil},
		{"length/little-endian", le, lengthStream(le, "ab", "cde"), []string{"ab", "cde"}, nil},
		{"length/big-endian-on-the-wire", l2, "\x00\x02ab\x00\x01c", []string{"ab", "c"}, nil},
		{"length/too-long", l2, lengthStream(l2, "ok") + "\x01\x2d" + strings.Repeat("q", 301), []string{"ok"}, frame.ErrTooLong},
		{"length/truncated-header", l4, lengthStream(l4, "ok") + "\x00\x00", []string{"ok"}, frame.ErrTruncated},
		{"length/truncated-body", l4, lengthStream(l4, "ok") + "\x00\x00\x00\x05abc", []string{"ok"}, frame.ErrTruncated},
		{"until-eof", frame.UntilEOF(64), "the whole\nstream?", []string{"the whole\nstream?"}, nil},
		{"until-eof/empty", frame.UntilEOF(64), "", nil, nil},
		{"until-eof/exactly-max", frame.UntilEOF(8), "12345678", []string{"12345678"}, nil},
		{"until-eof/too-long", frame.UntilEOF(8), "123456789", nil, frame.ErrTooLong},
		{"custom/words", frame.Custom(bufio.ScanWords, 16), "  one two\tthree \n", []string{"one", "two", "three"}, nil},
		{"custom/word-over-max", frame.Custom(bufio.ScanWords, 3), "ab 0000 cd ", []string{"ab"}, frame.ErrTooLong},
		{"custom/final-token", frame.Custom(untilEnd, 16), "one END two", []string{"one", "END"}, nil},
	}
}

// untilEnd is bufio.ScanWords that stops at the word END, the last token,
// with bufio.ErrFinalToken: "stop with no error", as bufio.Scanner reads it.
func untilEnd(data []byte, atEOF bool) (int, []byte, error) {
	advance, token, err := bufio.ScanWords(data, atEOF)
	if err == nil && string(token) == "END" {
		err = bufio.ErrFinalToken
	}
	return advance, token, err
}

// serve runs a handler of f over chunks and returns the messages it
// delivered, the bytes it sent and how it ended. Each message is answered
// with "[message]", so the output shows order and boundaries too.
func serve(f frame.Framing, chunks [][]byte, capBytes int, writeMax func() int) (msgs []string, r result, h *frame.Handler) {
	c := &fakeConn{chunks: chunks, writeMax: writeMax}
	h = frame.NewHandler(c, f, func(msg []byte, out *frame.Outbox) error {
		msgs = append(msgs, string(msg))
		out.PushString("[")
		out.Push(msg)
		out.PushString("]")
		return nil
	})
	if capBytes > 0 {
		h.Outbox.Init(c, capBytes)
	}
	r = drive(h, c)
	return msgs, r, h
}

// check compares a serve's outcome with tc.
func (tc framingCase) check(t *testing.T, how string, msgs []string, r result, h *frame.Handler) {
	t.Helper()
	if r.err != nil {
		t.Fatalf("%s: the handler failed: %v", how, r.err)
	}
	if !equal(msgs, tc.want) {
		t.Fatalf("%s: messages %q, want %q", how, msgs, tc.want)
	}
	var want strings.Builder
	for _, m := range tc.want {
		want.WriteString("[" + m + "]")
	}
	if string(r.out) != want.String() {
		t.Fatalf("%s: sent %q, want %q", how, r.out, want.String())
	}
	if !r.graceful {
		t.Fatalf("%s: not closed gracefully once done", how)
	}
	if !errors.Is(h.Err(), tc.err) || (tc.err == nil) != (h.Err() == nil) {
		t.Fatalf("%s: Err() = %v, want %v", how, h.Err(), tc.err)
	}
	if h.Pending() != 0 || h.Held() != 0 {
		t.Fatalf("%s: the Outbox holds %d bytes (%d pending) after the close", how, h.Held(), h.Pending())
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestEverySplit delivers each framing's stream cut into reads at every
// split point and every pair of split points: the messages, replies and
// the ending must not depend on where reads end.
func TestEverySplit(t *testing.T) {
	for _, tc := range framingCases() {
		t.Run(tc.name, func(t *testing.T) {
			p := []byte(tc.stream)
			msgs, r, h := serve(tc.framing, [][]byte{p}, 0, nil)
			tc.check(t, "one read", msgs, r, h)
			for i := 0; i <= len(p); i++ {
				msgs, r, h := serve(tc.framing, frametest.SplitAt(p, i), 0, nil)
				tc.check(t, fmt.Sprintf("cut at %d", i), msgs, r, h)
				for j := i; j <= len(p); j++ {
					msgs, r, h := serve(tc.framing, frametest.SplitAt(p, i, j), 0, nil)
					tc.check(t, fmt.Sprintf("cut at %d and %d", i, j), msgs, r, h)
				}
			}
			bytewise := frametest.RandomSplit(rand.New(rand.NewPCG(1, 1)), p, 1)
			msgs, r, h = serve(tc.framing, bytewise, 0, nil)
			tc.check(t, "a byte per read", msgs, r, h)
		})
	}
}

// TestCustomOverMaxInOneRead: a Custom framing refuses a message over its
// maximum however the reads fall. Its split saw the whole of a read, so a
// 4-byte word under a maximum of 3 was delivered when one read brought it
// with its delimiter, and refused (ErrTooLong) when reads cut it: found by
// FuzzHandlerSplits. The split now sees at most max bytes, as a
// bufio.Scanner with a buffer of max bytes does.
func TestCustomOverMaxInOneRead(t *testing.T) {
	f := frame.Custom(bufio.ScanWords, 3)
	for _, chunks := range [][][]byte{{[]byte("0000 ")}, {[]byte("00"), []byte("00 ")}} {
		msgs, r, h := serve(f, chunks, 0, nil)
		if len(msgs) != 0 || !errors.Is(h.Err(), frame.ErrTooLong) || !r.graceful {
			t.Fatalf("reads %q: messages %q, Err() = %v, %+v; want none and ErrTooLong", chunks, msgs, h.Err(), r)
		}
	}
	// A message of exactly max bytes, its delimiter beyond them, is still
	// refused: the framing of a message counts (Scanner does the same).
	if adv, msg, err := f.Split([]byte("000 "), false); !errors.Is(err, frame.ErrTooLong) {
		t.Fatalf("Split(\"000 \") = %d, %q, %v; want ErrTooLong", adv, msg, err)
	}
}

// TestRandomSplitsLongStreams sends thousands of messages of each framing,
// cut into random reads, to a handler whose Outbox holds a few bytes and
// whose peer takes a few bytes per write: delivery stops and resumes as the
// queue fills and drains, and nothing may be lost, repeated or reordered.
func TestRandomSplitsLongStreams(t *testing.T) {
	s := uint64(time.Now().UnixNano())
	t.Logf("seed %d", s)
	r := rand.New(rand.NewPCG(s, 2))
	word := func() string {
		b := make([]byte, r.IntN(40))
		for i := range b {
			b[i] = 'a' + byte(r.IntN(26))
		}
		return string(b)
	}
	l2 := frame.Length(2, 100)
	for _, tc := range []struct {
		name    string
		framing frame.Framing
		encode  func(m string) string
		msg     func() string
	}{
		{"fixed", frame.Fixed(7), func(m string) string { return m }, func() string { return fmt.Sprintf("%07d", r.IntN(10_000_000)) }},
		{"delimited", frame.Delimited([]byte("?!"), 100), func(m string) string { return m },
			func() string { return word() + "?!" }},
		{"length", l2, func(m string) string { return lengthStream(l2, m) }, word},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for round := range 20 {
				var stream strings.Builder
				var want []string
				for range 2000 {
					m := tc.msg()
					want = append(want, m)
					stream.WriteString(tc.encode(m))
				}
				maxChunk := 1 + r.IntN(600)
				capBytes := 1 + r.IntN(64)
				writeMax := 1 + r.IntN(100)
				chunks := frametest.RandomSplit(r, []byte(stream.String()), maxChunk)
				msgs, res, h := serve(tc.framing, chunks, capBytes, func() int { return 1 + r.IntN(writeMax) })
				how := fmt.Sprintf("round %d (reads up to %d, cap %d, writes up to %d)", round, maxChunk, capBytes, writeMax)
				framingCase{framing: tc.framing, want: want}.check(t, how, msgs, res, h)
				// The cap holds, give or take one reply ("[" + message + "]").
				if bound := capBytes + tc.framing.MaxFrame() + 2; res.maxPending > bound {
					t.Fatalf("%s: the Outbox held %d bytes, over the cap and one reply (%d)", how, res.maxPending, bound)
				}
			}
		})
	}
}

// TestMessageInPlace: a message that lies whole in one read is handed over
// where the read put it, in the loop's buffer, not copied.
func TestMessageInPlace(t *testing.T) {
	c := &fakeConn{chunks: [][]byte{[]byte("one\ntwo\nthr"), []byte("ee\n")}}
	var where []bool
	h := frame.NewHandler(c, frame.Delimited([]byte("\n"), 64), func(msg []byte, out *frame.Outbox) error {
		start := uintptr(unsafe.Pointer(&c.buf[0]))
		p := uintptr(unsafe.Pointer(&msg[0]))
		where = append(where, p >= start && p < start+uintptr(len(c.buf)))
		return nil
	})
	if r := drive(h, c); r.err != nil || !r.graceful {
		t.Fatalf("drive: %+v", r)
	}
	// "three" was cut by the read: it is reassembled in the handler's own
	// buffer.
	if want := []bool{true, true, false}; fmt.Sprint(where) != fmt.Sprint(want) {
		t.Fatalf("messages in the read buffer: %v, want %v", where, want)
	}
}

// TestFramingErrorAnswersEarlierFirst: a message over the maximum ends the
// connection with OnError's last word, after the replies to the messages
// before it, and delivers nothing after it.
func TestFramingErrorAnswersEarlierFirst(t *testing.T) {
	c := &fakeConn{chunks: [][]byte{[]byte("ok?fine?"), []byte("this is far too long?after?")}, writeMax: func() int { return 3 }}
	var got []string
	h := frame.NewHandler(c, frame.Delimited([]byte("?"), 8), func(msg []byte, out *frame.Outbox) error {
		got = append(got, string(msg))
		out.Push(bytes.ToUpper(msg))
		return nil
	})
	h.OnError = func(err error, out *frame.Outbox) { out.PushString("error: " + err.Error()) }
	r := drive(h, c)
	if r.err != nil || !r.graceful {
		t.Fatalf("want a graceful close, got %+v", r)
	}
	if !errors.Is(h.Err(), frame.ErrTooLong) {
		t.Fatalf("Err() = %v, want ErrTooLong", h.Err())
	}
	want := "OK?FINE?error: " + h.Err().Error()
	if string(r.out) != want || fmt.Sprint(got) != "[ok? fine?]" {
		t.Fatalf("sent %q after messages %q, want %q after [ok? fine?]", r.out, got, want)
	}
}

// TestMessageFuncErrorClosesAtOnce: an error from the MessageFunc is the
// handler call's error, which closes the connection.
func TestMessageFuncErrorClosesAtOnce(t *testing.T) {
	boom := errors.New("boom")
	c := &fakeConn{chunks: [][]byte{[]byte("a\nb\nc\n")}}
	n := 0
	h := frame.NewHandler(c, frame.Delimited([]byte("\n"), 8), func([]byte, *frame.Outbox) error {
		if n++; n == 2 {
			return boom
		}
		return nil
	})
	if r := drive(h, c); !errors.Is(r.err, boom) || n != 2 {
		t.Fatalf("drive ended with %v after %d messages, want boom after 2", r.err, n)
	}
}

// TestCloseWhenDoneStopsDelivery: a MessageFunc that answers and calls
// CloseWhenDone gets no further message, and its answer is sent.
func TestCloseWhenDoneStopsDelivery(t *testing.T) {
	c := &fakeConn{chunks: [][]byte{[]byte("QUIT\nNOOP\n")}}
	var got []string
	h := frame.NewHandler(c, frame.Delimited([]byte("\n"), 8), func(msg []byte, out *frame.Outbox) error {
		got = append(got, string(msg))
		out.PushString("bye\n")
		return out.CloseWhenDone()
	})
	r := drive(h, c)
	if r.err != nil || !r.graceful || string(r.out) != "bye\n" || len(got) != 1 {
		t.Fatalf("got %q, sent %q, %+v; want one message, bye, a graceful close", got, r.out, r)
	}
}
