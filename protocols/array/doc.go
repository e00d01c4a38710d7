// Package array is a service that round-trips numpy arrays in the NPY
// format (numpy's .npy, versions 1.0, 2.0 and 3.0), with the codec for that
// format.
//
// An NPY stream is a header, then the raw array data. The header is the
// magic "\x93NUMPY", a version, the length of a Python literal dict such as
// {'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), } and that dict,
// padded so the whole header is a multiple of 64 bytes. The service (see
// Service) reads a header, receives the data in place into one allocation of
// exactly its size, and sends the array back from that memory without
// copying it. The codec is pure: PreambleLen, HeaderLen and ParseHeader read
// a header in the three steps a network reader needs (how much to read next,
// at each step), bounded by Limits; AppendHeader writes one byte for byte as
// numpy.lib.format.write_array does; typed views (Float64s, Int32s, ...)
// read the data as Go slices and BytesOf sends Go slices, all without
// copying, when the data is in the host's byte order and aligned. Only the
// numeric dtypes and bool are supported (see DType).
//
// Usage:
//
//	var pre [12]byte // read 8 bytes into pre[:8]
//	n, err := array.PreambleLen(pre[:8])
//	// read pre[8:n]
//	hl, err := array.HeaderLen(pre[:n], array.Limits{})
//	// read hl bytes into dict
//	h, err := array.ParseHeader([2]byte{pre[6], pre[7]}, dict, array.Limits{})
//	size, err := h.DataSize()
//	// read size bytes into data
//	xs, err := array.Float64s(data, h)
//
//	// Sending:
//	buf, err = array.AppendHeader(buf[:0], array.Header{Descr: array.DTypeOf[float64](), Shape: []int{len(xs)}})
//	// write buf, then array.BytesOf(xs)
package array
