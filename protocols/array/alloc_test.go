package array_test

import (
	"testing"

	"github.com/edgeloop/edgeloop/protocols/array"
)

// TestAppendHeaderNoAlloc checks that AppendHeader does not allocate when
// dst has room, so a sender can reuse one buffer.
func TestAppendHeaderNoAlloc(t *testing.T) {
	tests := []struct {
		name string
		h    array.Header
	}{
		{"0-d", array.Header{Descr: f8}},
		{"2-d", array.Header{Descr: f8, Shape: []int{3, 4}}},
		{"fortran", array.Header{Descr: array.DType{Kind: 'c', Size: 16, Order: '>'}, FortranOrder: true, Shape: []int{1 << 20, 7}}},
		{"32-d", array.Header{Descr: array.DType{Kind: 'b', Size: 1, Order: '|'}, Shape: ones(32)}},
	}
	dst := make([]byte, 0, 1024)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if n := testing.AllocsPerRun(100, func() { dst, err = array.AppendHeader(dst[:0], tc.h) }); n != 0 {
				t.Errorf("AppendHeader allocates %v times per call, want 0", n)
			}
			if err != nil {
				t.Fatal(err)
			}
			if cap(dst) != 1024 {
				t.Errorf("AppendHeader grew dst to cap %d", cap(dst))
			}
		})
	}
}

// TestParseHeaderAllocs checks that ParseHeader allocates only the shape it
// returns (nothing for a 0-d array).
func TestParseHeaderAllocs(t *testing.T) {
	tests := []struct {
		name string
		dict string
		want float64
	}{
		{"0-d", "{'descr': '<f8', 'fortran_order': False, 'shape': (), }        \n", 0},
		{"2-d", "{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }        \n", 1},
		{"32-d", "{'descr': '<f8', 'fortran_order': False, 'shape': (" + repeat("1, ", 32) + "), }\n", 1},
		{"concatenated", "{'descr': '<' 'f8', 'fortran_order': False, 'shape': (3,), }\n", 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dict := []byte(tc.dict)
			var err error
			if n := testing.AllocsPerRun(100, func() { _, err = array.ParseHeader([2]byte{1, 0}, dict, array.Limits{}) }); n > tc.want {
				t.Errorf("ParseHeader allocates %v times per call, want at most %v", n, tc.want)
			}
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

// repeat returns s n times.
func repeat(s string, n int) string {
	out := ""
	for range n {
		out += s
	}
	return out
}

// TestViewNoAlloc checks that the views and BytesOf do not allocate.
func TestViewNoAlloc(t *testing.T) {
	f := []float64{1, 2, 3}
	c := []complex128{1, 2i}
	b := []bool{true, false}
	hf, hc, hb := header1d[float64](3), header1d[complex128](2), header1d[bool](2)
	tests := []struct {
		name string
		f    func() error
	}{
		{"Float64s", func() error { _, err := array.Float64s(array.BytesOf(f), hf); return err }},
		{"Complex128s", func() error { _, err := array.Complex128s(array.BytesOf(c), hc); return err }},
		{"Bools", func() error { _, err := array.Bools(array.BytesOf(b), hb); return err }},
		{"DTypeOf", func() error { _ = array.DTypeOf[complex64](); return nil }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if n := testing.AllocsPerRun(100, func() { err = tc.f() }); n != 0 {
				t.Errorf("%s allocates %v times per call, want 0", tc.name, n)
			}
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}
