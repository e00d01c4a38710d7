package frame_test

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/edgeloop/edgeloop/protocols/frame"
)

// TestSplitWithScanner: a client reads a framing with bufio.Scanner, given
// a buffer of MaxFrame bytes, and gets what the server's Handler gets.
func TestSplitWithScanner(t *testing.T) {
	for _, tc := range framingCases() {
		t.Run(tc.name, func(t *testing.T) {
			sc := bufio.NewScanner(strings.NewReader(tc.stream))
			sc.Buffer(make([]byte, 0, 16), tc.framing.MaxFrame()+1)
			sc.Split(tc.framing.Split)
			var got []string
			for sc.Scan() {
				got = append(got, sc.Text())
			}
			if !equal(got, tc.want) {
				t.Fatalf("scanned %q, want %q", got, tc.want)
			}
			if !errors.Is(sc.Err(), tc.err) || (tc.err == nil) != (sc.Err() == nil) {
				t.Fatalf("Err() = %v, want %v", sc.Err(), tc.err)
			}
		})
	}
}

// TestBadFramings: a framing made with a size it cannot use fails on the
// first input with ErrBadFraming, and the connection closes gracefully.
func TestBadFramings(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    frame.Framing
	}{
		{"zero", frame.Framing{}},
		{"fixed/0", frame.Fixed(0)},
		{"length/3", frame.Length(3, 10)},
		{"delimited/empty", frame.Delimited(nil, 10)},
		{"delimited/longer-than-max", frame.Delimited([]byte("abc"), 2)},
		{"custom/nil", frame.Custom(nil, 10)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msgs, r, h := serve(tc.f, [][]byte{[]byte("input")}, 0, nil)
			if len(msgs) != 0 || !r.graceful || r.err != nil || !errors.Is(h.Err(), frame.ErrBadFraming) {
				t.Fatalf("messages %q, %+v, Err %v: want none, a graceful close and ErrBadFraming", msgs, r, h.Err())
			}
		})
	}
}

// TestAppendLength: headers in each size and order, and the lengths a
// header cannot carry or the framing refuses.
func TestAppendLength(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    frame.Framing
		n    int
		want string
		err  error
	}{
		{"1", frame.Length(1, 1000), 200, "\xc8", nil},
		{"2", frame.Length(2, 1000), 258, "\x01\x02", nil},
		{"4", frame.Length(4, 1000), 258, "\x00\x00\x01\x02", nil},
		{"8", frame.Length(8, 1000), 258, "\x00\x00\x00\x00\x00\x00\x01\x02", nil},
		{"4/little", frame.Length(4, 1000).Order(binary.LittleEndian), 258, "\x02\x01\x00\x00", nil},
		{"1/little", frame.Length(1, 1000).Order(binary.LittleEndian), 200, "\xc8", nil},
		{"2/little", frame.Length(2, 1000).Order(binary.LittleEndian), 258, "\x02\x01", nil},
		{"8/little", frame.Length(8, 1000).Order(binary.LittleEndian), 258, "\x02\x01\x00\x00\x00\x00\x00\x00", nil},
		{"2/other-order", frame.Length(2, 1000).Order(otherOrder{binary.BigEndian}), 258, "\x01\x02", nil},
		{"8/other-order", frame.Length(8, 1000).Order(otherOrder{binary.LittleEndian}), 258, "\x02\x01\x00\x00\x00\x00\x00\x00", nil},
		{"1/over-header", frame.Length(1, 1000), 256, "", frame.ErrTooLong},
		{"2/over-max", frame.Length(2, 100), 101, "", frame.ErrTooLong},
		{"negative", frame.Length(2, 100), -1, "", frame.ErrTooLong},
		{"no-header", frame.Fixed(4), 4, "", frame.ErrBadFraming},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.f.AppendLength(nil, tc.n)
			if string(got) != tc.want || !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
				t.Fatalf("AppendLength(%d) = %q, %v; want %q, %v", tc.n, got, err, tc.want, tc.err)
			}
		})
	}
}

// otherOrder is a byte order that is neither binary.BigEndian nor
// binary.LittleEndian as an interface value, though it encodes as one.
type otherOrder struct{ binary.ByteOrder }

// TestAppendLengthAllocatesNothing: a header appended to a buffer with
// room costs no allocation in either standard byte order: AppendLength
// writes one per reply.
func TestAppendLengthAllocatesNothing(t *testing.T) {
	for _, order := range []binary.ByteOrder{binary.BigEndian, binary.LittleEndian} {
		for _, size := range []int{1, 2, 4, 8} {
			f := frame.Length(size, 100).Order(order)
			t.Run(fmt.Sprintf("%d/%v", size, order), func(t *testing.T) {
				var buf [8]byte
				allocs := testing.AllocsPerRun(100, func() {
					if _, err := f.AppendLength(buf[:0], 42); err != nil {
						t.Fatal(err)
					}
				})
				if allocs != 0 {
					t.Fatalf("AppendLength allocated %.0f times per header", allocs)
				}
			})
		}
	}
}
