package array

import (
	"fmt"
	"io"
	"net"
)

// WriteArray sends src as one NPY array of the given shape (C order, the
// host's byte order): the header, then src's own memory, gathered into one
// writev on a net.Conn (net.Buffers), without copying src. A nil shape is
// one dimension of len(src).
func WriteArray[T Element](w io.Writer, shape []int, src []T) error {
	if shape == nil {
		shape = []int{len(src)}
	}
	h := Header{Descr: DTypeOf[T](), Shape: shape}
	n, err := h.Count()
	if err != nil {
		return err
	}
	if n != int64(len(src)) {
		return fmt.Errorf("array: shape %v holds %d elements, the slice %d", shape, n, len(src))
	}
	hdr, err := AppendHeader(make([]byte, 0, 128), h)
	if err != nil {
		return err
	}
	bufs := net.Buffers{hdr, BytesOf(src)}
	_, err = bufs.WriteTo(w)
	return err
}

// ReadArrayInto reads one NPY array from r into dst, which the caller
// provides: the header with reads of exactly what is missing, then the data
// straight into dst, which must hold it. It returns the header and the data,
// dst[:size]; a server's "error: ..." line comes back as an error.
func ReadArrayInto(r io.Reader, dst []byte, lim Limits) (Header, []byte, error) {
	var pre [12]byte
	if _, err := io.ReadFull(r, pre[:8]); err != nil {
		return Header{}, nil, err
	}
	if string(pre[:7]) == "error: " {
		line := make([]byte, 0, 128)
		line = append(line, pre[:8]...)
		var b [1]byte
		for len(line) < 4096 && line[len(line)-1] != '\n' {
			if _, err := r.Read(b[:]); err != nil {
				break
			}
			line = append(line, b[0])
		}
		return Header{}, nil, fmt.Errorf("array: the server said %q", string(line))
	}
	pl, err := PreambleLen(pre[:8])
	if err != nil {
		return Header{}, nil, err
	}
	if _, err := io.ReadFull(r, pre[8:pl]); err != nil {
		return Header{}, nil, err
	}
	dl, err := HeaderLen(pre[:pl], lim)
	if err != nil {
		return Header{}, nil, err
	}
	dict := make([]byte, dl)
	if _, err := io.ReadFull(r, dict); err != nil {
		return Header{}, nil, err
	}
	h, err := ParseHeader([2]byte{pre[6], pre[7]}, dict, lim)
	if err != nil {
		return Header{}, nil, err
	}
	size, err := h.DataSize()
	if err != nil {
		return Header{}, nil, err
	}
	if size > int64(len(dst)) {
		return h, nil, fmt.Errorf("array: %d bytes of data, the buffer holds %d", size, len(dst))
	}
	data := dst[:size]
	if _, err := io.ReadFull(r, data); err != nil {
		return h, nil, err
	}
	return h, data, nil
}
