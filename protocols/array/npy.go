package array

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"
)

// Errors returned by the codec, each wrapped with a one-line detail saying
// what is wrong; test with errors.Is.
var (
	// ErrNotNPY is returned for input that does not start with the NPY magic
	// "\x93NUMPY".
	ErrNotNPY = errors.New("array: not an npy stream (bad magic)")
	// ErrVersion is returned for an NPY format version other than 1.0, 2.0
	// and 3.0.
	ErrVersion = errors.New("array: unsupported npy version")
	// ErrHeader is returned for a header dict that is not a Python literal
	// dict with exactly the keys 'descr', 'fortran_order' and 'shape' and
	// values of the right types, or a shape with a negative dimension.
	ErrHeader = errors.New("array: malformed npy header")
	// ErrDType is returned for a dtype this package does not support, such
	// as a structured, string or object dtype.
	ErrDType = errors.New("array: unsupported dtype")
	// ErrLimit is returned when a header goes past a bound of Limits, or its
	// shape's element or byte count overflows int64.
	ErrLimit = errors.New("array: npy limit exceeded")
)

// MagicLen is the length of the NPY magic string "\x93NUMPY" that starts
// every header.
const MagicLen = 6

// magic is the NPY magic string.
const magic = "\x93NUMPY"

// Defaults for the zero fields of Limits.
const (
	// DefaultMaxHeader is numpy's own limit on the header dict, in bytes
	// (numpy.lib.format's _MAX_HEADER_SIZE, counted there in characters).
	// Headers of the supported dtypes stay under 1 KiB even with 32
	// dimensions.
	DefaultMaxHeader = 10000
	// DefaultMaxData is 1 GiB.
	DefaultMaxData = 1 << 30
	// DefaultMaxDims is numpy 1.x's NPY_MAXDIMS.
	DefaultMaxDims = 32
)

// align is the multiple of bytes that numpy pads a whole header to
// (numpy.lib.format.ARRAY_ALIGN), so the data that follows is aligned.
const align = 64

// growthDigits is numpy.lib.format.GROWTH_AXIS_MAX_DIGITS: numpy >= 1.23
// leaves room in the header for the growth axis (the first dimension, or the
// last in Fortran order) to reach this many digits.
const growthDigits = 21

// maxDepth bounds the nesting of parentheses and brackets in a header dict.
const maxDepth = 32

// Header is a parsed NPY header.
type Header struct {
	// Version is the format version as read: 1.0, 2.0 or 3.0. AppendHeader
	// ignores it and writes the oldest version that can hold the header.
	Version [2]byte
	// Descr is the element type.
	Descr DType
	// FortranOrder is true when the data is stored column-major (Fortran
	// order) rather than row-major (C order).
	FortranOrder bool
	// Shape is the array's shape; empty (not nil, when parsed) for a 0-d
	// array, which has one element.
	Shape []int
}

// Limits bound what HeaderLen and ParseHeader accept. A zero or negative
// field takes its default.
type Limits struct {
	// MaxHeader is the largest header dict accepted, in bytes; default
	// DefaultMaxHeader.
	MaxHeader int
	// MaxData is the largest array data accepted, in bytes; default
	// DefaultMaxData.
	MaxData int64
	// MaxDims is the largest number of dimensions accepted; default
	// DefaultMaxDims.
	MaxDims int
}

// withDefaults returns l with its zero fields set to their defaults.
func (l Limits) withDefaults() Limits {
	if l.MaxHeader <= 0 {
		l.MaxHeader = DefaultMaxHeader
	}
	if l.MaxData <= 0 {
		l.MaxData = DefaultMaxData
	}
	if l.MaxDims <= 0 {
		l.MaxDims = DefaultMaxDims
	}
	return l
}

// PreambleLen returns the length of the preamble (magic, version and header
// length field) of a header: 10 for version 1.0, 12 for 2.0 and 3.0. first8
// holds the first 8 bytes of the stream, the magic and the version; bytes
// after them are ignored. The error wraps ErrNotNPY for a bad magic and
// ErrVersion for an unsupported version.
func PreambleLen(first8 []byte) (int, error) {
	if len(first8) < MagicLen+2 {
		return 0, fmt.Errorf("array: npy preamble needs %d bytes to read the version, got %d", MagicLen+2, len(first8))
	}
	if string(first8[:MagicLen]) != magic {
		return 0, fmt.Errorf("%w: starts with %q, want %q", ErrNotNPY, first8[:MagicLen], magic)
	}
	switch major, minor := first8[MagicLen], first8[MagicLen+1]; {
	case major == 1 && minor == 0:
		return MagicLen + 2 + 2, nil
	case (major == 2 || major == 3) && minor == 0:
		return MagicLen + 2 + 4, nil
	default:
		return 0, fmt.Errorf("%w: %d.%d (supported: 1.0, 2.0, 3.0)", ErrVersion, major, minor)
	}
}

// HeaderLen decodes the header length field of a complete preamble (as
// long as PreambleLen says): a little-endian uint16 for version 1.0, uint32
// for 2.0 and 3.0. The length counts the header dict with its padding and
// final newline, the bytes to read next. The error wraps ErrLimit when it is
// over lim.MaxHeader.
func HeaderLen(preamble []byte, lim Limits) (int, error) {
	n, err := PreambleLen(preamble)
	if err != nil {
		return 0, err
	}
	if len(preamble) < n {
		return 0, fmt.Errorf("array: npy %d.%d preamble is %d bytes, got %d", preamble[MagicLen], preamble[MagicLen+1], n, len(preamble))
	}
	var hl uint64
	if n == MagicLen+4 {
		hl = uint64(binary.LittleEndian.Uint16(preamble[MagicLen+2:]))
	} else {
		hl = uint64(binary.LittleEndian.Uint32(preamble[MagicLen+2:]))
	}
	lim = lim.withDefaults()
	if hl > uint64(lim.MaxHeader) {
		return 0, fmt.Errorf("%w: header is %d bytes, over the limit of %d", ErrLimit, hl, lim.MaxHeader)
	}
	return int(hl), nil
}

// ParseHeader parses a header dict, the HeaderLen bytes after the preamble,
// of the given format version.
//
// The dict is a Python literal as numpy's reader (ast.literal_eval) takes
// it: exactly the keys 'descr', 'fortran_order' and 'shape' in any order,
// single- or double-quoted strings (adjacent ones concatenated), True and
// False, tuples with or without a trailing comma, redundant parentheses,
// signed decimal integers, whitespace and comments; for versions 1.0 and
// 2.0 also Python 2's long suffix, as in (3L,), which numpy filters out.
// Version 3.0 headers must be UTF-8; 1.0 and 2.0 are latin-1, of which only
// ASCII matters here. Not accepted although numpy's reader would: string
// prefixes and escapes, hexadecimal, octal, binary and underscored
// integers, True or False as a dimension, a key given twice, and negative
// or oversized dimensions (which numpy refuses only later, when it
// allocates the array).
//
// The error wraps ErrVersion, ErrHeader (syntax, missing or unknown keys,
// values of the wrong type, negative dimensions), ErrDType (unsupported
// dtypes, such as structured ones) or ErrLimit (header over lim.MaxHeader,
// more than lim.MaxDims dimensions, data over lim.MaxData, overflow).
func ParseHeader(version [2]byte, dict []byte, lim Limits) (Header, error) {
	lim = lim.withDefaults()
	switch version {
	case [2]byte{1, 0}, [2]byte{2, 0}, [2]byte{3, 0}:
	default:
		return Header{}, fmt.Errorf("%w: %d.%d (supported: 1.0, 2.0, 3.0)", ErrVersion, version[0], version[1])
	}
	if len(dict) > lim.MaxHeader {
		return Header{}, fmt.Errorf("%w: header is %d bytes, over the limit of %d", ErrLimit, len(dict), lim.MaxHeader)
	}
	if version[0] == 3 && !utf8.Valid(dict) {
		return Header{}, fmt.Errorf("%w: version 3.0 header is not valid UTF-8", ErrHeader)
	}
	p := parser{s: dict, py2: version[0] < 3}
	h, err := p.dict(lim)
	if err != nil {
		return Header{}, err
	}
	h.Version = version
	size, err := h.DataSize()
	if err != nil {
		return Header{}, err
	}
	if size > lim.MaxData {
		return Header{}, fmt.Errorf("%w: data is %d bytes, over the limit of %d", ErrLimit, size, lim.MaxData)
	}
	return h, nil
}

// Count returns the number of elements: the product of the shape, 1 for a
// 0-d array. As numpy does, it reports an overflow of the product of the
// non-zero dimensions even when another dimension is zero. The error wraps
// ErrHeader for a negative dimension and ErrLimit for an overflow of int64.
func (h Header) Count() (int64, error) {
	return h.product(1)
}

// DataSize returns the size of the array data in bytes, Count times the item
// size. The error wraps ErrHeader for a negative dimension, ErrDType for an
// unsupported Descr and ErrLimit for an overflow of int64.
func (h Header) DataSize() (int64, error) {
	if err := h.Descr.check(); err != nil {
		return 0, err
	}
	return h.product(int64(h.Descr.Size))
}

// product returns start times the product of the shape, checking the
// product of the non-zero factors for overflow as numpy does.
func (h Header) product(start int64) (int64, error) {
	n, empty := start, false
	for _, d := range h.Shape {
		switch {
		case d < 0:
			return 0, fmt.Errorf("%w: negative dimension %d in shape", ErrHeader, d)
		case d == 0:
			empty = true
		case n > math.MaxInt64/int64(d):
			return 0, fmt.Errorf("%w: shape %v times %d bytes overflows int64", ErrLimit, h.Shape, start)
		default:
			n *= int64(d)
		}
	}
	if empty {
		return 0, nil
	}
	return n, nil
}

// AppendHeader appends the complete NPY header for h to dst: magic, version,
// header length, the dict and padding, as numpy.lib.format.write_array
// (numpy >= 1.23) writes it for the same array, byte for byte. The dict
// lists the keys in sorted order, writes a 1-d shape as (3,) and a 0-d one
// as (), leaves room for the growth axis to reach 21 digits and is padded
// with spaces and a final newline to make the whole header a multiple of 64
// bytes, so the data that follows is aligned.
//
// The version is 1.0 when the header length fits in a uint16, else 2.0;
// h.Version is ignored. (numpy uses 3.0 only for dicts that are not
// latin-1, which supported dtypes never produce.) AppendHeader does not
// allocate when dst has room. The error wraps ErrDType for an unsupported
// Descr, ErrHeader for a negative dimension and ErrLimit for an overflow.
func AppendHeader(dst []byte, h Header) ([]byte, error) {
	if _, err := h.DataSize(); err != nil {
		return dst, err
	}
	// The dict: {'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }
	n := len("{'descr': '") + 3 + len("', 'fortran_order': ") + len("False") +
		len(", 'shape': (") + len("), }")
	if h.Descr.Size >= 10 {
		n++
	}
	if h.FortranOrder {
		n-- // True
	}
	for i, d := range h.Shape {
		if i > 0 {
			n += len(", ")
		}
		n += digits(d)
	}
	if len(h.Shape) == 1 {
		n++ // (3,)
	}
	growth := 0
	if len(h.Shape) > 0 {
		axis := h.Shape[0]
		if h.FortranOrder {
			axis = h.Shape[len(h.Shape)-1]
		}
		growth = max(growthDigits-digits(axis), 0)
	}
	n += growth + 1 // the final '\n'

	pre := MagicLen + 2 + 2
	total := n + padding(pre+n)
	version := byte(1)
	if total > math.MaxUint16 {
		pre = MagicLen + 2 + 4
		total = n + padding(pre+n)
		version = 2
		if uint64(total) > math.MaxUint32 {
			return dst, fmt.Errorf("%w: header of %d bytes is too long for npy 2.0", ErrLimit, total)
		}
	}

	dst = append(dst, magic...)
	dst = append(dst, version, 0)
	if version == 1 {
		dst = binary.LittleEndian.AppendUint16(dst, uint16(total))
	} else {
		dst = binary.LittleEndian.AppendUint32(dst, uint32(total))
	}
	dst = append(dst, "{'descr': '"...)
	dst = h.Descr.appendDescr(dst)
	dst = append(dst, "', 'fortran_order': "...)
	if h.FortranOrder {
		dst = append(dst, "True"...)
	} else {
		dst = append(dst, "False"...)
	}
	dst = append(dst, ", 'shape': ("...)
	for i, d := range h.Shape {
		if i > 0 {
			dst = append(dst, ", "...)
		}
		dst = strconv.AppendInt(dst, int64(d), 10)
	}
	if len(h.Shape) == 1 {
		dst = append(dst, ',')
	}
	dst = append(dst, "), }"...)
	for range growth + total - n {
		dst = append(dst, ' ')
	}
	return append(dst, '\n'), nil
}

// padding returns how many spaces numpy adds to a header of n bytes: 1 to
// 64, never 0, so that n plus them is a multiple of 64.
func padding(n int) int {
	return align - n%align
}

// digits returns the number of decimal digits of d >= 0.
func digits(d int) int {
	n := 1
	for d >= 10 {
		d /= 10
		n++
	}
	return n
}

// litKind is the type of a Python literal in a header dict.
type litKind uint8

const (
	litStr litKind = iota + 1
	litInt
	litBool
	litNone
	litTuple
	litList
)

// lit is a Python literal parsed from a header dict.
type lit struct {
	kind litKind
	str  []byte // litStr: the contents, aliasing the input or parser.buf
	n    int    // litInt: the value, when not big
	neg  bool   // litInt: negative
	big  bool   // litInt: magnitude over math.MaxInt
	sign bool   // litInt: has a unary sign (Python takes only one)
	b    bool   // litBool: the value
	// span is where the digits of an int, or a sequence, are in the input.
	span [2]int
	// For litTuple and litList: the number of elements, whether all are
	// ints, and the first int that is negative or big, if hasBad.
	elems  int
	intsOK bool
	hasBad bool
	bad    badInt
}

// badInt is an integer that cannot be a dimension, kept for the message.
type badInt struct {
	neg  bool
	span [2]int // the digits
}

// parser reads a header dict, a Python literal, without building a syntax
// tree: only the values of the three keys are kept. It holds no scratch
// space for tuples (the shape's elements are read again from its span), so
// ParseHeader allocates only the Shape it returns.
type parser struct {
	s     []byte
	i     int
	py2   bool // accept Python 2's long suffix, as numpy does for 1.0 and 2.0
	depth int
	buf   []byte // adjacent string literals, concatenated
}

// errorf returns an ErrHeader error at the current position.
func (p *parser) errorf(format string, args ...any) error {
	return fmt.Errorf("%w: byte %d: %s", ErrHeader, p.i, fmt.Sprintf(format, args...))
}

// found describes the byte at the current position for a message.
func (p *parser) found() string {
	switch {
	case p.i >= len(p.s):
		return "end of header"
	case p.s[p.i] < 0x80:
		return strconv.QuoteRune(rune(p.s[p.i]))
	default:
		return fmt.Sprintf("byte 0x%02x", p.s[p.i])
	}
}

// at reports whether the byte at the current position is c.
func (p *parser) at(c byte) bool {
	return p.i < len(p.s) && p.s[p.i] == c
}

// skip skips whitespace, including newlines (the dict is in brackets, where
// Python joins lines), and comments.
func (p *parser) skip() {
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ' ', '\t', '\n', '\r', '\f':
			p.i++
		case '#':
			for p.i < len(p.s) && p.s[p.i] != '\n' && p.s[p.i] != '\r' {
				p.i++
			}
		default:
			return
		}
	}
}

// dict parses the whole header: the dict, then only whitespace.
func (p *parser) dict(lim Limits) (Header, error) {
	var h Header
	p.skip()
	if !p.at('{') {
		return h, p.errorf("header is not a dict: found %s, want '{'", p.found())
	}
	p.i++
	var seen [3]bool
	keys := [3]string{"descr", "fortran_order", "shape"}
	for {
		p.skip()
		if p.at('}') {
			p.i++
			break
		}
		k, err := p.value()
		if err != nil {
			return h, err
		}
		if k.kind != litStr {
			return h, p.errorf("dict key is not a string")
		}
		key := -1
		for i, name := range keys {
			if string(k.str) == name {
				key = i
			}
		}
		if key < 0 {
			return h, p.errorf("unknown key %q (want 'descr', 'fortran_order', 'shape')", string(k.str))
		}
		if seen[key] {
			return h, p.errorf("key %q given twice", keys[key])
		}
		seen[key] = true
		p.skip()
		if !p.at(':') {
			return h, p.errorf("found %s after key %q, want ':'", p.found(), keys[key])
		}
		p.i++
		v, err := p.value()
		if err != nil {
			return h, err
		}
		if err := p.set(&h, key, v, lim); err != nil {
			return h, err
		}
		p.skip()
		switch {
		case p.at(','):
			p.i++
			continue
		case p.at('}'):
			p.i++
		default:
			return h, p.errorf("found %s after the value of %q, want ',' or '}'", p.found(), keys[key])
		}
		break
	}
	p.skip()
	if p.i < len(p.s) {
		return h, p.errorf("found %s after the dict", p.found())
	}
	for i, ok := range seen {
		if !ok {
			return h, fmt.Errorf("%w: missing key %q", ErrHeader, keys[i])
		}
	}
	return h, nil
}

// set stores the value v of key number key (descr, fortran_order, shape) in
// h after checking its type.
func (p *parser) set(h *Header, key int, v lit, lim Limits) error {
	var err error
	switch key {
	case 0:
		switch v.kind {
		case litStr:
			h.Descr, err = parseDType(v.str)
		case litList:
			err = fmt.Errorf("%w: descr is a list: structured dtypes are not supported", ErrDType)
		case litTuple:
			err = fmt.Errorf("%w: descr is a tuple: subarray dtypes are not supported", ErrDType)
		default:
			err = fmt.Errorf("%w: descr is not a string", ErrHeader)
		}
	case 1:
		if v.kind != litBool {
			return fmt.Errorf("%w: fortran_order is not True or False", ErrHeader)
		}
		h.FortranOrder = v.b
	case 2:
		switch {
		case v.kind != litTuple:
			err = fmt.Errorf("%w: shape is not a tuple", ErrHeader)
		case !v.intsOK:
			err = fmt.Errorf("%w: shape has an element that is not an integer", ErrHeader)
		case v.hasBad && v.bad.neg:
			err = fmt.Errorf("%w: negative dimension -%s in shape", ErrHeader, string(p.s[v.bad.span[0]:v.bad.span[1]]))
		case v.hasBad:
			err = fmt.Errorf("%w: dimension %s overflows int%d", ErrLimit, string(p.s[v.bad.span[0]:v.bad.span[1]]), strconv.IntSize)
		case v.elems > lim.MaxDims:
			err = fmt.Errorf("%w: shape has %d dimensions, over the limit of %d", ErrLimit, v.elems, lim.MaxDims)
		default:
			h.Shape = p.ints(v)
		}
	}
	return err
}

// value parses one literal.
func (p *parser) value() (lit, error) {
	p.skip()
	if p.i >= len(p.s) {
		return lit{}, p.errorf("found end of header, want a value")
	}
	switch c := p.s[p.i]; {
	case c == '\'' || c == '"':
		return p.str()
	case c == '(':
		return p.seq(')')
	case c == '[':
		return p.seq(']')
	case c == '-' || c == '+':
		return p.signed()
	case c >= '0' && c <= '9':
		return p.number()
	case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
		return p.name()
	case c == '{':
		return lit{}, p.errorf("nested dicts and sets are not supported")
	default:
		return lit{}, p.errorf("found %s, want a value", p.found())
	}
}

// enter and leave bound the nesting of values.
func (p *parser) enter() error {
	p.depth++
	if p.depth > maxDepth {
		return p.errorf("values nested deeper than %d", maxDepth)
	}
	return nil
}

func (p *parser) leave() { p.depth-- }

// seq parses a tuple or list, or a parenthesized value, up to close.
func (p *parser) seq(close byte) (lit, error) {
	if err := p.enter(); err != nil {
		return lit{}, err
	}
	defer p.leave()
	v := lit{kind: litTuple, intsOK: true, span: [2]int{p.i, 0}}
	if close == ']' {
		v.kind = litList
	}
	p.i++
	var comma bool
	var last lit
	for {
		p.skip()
		if p.at(close) {
			p.i++
			break
		}
		e, err := p.value()
		if err != nil {
			return lit{}, err
		}
		v.elems++
		last = e
		if e.kind != litInt {
			v.intsOK = false
		} else if (e.neg || e.big) && !v.hasBad {
			v.hasBad = true
			v.bad = badInt{neg: e.neg, span: e.span}
		}
		p.skip()
		if p.at(',') {
			p.i++
			comma = true
			continue
		}
		if p.at(close) {
			p.i++
			break
		}
		return lit{}, p.errorf("found %s in a sequence, want ',' or %q", p.found(), close)
	}
	if close == ')' && v.elems == 1 && !comma {
		return last, nil // (x) is x, not a tuple
	}
	v.span[1] = p.i
	return v, nil
}

// ints returns the elements of v, a tuple of ints parsed without error, by
// reading them again from its span.
func (p *parser) ints(v lit) []int {
	out := make([]int, 0, v.elems)
	q := parser{s: p.s[:v.span[1]], i: v.span[0] + 1, py2: p.py2}
	for len(out) < v.elems {
		e, _ := q.value()
		out = append(out, e.n)
		q.skip()
		q.i++ // ','
	}
	return out
}

// signed parses a unary sign and the integer it applies to.
func (p *parser) signed() (lit, error) {
	if err := p.enter(); err != nil {
		return lit{}, err
	}
	defer p.leave()
	neg := p.s[p.i] == '-'
	p.i++
	v, err := p.value()
	if err != nil {
		return lit{}, err
	}
	if v.kind != litInt || v.sign {
		return lit{}, p.errorf("a sign applies only to an unsigned number")
	}
	v.sign = true
	if neg && (v.n != 0 || v.big) {
		v.n, v.neg = -v.n, true
	}
	return v, nil
}

// number parses a decimal integer.
func (p *parser) number() (lit, error) {
	start := p.i
	for p.i < len(p.s) && isNameByte(p.s[p.i]) || p.at('.') {
		p.i++
	}
	text := p.s[start:p.i]
	if p.py2 && len(text) > 1 && text[len(text)-1] == 'L' {
		text = text[:len(text)-1] // Python 2's 3L
	}
	v := lit{kind: litInt, span: [2]int{start, start + len(text)}}
	nonzero := false
	for _, c := range text {
		if c < '0' || c > '9' {
			p.i = start
			return lit{}, p.errorf("number %q is not a decimal integer", string(p.s[start:start+len(text)]))
		}
		nonzero = nonzero || c != '0'
		d := int(c - '0')
		if v.n > (math.MaxInt-d)/10 {
			v.big = true
		}
		v.n = v.n*10 + d
	}
	if text[0] == '0' && nonzero {
		p.i = start
		return lit{}, p.errorf("number %q has a leading zero", string(text))
	}
	if v.big {
		v.n = 0
	}
	if p.py2 && len(text) == p.i-start {
		// Python 2's 3 L, with space between: numpy's tokenizer filter
		// drops the name L after any number.
		save := p.i
		p.skip()
		if p.at('L') && (p.i+1 == len(p.s) || !isNameByte(p.s[p.i+1])) {
			p.i++
		} else {
			p.i = save
		}
	}
	return v, nil
}

// name parses True, False or None.
func (p *parser) name() (lit, error) {
	start := p.i
	for p.i < len(p.s) && isNameByte(p.s[p.i]) {
		p.i++
	}
	switch string(p.s[start:p.i]) {
	case "True":
		return lit{kind: litBool, b: true}, nil
	case "False":
		return lit{kind: litBool}, nil
	case "None":
		return lit{kind: litNone}, nil
	}
	name := p.s[start:p.i]
	if p.at('\'') || p.at('"') {
		p.i = start
		return lit{}, p.errorf("string prefix %q is not supported", string(name))
	}
	p.i = start
	return lit{}, p.errorf("name %q is not a literal (want True, False or None)", string(name))
}

// str parses a string literal and any adjacent ones, which Python
// concatenates.
func (p *parser) str() (lit, error) {
	v := lit{kind: litStr}
	for pieces := 0; ; pieces++ {
		q := p.s[p.i]
		p.i++
		start := p.i
		for p.i < len(p.s) && p.s[p.i] != q {
			switch p.s[p.i] {
			case '\\':
				return lit{}, p.errorf("escape sequences in strings are not supported")
			case '\n', '\r':
				return lit{}, p.errorf("unterminated string")
			}
			p.i++
		}
		if p.i >= len(p.s) {
			return lit{}, p.errorf("unterminated string")
		}
		piece := p.s[start:p.i]
		p.i++
		switch pieces {
		case 0:
			v.str = piece
		case 1:
			p.buf = append(append(p.buf[:0], v.str...), piece...)
			v.str = p.buf
		default:
			p.buf = append(p.buf, piece...)
			v.str = p.buf
		}
		save := p.i
		p.skip()
		if !p.at('\'') && !p.at('"') {
			p.i = save
			return v, nil
		}
	}
}

// isNameByte reports whether c can be part of a Python name or number.
func isNameByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}
