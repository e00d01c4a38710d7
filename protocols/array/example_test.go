package array_test

import (
	"fmt"

	"github.com/edgeloop/edgeloop/protocols/array"
)

// Example reads an NPY stream the way a network reader does, in three
// steps, views its data without copying, and writes the header back.
func Example() {
	// What numpy.lib.format.write_array writes for np.arange(3.0).
	stream := append([]byte("\x93NUMPY\x01\x00v\x00{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }"+
		"                                                            \n"),
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 0, 0, 0, 0, 0, 0, 0, 0x40)

	n, err := array.PreambleLen(stream[:8]) // how much preamble to read
	if err != nil {
		fmt.Println(err)
		return
	}
	hl, err := array.HeaderLen(stream[:n], array.Limits{}) // how much dict to read
	if err != nil {
		fmt.Println(err)
		return
	}
	h, err := array.ParseHeader([2]byte{stream[6], stream[7]}, stream[n:n+hl], array.Limits{})
	if err != nil {
		fmt.Println(err)
		return
	}
	size, _ := h.DataSize() // how much data to read
	fmt.Println(h.Descr, h.Shape, size, "bytes")

	// The data follows the header at a multiple of 64 bytes. A view needs
	// aligned data in the host's byte order; copy it to an aligned buffer
	// here, as a receiver reading into its own allocation would have it.
	buf := make([]float64, 3)
	copy(array.BytesOf(buf), stream[n+hl:])
	xs, err := array.Float64s(array.BytesOf(buf), h)
	fmt.Println(xs, err)

	out, _ := array.AppendHeader(nil, h)
	fmt.Println(string(out) == string(stream[:n+hl]))
	// Output:
	// <f8 [3] 24 bytes
	// [0 1 2] <nil>
	// true
}

// ExampleParseHeader shows an error: each is one line saying what is wrong.
func ExampleParseHeader() {
	_, err := array.ParseHeader([2]byte{1, 0}, []byte("{'descr': [('x', '<i4')], 'fortran_order': False, 'shape': (3,), }"), array.Limits{})
	fmt.Println(err)
	_, err = array.ParseHeader([2]byte{1, 0}, []byte("{'descr': '<f8', 'fortran_order': False, 'shape': (3, -1), }"), array.Limits{})
	fmt.Println(err)
	// Output:
	// array: unsupported dtype: descr is a list: structured dtypes are not supported
	// array: malformed npy header: negative dimension -1 in shape
}

// ExampleAppendHeader sends a Go slice as an NPY array without copying it.
func ExampleAppendHeader() {
	xs := []int32{1, 2, 3, 4, 5, 6}
	h := array.Header{Descr: array.DTypeOf[int32](), Shape: []int{2, 3}}
	buf, err := array.AppendHeader(make([]byte, 0, 128), h)
	if err != nil {
		fmt.Println(err)
		return
	}
	data := array.BytesOf(xs) // aliases xs
	fmt.Printf("%d-byte header, %d bytes of data\n", len(buf), len(data))
	// Output: 128-byte header, 24 bytes of data
}
