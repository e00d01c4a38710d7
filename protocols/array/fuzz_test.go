package array_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/edgeloop/edgeloop/protocols/array"
)

// FuzzParseHeader feeds arbitrary bytes, read as preamble and dict, through
// PreambleLen, HeaderLen and ParseHeader. None may panic; every error must be
// one line; and any accepted header must re-encode with AppendHeader and
// re-parse to the same header, with data within the limit.
func FuzzParseHeader(f *testing.F) {
	for _, h := range []array.Header{
		{Descr: f8, Shape: []int{3, 4}},
		{Descr: array.DType{Kind: 'b', Size: 1, Order: '|'}},
		{Descr: array.DType{Kind: 'c', Size: 16, Order: '>'}, FortranOrder: true, Shape: []int{2, 0, 5}},
	} {
		b, err := array.AppendHeader(nil, h)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	lim := array.Limits{MaxHeader: 4096, MaxData: 1 << 40, MaxDims: 64}
	f.Fuzz(func(t *testing.T, in []byte) {
		h, _, err := readHeader(in, lim)
		if err != nil {
			if msg := err.Error(); msg == "" || strings.ContainsAny(msg, "\n\r") {
				t.Fatalf("error %q is not one line", msg)
			}
			return
		}
		size, err := h.DataSize()
		if err != nil || size > lim.MaxData || len(h.Shape) > lim.MaxDims {
			t.Fatalf("accepted %+v with data size %d, %v", h, size, err)
		}
		out, err := array.AppendHeader(nil, h)
		if err != nil {
			t.Fatalf("AppendHeader(%+v): %v", h, err)
		}
		if len(out)%64 != 0 || out[len(out)-1] != '\n' {
			t.Fatalf("AppendHeader(%+v) = %q: not a multiple of 64 ending in '\\n'", h, out)
		}
		back, rest, err := readHeader(out, array.Limits{MaxHeader: 1 << 20, MaxData: lim.MaxData, MaxDims: lim.MaxDims})
		if err != nil || len(rest) != 0 {
			t.Fatalf("re-parse of %q: %v, %d bytes left", out, err, len(rest))
		}
		want := h
		want.Version = [2]byte{out[6], out[7]}
		if !reflect.DeepEqual(back, want) {
			t.Fatalf("re-parsed %+v, want %+v", back, want)
		}
	})
}
