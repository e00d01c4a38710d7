package array_test

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/edgeloop/edgeloop/protocols/array"
)

// host is this machine's byte order character, computed independently of
// the package.
var host = func() byte {
	if binary.NativeEndian.Uint16([]byte{1, 0}) == 1 {
		return '<'
	}
	return '>'
}()

// other is the byte order that is not the host's.
var other = map[byte]byte{'<': '>', '>': '<'}[host]

// checkErr fails t unless err wraps want and is one non-empty line that
// contains every one of subs.
func checkErr(t *testing.T, err, want error, subs ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %v", want)
	}
	if !errors.Is(err, want) {
		t.Errorf("error %q does not wrap %q", err, want)
	}
	msg := err.Error()
	if strings.ContainsAny(msg, "\n\r") {
		t.Errorf("error %q is more than one line", msg)
	}
	for _, s := range subs {
		if !strings.Contains(msg, s) {
			t.Errorf("error %q does not say %q", msg, s)
		}
	}
}

func TestParseDType(t *testing.T) {
	type tc struct {
		descr string
		want  array.DType
	}
	var tests []tc
	for _, kind := range []struct {
		kind  byte
		sizes []int
	}{
		{'i', []int{2, 4, 8}},
		{'u', []int{2, 4, 8}},
		{'f', []int{2, 4, 8}},
		{'c', []int{8, 16}},
	} {
		for _, size := range kind.sizes {
			for _, order := range []byte{'<', '>'} {
				d := array.DType{Kind: kind.kind, Size: size, Order: order}
				tests = append(tests, tc{d.String(), d})
			}
		}
	}
	tests = append(tests,
		tc{"|b1", array.DType{Kind: 'b', Size: 1, Order: '|'}},
		tc{"|i1", array.DType{Kind: 'i', Size: 1, Order: '|'}},
		tc{"|u1", array.DType{Kind: 'u', Size: 1, Order: '|'}},
	)
	if len(tests) != 25 {
		t.Fatalf("%d cases, want 25 (22 multi-byte, 3 one-byte)", len(tests))
	}
	for _, tc := range tests {
		t.Run(tc.descr, func(t *testing.T) {
			got, err := array.ParseDType(tc.descr)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("ParseDType(%q) = %+v, want %+v", tc.descr, got, tc.want)
			}
			if s := got.String(); s != tc.descr {
				t.Errorf("String() = %q, want %q", s, tc.descr)
			}
		})
	}
}

// TestParseDTypeNumpyOrders checks the byte orders numpy reads but never
// writes: any order on a one-byte type, and '=', '|' or none (native) on a
// multi-byte one.
func TestParseDTypeNumpyOrders(t *testing.T) {
	tests := []struct {
		descr string
		want  array.DType
	}{
		{"<b1", array.DType{Kind: 'b', Size: 1, Order: '|'}},
		{">i1", array.DType{Kind: 'i', Size: 1, Order: '|'}},
		{"=u1", array.DType{Kind: 'u', Size: 1, Order: '|'}},
		{"u1", array.DType{Kind: 'u', Size: 1, Order: '|'}},
		{"b1", array.DType{Kind: 'b', Size: 1, Order: '|'}},
		{"=f8", array.DType{Kind: 'f', Size: 8, Order: host}},
		{"|f8", array.DType{Kind: 'f', Size: 8, Order: host}},
		{"c16", array.DType{Kind: 'c', Size: 16, Order: host}},
		{"i2", array.DType{Kind: 'i', Size: 2, Order: host}},
	}
	for _, tc := range tests {
		t.Run(tc.descr, func(t *testing.T) {
			got, err := array.ParseDType(tc.descr)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("ParseDType(%q) = %+v, want %+v", tc.descr, got, tc.want)
			}
		})
	}
}

func TestParseDTypeRejects(t *testing.T) {
	tests := []struct {
		descr string
		says  string
	}{
		{"", "not a supported dtype"},
		{"<", "not a supported dtype"},
		{"f", "not a supported dtype"},
		{"<f", "not a supported dtype"},
		{"<f3", "not a supported dtype"},
		{"<f1", "not a supported dtype"},
		{"<i16", "not a supported dtype"},
		{"<u3", "not a supported dtype"},
		{"|b2", "not a supported dtype"},
		{"<c4", "not a supported dtype"},
		{"<f08", "not a supported dtype"},
		{"<f8 ", "not a supported dtype"},
		{"<f+8", "not a supported dtype"},
		{"<f99999999999999999999999", "not a supported dtype"},
		{"float64", "not a supported dtype"},
		{"d", "not a supported dtype"},
		{"?", "not a supported dtype"},
		{"<x8", "not a supported dtype"},
		{"<U8", "unicode strings"},
		{"|S5", "byte strings"},
		{"|a5", "byte strings"},
		{"|O", "Python objects"},
		{"|O8", "Python objects"},
		{"|V16", "void"},
		{"<M8[ns]", "datetime64"},
		{"<m8[s]", "timedelta64"},
		{"<f16", "extended precision"},
		{"<f12", "extended precision"},
		{"<c32", "extended precision"},
	}
	for _, tc := range tests {
		t.Run(tc.descr, func(t *testing.T) {
			d, err := array.ParseDType(tc.descr)
			if err == nil {
				t.Fatalf("ParseDType(%q) = %+v, want an error", tc.descr, d)
			}
			checkErr(t, err, array.ErrDType, tc.says)
		})
	}
}

func TestDTypeStringOneByteIsPipe(t *testing.T) {
	for _, d := range []array.DType{
		{Kind: 'i', Size: 1, Order: '<'},
		{Kind: 'i', Size: 1, Order: '>'},
		{Kind: 'i', Size: 1},
	} {
		if s := d.String(); s != "|i1" {
			t.Errorf("%+v.String() = %q, want \"|i1\"", d, s)
		}
	}
}

func TestDTypeStringInvalid(t *testing.T) {
	for _, d := range []array.DType{{}, {Kind: 'f', Size: 3, Order: '<'}, {Kind: 'U', Size: 8, Order: '<'}} {
		if s := d.String(); !strings.HasPrefix(s, "invalid dtype") {
			t.Errorf("%+v.String() = %q, want it to start \"invalid dtype\"", d, s)
		}
	}
}

func TestDTypeOf(t *testing.T) {
	tests := []struct {
		got  array.DType
		want string
	}{
		{array.DTypeOf[bool](), "|b1"},
		{array.DTypeOf[int8](), "|i1"},
		{array.DTypeOf[int16](), string(host) + "i2"},
		{array.DTypeOf[int32](), string(host) + "i4"},
		{array.DTypeOf[int64](), string(host) + "i8"},
		{array.DTypeOf[uint8](), "|u1"},
		{array.DTypeOf[uint16](), string(host) + "u2"},
		{array.DTypeOf[uint32](), string(host) + "u4"},
		{array.DTypeOf[uint64](), string(host) + "u8"},
		{array.DTypeOf[float32](), string(host) + "f4"},
		{array.DTypeOf[float64](), string(host) + "f8"},
		{array.DTypeOf[complex64](), string(host) + "c8"},
		{array.DTypeOf[complex128](), string(host) + "c16"},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			if s := tc.got.String(); s != tc.want {
				t.Errorf("DTypeOf = %q, want %q", s, tc.want)
			}
			back, err := array.ParseDType(tc.want)
			if err != nil || back != tc.got {
				t.Errorf("ParseDType(%q) = %+v, %v; want %+v", tc.want, back, err, tc.got)
			}
		})
	}
}
