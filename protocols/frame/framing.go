package frame

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
)

// DefaultMax is the maximum message size of a framing made with max <= 0.
const DefaultMax = 64 << 10

// Framing delimits messages in a byte stream, in one of the four ways the
// networking notes list: a fixed length (Fixed), a delimiter (Delimited), a
// length header (Length) and the end of the connection (UntilEOF); Custom
// takes any bufio.SplitFunc. Each has a maximum message size: input that
// holds no complete message within it is an error (ErrTooLong), so a peer
// cannot make the server buffer without bound.
//
// Its Split method is a bufio.SplitFunc, so a client can read the same
// framing with a bufio.Scanner (give the scanner a buffer of MaxFrame()+1
// bytes: a Scanner with a full buffer cannot yet know that input ends).
type Framing struct {
	kind  kind
	size  int    // Fixed: the message size; Length: the header's
	delim []byte // Delimited
	order binary.ByteOrder
	max   int             // the longest message
	split bufio.SplitFunc // Custom
}

type kind uint8

const (
	kindFixed kind = iota + 1
	kindDelimited
	kindLength
	kindEOF
	kindCustom
)

// Fixed frames messages of exactly size bytes. A stream that ends inside
// one is ErrTruncated.
func Fixed(size int) Framing { return Framing{kind: kindFixed, size: size, max: size} }

// Delimited frames messages that end with delim, as readline does: a
// message is its bytes and the delimiter, at most max bytes in all (max <= 0:
// DefaultMax). At the end of the stream, bytes after the last delimiter are
// a last message without one, as Python's `for line in rfile` yields a last
// line with no newline; a service that wants only whole messages checks
// the suffix.
func Delimited(delim []byte, max int) Framing {
	return Framing{kind: kindDelimited, delim: bytes.Clone(delim), max: orDefault(max)}
}

// Length frames messages that follow a header of headerBytes (1, 2, 4 or 8)
// giving the message's length in bytes, the header not counted, in network
// byte order (big-endian; see Order). A message is the bytes after the
// header; one longer than max (max <= 0: DefaultMax) is ErrTooLong as soon
// as its header arrives, and a stream that ends inside one is ErrTruncated.
func Length(headerBytes, max int) Framing {
	return Framing{kind: kindLength, size: headerBytes, order: binary.BigEndian, max: orDefault(max)}
}

// Order returns f with its length header read in byte order o, for a
// Length framing; other framings have no header and are returned as they
// are.
func (f Framing) Order(o binary.ByteOrder) Framing {
	if f.kind == kindLength {
		f.order = o
	}
	return f
}

// UntilEOF frames the whole stream, up to the peer's end of input, as one
// message of at most max bytes (max <= 0: DefaultMax): the peer sends its
// request and shuts its write side, and the reply follows. An empty stream
// is no message.
func UntilEOF(max int) Framing { return Framing{kind: kindEOF, max: orDefault(max)} }

// Custom frames messages with split, as bufio.Scanner does, with messages
// and their framing of at most max bytes (max <= 0: DefaultMax): split is
// shown at most max bytes at a time, as by a Scanner whose buffer holds
// max bytes, so what it makes of a stream does not depend on how the
// stream is cut into reads. A split that returns bufio.ErrFinalToken ends
// the input with no error: its token, if not nil, is the last message, and
// the connection closes once the replies are sent. Any other error of
// split closes the connection as a framing error does.
func Custom(split bufio.SplitFunc, max int) Framing {
	return Framing{kind: kindCustom, split: split, max: orDefault(max)}
}

func orDefault(max int) int {
	if max <= 0 {
		return DefaultMax
	}
	return max
}

// MaxFrame returns the most bytes one message spans on the wire, header or
// delimiter included: the buffer a reader of this framing needs.
func (f Framing) MaxFrame() int {
	if f.kind == kindLength {
		return f.size + f.max
	}
	return f.max
}

// String describes f, for logs and errors.
func (f Framing) String() string {
	switch f.kind {
	case kindFixed:
		return fmt.Sprintf("fixed(%d)", f.size)
	case kindDelimited:
		return fmt.Sprintf("delimited(%q, max %d)", f.delim, f.max)
	case kindLength:
		return fmt.Sprintf("length(%d-byte %v header, max %d)", f.size, f.order, f.max)
	case kindEOF:
		return fmt.Sprintf("until-eof(max %d)", f.max)
	case kindCustom:
		return fmt.Sprintf("custom(max %d)", f.max)
	}
	return "no framing"
}

// Split finds the first message at the start of data, as a
// bufio.SplitFunc: it returns how many bytes the message spans (advance)
// and the message, or 0 and a nil message when data holds no complete one
// yet; atEOF says that no input follows data.
func (f Framing) Split(data []byte, atEOF bool) (advance int, msg []byte, err error) {
	return f.next(data, atEOF, 0)
}

// next is Split knowing that data[:seen] was searched before, as data's
// start, without finding a delimiter: a peer that sends a long line a byte
// at a time costs a search of each byte once, not of the whole line per
// byte.
func (f Framing) next(data []byte, atEOF bool, seen int) (advance int, msg []byte, err error) {
	switch f.kind {
	case kindFixed:
		if f.size <= 0 {
			return 0, nil, fmt.Errorf("%w: fixed size %d", ErrBadFraming, f.size)
		}
		if len(data) >= f.size {
			return f.size, data[:f.size], nil
		}
		return f.tail(data, atEOF, ErrTruncated)
	case kindDelimited:
		if len(f.delim) == 0 || len(f.delim) > f.max {
			return 0, nil, fmt.Errorf("%w: delimiter %q with max %d", ErrBadFraming, f.delim, f.max)
		}
		window := data[:min(len(data), f.max)]
		from := min(max(seen-len(f.delim)+1, 0), len(window))
		if i := bytes.Index(window[from:], f.delim); i >= 0 {
			end := from + i + len(f.delim)
			return end, data[:end], nil
		}
		if len(data) >= f.max {
			return 0, nil, fmt.Errorf("%w: no %q in %d bytes", ErrTooLong, f.delim, f.max)
		}
		if atEOF && len(data) > 0 {
			return len(data), data, nil
		}
		return 0, nil, nil
	case kindLength:
		if f.size != 1 && f.size != 2 && f.size != 4 && f.size != 8 {
			return 0, nil, fmt.Errorf("%w: length header of %d bytes: want 1, 2, 4 or 8", ErrBadFraming, f.size)
		}
		if len(data) < f.size {
			return f.tail(data, atEOF, ErrTruncated)
		}
		n := f.length(data[:f.size])
		if n > uint64(f.max) {
			return 0, nil, fmt.Errorf("%w: header says %d bytes, over %d", ErrTooLong, n, f.max)
		}
		end := f.size + int(n)
		if len(data) >= end {
			return end, data[f.size:end], nil
		}
		return f.tail(data, atEOF, ErrTruncated)
	case kindEOF:
		if len(data) > f.max {
			return 0, nil, fmt.Errorf("%w: over %d bytes before the end of input", ErrTooLong, f.max)
		}
		if atEOF && len(data) > 0 {
			return len(data), data, nil
		}
		return 0, nil, nil
	case kindCustom:
		if f.split == nil {
			return 0, nil, fmt.Errorf("%w: custom framing without a split function", ErrBadFraming)
		}
		if len(data) > f.max {
			// The split sees at most max bytes, as a Scanner with a buffer
			// of max bytes does: shown a whole read, it would take a
			// message over max when one read brought it all and refuse it
			// when reads cut it.
			data, atEOF = data[:f.max], false
		}
		advance, msg, err = f.split(data, atEOF)
		if err == nil && advance == 0 && msg == nil && len(data) >= f.max {
			return 0, nil, fmt.Errorf("%w: no message in %d bytes", ErrTooLong, f.max)
		}
		return advance, msg, err
	}
	return 0, nil, fmt.Errorf("%w: the zero Framing; make one with Fixed, Delimited, Length, UntilEOF or Custom", ErrBadFraming)
}

// tail is the answer for data that holds no complete message: more is
// needed, unless the stream has ended inside one.
func (f Framing) tail(data []byte, atEOF bool, errAtEOF error) (int, []byte, error) {
	if atEOF && len(data) > 0 {
		return 0, nil, fmt.Errorf("%w: %d bytes of an unfinished message (%v)", errAtEOF, len(data), f)
	}
	return 0, nil, nil
}

// length decodes a length header.
func (f Framing) length(h []byte) uint64 {
	switch f.size {
	case 1:
		return uint64(h[0])
	case 2:
		return uint64(f.order.Uint16(h))
	case 4:
		return uint64(f.order.Uint32(h))
	}
	return f.order.Uint64(h)
}

// AppendLength appends a length header of f's size and order for a message
// of n bytes, for a sender of a Length framing: push the header, then the
// message. Appended to a buffer with room, it allocates nothing:
//
//	var b [8]byte
//	hdr, err := f.AppendLength(b[:0], len(reply))
//	if err != nil {
//		return err // reply is too long for the header
//	}
//	out.Push(hdr)
//	out.Push(reply)
//
// It returns ErrTooLong if n is over f's maximum or what the header
// can hold, and ErrBadFraming for a framing with no header.
func (f Framing) AppendLength(dst []byte, n int) ([]byte, error) {
	if f.kind != kindLength || (f.size != 1 && f.size != 2 && f.size != 4 && f.size != 8) {
		return dst, fmt.Errorf("%w: %v has no length header", ErrBadFraming, f)
	}
	if n < 0 || n > f.max || (f.size < 8 && uint64(n) >= 1<<(8*f.size)) {
		return dst, fmt.Errorf("%w: %d bytes in %v", ErrTooLong, n, f)
	}
	// The two standard orders are called by their concrete types: through
	// the binary.ByteOrder interface h would escape, and every header (one
	// per reply) would cost an allocation. n fits in f.size bytes (checked
	// above), so the header is the low end of its 8-byte encoding.
	var h [8]byte
	switch f.order {
	case binary.BigEndian:
		binary.BigEndian.PutUint64(h[:], uint64(n))
		return append(dst, h[8-f.size:]...), nil
	case binary.LittleEndian:
		binary.LittleEndian.PutUint64(h[:], uint64(n))
		return append(dst, h[:f.size]...), nil
	}
	return f.appendOther(dst, n), nil
}

// appendOther is AppendLength for a byte order other than the standard
// two, through the interface.
func (f Framing) appendOther(dst []byte, n int) []byte {
	h := make([]byte, 8)
	switch f.size {
	case 1:
		h[0] = byte(n)
	case 2:
		f.order.PutUint16(h, uint16(n))
	case 4:
		f.order.PutUint32(h, uint32(n))
	default:
		f.order.PutUint64(h, uint64(n))
	}
	return append(dst, h[:f.size]...)
}
