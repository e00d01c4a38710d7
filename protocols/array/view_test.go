package array_test

import (
	"errors"
	"reflect"
	"testing"
	"unsafe"

	"github.com/edgeloop/edgeloop/protocols/array"
)

// header1d returns the header of a 1-d array of n elements of T.
func header1d[T array.Element](n int) array.Header {
	return array.Header{Version: [2]byte{1, 0}, Descr: array.DTypeOf[T](), Shape: []int{n}}
}

// roundTrip checks that view(BytesOf(s)) is s itself: same elements, same
// memory.
func roundTrip[T array.Element](t *testing.T, s []T, view func([]byte, array.Header) ([]T, error)) {
	t.Helper()
	b := array.BytesOf(s)
	if want := len(s) * int(unsafe.Sizeof(s[0])); len(b) != want {
		t.Fatalf("BytesOf: %d bytes, want %d", len(b), want)
	}
	if unsafe.Pointer(&b[0]) != unsafe.Pointer(&s[0]) {
		t.Fatal("BytesOf copied")
	}
	got, err := view(b, header1d[T](len(s)))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, s) {
		t.Errorf("view = %v, want %v", got, s)
	}
	if &got[0] != &s[0] || cap(got) < len(s) {
		t.Errorf("view copied: %p, want %p", &got[0], &s[0])
	}
}

func TestViewRoundTrip(t *testing.T) {
	t.Run("float64", func(t *testing.T) { roundTrip(t, []float64{1.5, -2, 3e300}, array.Float64s) })
	t.Run("float32", func(t *testing.T) { roundTrip(t, []float32{1.5, -2, 3e30}, array.Float32s) })
	t.Run("int64", func(t *testing.T) { roundTrip(t, []int64{-1, 1 << 62}, array.Int64s) })
	t.Run("int32", func(t *testing.T) { roundTrip(t, []int32{-1, 1 << 30}, array.Int32s) })
	t.Run("int16", func(t *testing.T) { roundTrip(t, []int16{-1, 1 << 14}, array.Int16s) })
	t.Run("int8", func(t *testing.T) { roundTrip(t, []int8{-1, 100}, array.Int8s) })
	t.Run("uint64", func(t *testing.T) { roundTrip(t, []uint64{1, 1 << 63}, array.Uint64s) })
	t.Run("uint32", func(t *testing.T) { roundTrip(t, []uint32{1, 1 << 31}, array.Uint32s) })
	t.Run("uint16", func(t *testing.T) { roundTrip(t, []uint16{1, 1 << 15}, array.Uint16s) })
	t.Run("uint8", func(t *testing.T) { roundTrip(t, []uint8{1, 255}, array.Uint8s) })
	t.Run("complex64", func(t *testing.T) { roundTrip(t, []complex64{1 + 2i, -3i}, array.Complex64s) })
	t.Run("complex128", func(t *testing.T) { roundTrip(t, []complex128{1 + 2i, -3i}, array.Complex128s) })
	t.Run("bool", func(t *testing.T) { roundTrip(t, []bool{true, false, true}, array.Bools) })
}

// TestViewIsShared checks that a write through the view shows in the bytes,
// so nothing was copied.
func TestViewIsShared(t *testing.T) {
	b := make([]byte, 16)
	s, err := array.Float64s(b, header1d[float64](2))
	if err != nil {
		t.Fatal(err)
	}
	s[1] = 1
	if back := array.BytesOf(s); &back[0] != &b[0] || b[8] == 0 && b[15] == 0 {
		t.Errorf("write through the view did not reach the bytes: %x", b)
	}
}

func TestFloat16Bits(t *testing.T) {
	h := array.Header{Descr: array.DType{Kind: 'f', Size: 2, Order: host}, Shape: []int{2}}
	s := []uint16{0x3c00, 0xc000} // 1.0, -2.0
	got, err := array.Float16Bits(array.BytesOf(s), h)
	if err != nil || !reflect.DeepEqual(got, s) || &got[0] != &s[0] {
		t.Errorf("Float16Bits = %v, %v; want %v, shared", got, err, s)
	}
	if _, err := array.Float16Bits(array.BytesOf(s), header1d[uint16](2)); !errors.Is(err, array.ErrView) {
		t.Errorf("Float16Bits of a u2 array: %v, want ErrView", err)
	}
}

func TestViewMisaligned(t *testing.T) {
	backing := make([]float64, 5) // 8-byte aligned
	b := array.BytesOf(backing)
	tests := []struct {
		name string
		f    func() error
		says string
	}{
		{"float64 +1", func() error { _, err := array.Float64s(b[1:33], header1d[float64](4)); return err }, "aligned to 8"},
		{"float64 +4", func() error { _, err := array.Float64s(b[4:36], header1d[float64](4)); return err }, "aligned to 8"},
		{"int32 +2", func() error { _, err := array.Int32s(b[2:34], header1d[int32](8)); return err }, "aligned to 4"},
		{"uint16 +1", func() error { _, err := array.Uint16s(b[1:33], header1d[uint16](16)); return err }, "aligned to 2"},
		{"complex128 +4", func() error { _, err := array.Complex128s(b[4:36], header1d[complex128](2)); return err }, "aligned to 8"},
		{"complex64 +2", func() error { _, err := array.Complex64s(b[2:34], header1d[complex64](4)); return err }, "aligned to 4"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { checkErr(t, tc.f(), array.ErrView, tc.says) })
	}
	// One-byte types never need alignment.
	if _, err := array.Int8s(b[1:33], header1d[int8](32)); err != nil {
		t.Errorf("Int8s at an odd address: %v", err)
	}
	if _, err := array.Float64s(b[8:40], header1d[float64](4)); err != nil {
		t.Errorf("Float64s at an aligned offset: %v", err)
	}
}

func TestViewWrongOrder(t *testing.T) {
	b := make([]byte, 32)
	swapped := func(d array.DType, n int) array.Header {
		d.Order = other
		return array.Header{Descr: d, Shape: []int{n}}
	}
	f8 := swapped(array.DTypeOf[float64](), 4)
	i4 := swapped(array.DTypeOf[int32](), 8)
	c16 := swapped(array.DTypeOf[complex128](), 2)
	checkErr(t, second(array.Float64s(b, f8)), array.ErrView, "byte order", f8.Descr.String())
	checkErr(t, second(array.Int32s(b, i4)), array.ErrView, "byte order", i4.Descr.String())
	checkErr(t, second(array.Complex128s(b, c16)), array.ErrView, "byte order", c16.Descr.String())
}

func TestViewWrongDType(t *testing.T) {
	b := make([]byte, 32)
	tests := []struct {
		name string
		err  error
		says string
	}{
		{"f4 as f8", second(array.Float64s(b, header1d[float32](8))), "f4 is not"},
		{"i8 as u8", second(array.Uint64s(b, header1d[int64](4))), "i8 is not"},
		{"f8 as i8", second(array.Int64s(b, header1d[float64](4))), "f8 is not"},
		{"u1 as b1", second(array.Bools(b, header1d[uint8](32))), "|u1 is not |b1"},
		{"c8 as f8", second(array.Float64s(b, header1d[complex64](4))), "c8 is not"},
		{"u2 as f2", second(array.Float16Bits(b, header1d[uint16](16))), "u2 is not"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { checkErr(t, tc.err, array.ErrView, tc.says) })
	}
}

// second returns the error of a view call.
func second[T any](_ T, err error) error { return err }

func TestViewLength(t *testing.T) {
	b := make([]byte, 32)
	checkErr(t, second(array.Float64s(b[:24], header1d[float64](4))), array.ErrView, "24 bytes of data, the header says 32")
	checkErr(t, second(array.Float64s(b, header1d[float64](3))), array.ErrView, "32 bytes of data, the header says 24")
	h := header1d[float64](4)
	h.Shape = []int{-4}
	checkErr(t, second(array.Float64s(b, h)), array.ErrHeader, "negative")
}

func TestViewEmpty(t *testing.T) {
	for _, h := range []array.Header{header1d[float64](0), {Descr: array.DTypeOf[float64](), Shape: []int{3, 0}}} {
		s, err := array.Float64s(nil, h)
		if err != nil || len(s) != 0 {
			t.Errorf("Float64s(nil, %v) = %v, %v; want empty", h.Shape, s, err)
		}
		if _, err := array.Float64s(make([]byte, 8), h); !errors.Is(err, array.ErrView) {
			t.Errorf("Float64s(8 bytes, %v): %v, want ErrView", h.Shape, err)
		}
	}
	zeroD := array.Header{Descr: array.DTypeOf[float64]()}
	s, err := array.Float64s(array.BytesOf([]float64{2.5}), zeroD)
	if err != nil || len(s) != 1 || s[0] != 2.5 {
		t.Errorf("0-d view = %v, %v; want [2.5]", s, err)
	}
}

func TestBoolsRejectsOtherBytes(t *testing.T) {
	b := []byte{0, 1, 2, 1}
	_, err := array.Bools(b, header1d[bool](4))
	checkErr(t, err, array.ErrView, "index 2 is 0x02")
	b[2] = 0xff
	_, err = array.Bools(b, header1d[bool](4))
	checkErr(t, err, array.ErrView, "0xff")
}

func TestBytesOfEmpty(t *testing.T) {
	if b := array.BytesOf([]float64(nil)); len(b) != 0 {
		t.Errorf("BytesOf(nil) = %v, want empty", b)
	}
	if b := array.BytesOf(make([]int32, 0, 4)); len(b) != 0 {
		t.Errorf("BytesOf(empty) = %v, want empty", b)
	}
}
