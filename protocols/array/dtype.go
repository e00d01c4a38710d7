package array

import (
	"encoding/binary"
	"fmt"
	"strconv"
)

// DType is a numpy dtype descriptor among the supported ones: bool ('|b1'),
// int8 to int64 ('i1', 'i2', 'i4', 'i8'), uint8 to uint64 ('u1' to 'u8'),
// float16, float32 and float64 ('f2', 'f4', 'f8'), complex64 and complex128
// ('c8', 'c16'). Multi-byte types carry a byte order, '<' (little-endian) or
// '>' (big-endian); one-byte types have none, '|'.
//
// Structured, subarray, object, string, unicode, void, datetime, timedelta
// and extended-precision (float128, complex256) dtypes are not supported.
type DType struct {
	// Kind is numpy's kind character: 'b' (bool), 'i' (signed integer),
	// 'u' (unsigned integer), 'f' (float) or 'c' (complex).
	Kind byte
	// Size is the item size in bytes.
	Size int
	// Order is '<' (little-endian), '>' (big-endian) or '|' (not
	// applicable, for one-byte types).
	Order byte
}

// hostOrder is the byte order character of this machine: '<' or '>'.
var hostOrder = func() byte {
	if binary.NativeEndian.Uint16([]byte{1, 0}) == 1 {
		return '<'
	}
	return '>'
}()

// ParseDType parses a numpy descr string such as "<f8", "|u1" or "|b1".
//
// It accepts what numpy.lib.format writes (dtype.str) and, as numpy does,
// any byte order character on a one-byte type (normalized to '|') and '=',
// '|' or no order character on a multi-byte type, which mean the native
// order and become this host's. numpy's other spellings ("float64", "d",
// "?") are rejected. The error, wrapping ErrDType, names the unsupported
// type.
func ParseDType(descr string) (DType, error) {
	return parseDType(descr)
}

// parseDType is ParseDType for a string or a byte slice, so the header
// parser can call it on its input without converting.
func parseDType[S string | []byte](s S) (DType, error) {
	rest := s
	order := byte(0)
	if len(rest) > 0 {
		switch rest[0] {
		case '<', '>', '|', '=':
			order = rest[0]
			rest = rest[1:]
		}
	}
	if len(rest) < 2 {
		return DType{}, dtypeError(string(s))
	}
	kind := rest[0]
	size := 0
	for i := 1; i < len(rest); i++ {
		c := rest[i]
		if c < '0' || c > '9' || size > 1000 {
			return DType{}, dtypeError(string(s))
		}
		size = size*10 + int(c-'0')
	}
	if rest[1] == '0' {
		return DType{}, dtypeError(string(s))
	}
	d := DType{Kind: kind, Size: size}
	if !d.supported() {
		return DType{}, dtypeError(string(s))
	}
	switch {
	case size == 1:
		d.Order = '|'
	case order == '<' || order == '>':
		d.Order = order
	default:
		// numpy reads '=', '|' and a missing order on a multi-byte type
		// as the native order.
		d.Order = hostOrder
	}
	return d, nil
}

// supported reports whether Kind and Size name a supported type, whatever
// the Order.
func (d DType) supported() bool {
	switch d.Kind {
	case 'b':
		return d.Size == 1
	case 'i', 'u':
		return d.Size == 1 || d.Size == 2 || d.Size == 4 || d.Size == 8
	case 'f':
		return d.Size == 2 || d.Size == 4 || d.Size == 8
	case 'c':
		return d.Size == 8 || d.Size == 16
	}
	return false
}

// check returns an error wrapping ErrDType unless d is a supported type with
// a byte order that fits its size.
func (d DType) check() error {
	if !d.supported() {
		return fmt.Errorf("%w: kind %q size %d", ErrDType, d.Kind, d.Size)
	}
	if d.Size > 1 && d.Order != '<' && d.Order != '>' {
		return fmt.Errorf("%w: %c%d needs byte order '<' or '>', not %q", ErrDType, d.Kind, d.Size, d.Order)
	}
	return nil
}

// String returns numpy's descr string for d, e.g. "<f8", "|u1", "|b1". A
// one-byte type is always written with '|', as numpy does. An unsupported
// Kind and Size give a description starting "invalid dtype".
func (d DType) String() string {
	if !d.supported() {
		return fmt.Sprintf("invalid dtype (kind %q, size %d)", d.Kind, d.Size)
	}
	var b [8]byte
	return string(d.appendDescr(b[:0]))
}

// appendDescr appends d's descr string to dst.
func (d DType) appendDescr(dst []byte) []byte {
	order := d.Order
	if d.Size == 1 {
		order = '|'
	}
	if order == 0 {
		order = '?'
	}
	dst = append(dst, order, d.Kind)
	return strconv.AppendInt(dst, int64(d.Size), 10)
}

// dtypeError explains why descr is not supported, naming the numpy type
// when it is a known but unsupported one.
func dtypeError(descr string) error {
	rest := descr
	if rest != "" && (rest[0] == '<' || rest[0] == '>' || rest[0] == '|' || rest[0] == '=') {
		rest = rest[1:]
	}
	what := "not a supported dtype"
	if rest != "" {
		switch rest[0] {
		case 'U':
			what = "unicode strings are not supported"
		case 'S', 'a':
			what = "byte strings are not supported"
		case 'O':
			what = "Python objects are not supported"
		case 'V':
			what = "void (raw bytes) is not supported"
		case 'M':
			what = "datetime64 is not supported"
		case 'm':
			what = "timedelta64 is not supported"
		case 'f':
			if rest == "f10" || rest == "f12" || rest == "f16" {
				what = "extended precision (long double) is not supported"
			}
		case 'c':
			if rest == "c20" || rest == "c24" || rest == "c32" {
				what = "extended precision (complex long double) is not supported"
			}
		}
	}
	return fmt.Errorf("%w: %q: %s", ErrDType, descr, what)
}
