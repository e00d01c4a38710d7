package array

import (
	"errors"
	"fmt"
	"unsafe"
)

// ErrView is returned when array data cannot be viewed as a Go slice without
// copying: the dtype is not the one asked for, its byte order is not the
// host's, the data is misaligned for the element type or not as long as the
// header says, or a bool is neither 0 nor 1.
var ErrView = errors.New("array: cannot view data")

// Element is the set of Go types that have a numpy dtype: bool, the sized
// integers, float32, float64, complex64 and complex128. Go's int and uint
// are left out because their size depends on the platform.
type Element interface {
	bool | int8 | int16 | int32 | int64 | uint8 | uint16 | uint32 | uint64 |
		float32 | float64 | complex64 | complex128
}

// DTypeOf returns the dtype of T in the host's byte order, for instance
// "<f8" for float64 on amd64 and arm64.
func DTypeOf[T Element]() DType {
	var d DType
	switch any(*new(T)).(type) {
	case bool:
		d.Kind = 'b'
	case int8, int16, int32, int64:
		d.Kind = 'i'
	case uint8, uint16, uint32, uint64:
		d.Kind = 'u'
	case float32, float64:
		d.Kind = 'f'
	case complex64, complex128:
		d.Kind = 'c'
	}
	d.Size = int(unsafe.Sizeof(*new(T)))
	d.Order = hostOrder
	if d.Size == 1 {
		d.Order = '|'
	}
	return d
}

// BytesOf returns the memory of s as bytes, without copying, to send as NPY
// data after a header from AppendHeader with Descr DTypeOf[T](). The result
// aliases s.
func BytesOf[T Element](s []T) []byte {
	// Sound: any T's memory may be read as bytes, and the length covers
	// exactly the len(s) elements.
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), len(s)*int(unsafe.Sizeof(*new(T))))
}

// view returns b as a []T after checking that h describes T in the host's
// byte order, that b holds exactly h's data and that it is aligned for T.
// An empty array gives a nil slice.
func view[T Element](b []byte, h Header) ([]T, error) {
	return viewAs[T](b, h, DTypeOf[T]())
}

// viewAs is view for data of dtype want, which has T's size.
func viewAs[T Element](b []byte, h Header, want DType) ([]T, error) {
	d := h.Descr
	if d.Kind != want.Kind || d.Size != want.Size {
		return nil, fmt.Errorf("%w: dtype %v is not %v", ErrView, d, want)
	}
	if d.Size > 1 && d.Order != hostOrder {
		return nil, fmt.Errorf("%w: dtype %v is not in the host's byte order (%v)", ErrView, d, want)
	}
	size, err := h.DataSize()
	if err != nil {
		return nil, err
	}
	if int64(len(b)) != size {
		return nil, fmt.Errorf("%w: %d bytes of data, the header says %d", ErrView, len(b), size)
	}
	if size == 0 {
		return nil, nil
	}
	p := unsafe.Pointer(unsafe.SliceData(b))
	if a := unsafe.Alignof(*new(T)); uintptr(p)%a != 0 {
		return nil, fmt.Errorf("%w: data at %p is not aligned to %d bytes for %v", ErrView, p, a, d)
	}
	// Sound: p is aligned for T, b covers exactly len(b)/Size elements of
	// T, the byte order matches, and every bit pattern of these types is a
	// valid value except for bool, which Bools checks.
	return unsafe.Slice((*T)(p), len(b)/d.Size), nil
}

// Bools returns the data of a '|b1' array as a []bool aliasing b. It reads
// b once to check that every byte is 0 or 1, the only bools Go allows.
func Bools(b []byte, h Header) ([]bool, error) {
	s, err := view[bool](b, h)
	if err != nil {
		return nil, err
	}
	for i, c := range b {
		if c > 1 {
			return nil, fmt.Errorf("%w: bool at index %d is 0x%02x, not 0 or 1", ErrView, i, c)
		}
	}
	return s, nil
}

// Int8s returns the data of an '|i1' array as an []int8 aliasing b.
func Int8s(b []byte, h Header) ([]int8, error) { return view[int8](b, h) }

// Int16s returns the data of an 'i2' array in the host's byte order as an
// []int16 aliasing b; b must be 2-byte aligned.
func Int16s(b []byte, h Header) ([]int16, error) { return view[int16](b, h) }

// Int32s returns the data of an 'i4' array in the host's byte order as an
// []int32 aliasing b; b must be 4-byte aligned.
func Int32s(b []byte, h Header) ([]int32, error) { return view[int32](b, h) }

// Int64s returns the data of an 'i8' array in the host's byte order as an
// []int64 aliasing b; b must be 8-byte aligned.
func Int64s(b []byte, h Header) ([]int64, error) { return view[int64](b, h) }

// Uint8s returns the data of a '|u1' array, which is b itself.
func Uint8s(b []byte, h Header) ([]uint8, error) { return view[uint8](b, h) }

// Uint16s returns the data of a 'u2' array in the host's byte order as a
// []uint16 aliasing b; b must be 2-byte aligned.
func Uint16s(b []byte, h Header) ([]uint16, error) { return view[uint16](b, h) }

// Uint32s returns the data of a 'u4' array in the host's byte order as a
// []uint32 aliasing b; b must be 4-byte aligned.
func Uint32s(b []byte, h Header) ([]uint32, error) { return view[uint32](b, h) }

// Uint64s returns the data of a 'u8' array in the host's byte order as a
// []uint64 aliasing b; b must be 8-byte aligned.
func Uint64s(b []byte, h Header) ([]uint64, error) { return view[uint64](b, h) }

// Float16Bits returns the data of an 'f2' array in the host's byte order as
// a []uint16 of IEEE 754 half-precision bit patterns aliasing b; b must be
// 2-byte aligned. Go has no float16 type.
func Float16Bits(b []byte, h Header) ([]uint16, error) {
	return viewAs[uint16](b, h, DType{Kind: 'f', Size: 2, Order: hostOrder})
}

// Float32s returns the data of an 'f4' array in the host's byte order as a
// []float32 aliasing b; b must be 4-byte aligned.
func Float32s(b []byte, h Header) ([]float32, error) { return view[float32](b, h) }

// Float64s returns the data of an 'f8' array in the host's byte order as a
// []float64 aliasing b; b must be 8-byte aligned.
func Float64s(b []byte, h Header) ([]float64, error) { return view[float64](b, h) }

// Complex64s returns the data of a 'c8' array in the host's byte order as a
// []complex64 aliasing b; b must be 4-byte aligned. numpy and Go both store
// a complex number as its real part, then its imaginary part.
func Complex64s(b []byte, h Header) ([]complex64, error) { return view[complex64](b, h) }

// Complex128s returns the data of a 'c16' array in the host's byte order as
// a []complex128 aliasing b; b must be 8-byte aligned.
func Complex128s(b []byte, h Header) ([]complex128, error) { return view[complex128](b, h) }
