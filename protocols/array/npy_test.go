package array_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/edgeloop/edgeloop/protocols/array"
)

// readHeader reads a header from the start of b in the three steps a
// network reader takes, and returns it with the bytes after it.
func readHeader(b []byte, lim array.Limits) (array.Header, []byte, error) {
	if len(b) < 8 {
		return array.Header{}, nil, fmt.Errorf("only %d bytes", len(b))
	}
	n, err := array.PreambleLen(b[:8])
	if err != nil {
		return array.Header{}, nil, err
	}
	if len(b) < n {
		return array.Header{}, nil, fmt.Errorf("preamble: only %d bytes of %d", len(b), n)
	}
	hl, err := array.HeaderLen(b[:n], lim)
	if err != nil {
		return array.Header{}, nil, err
	}
	if len(b)-n < hl {
		return array.Header{}, nil, fmt.Errorf("header: only %d bytes of %d", len(b)-n, hl)
	}
	h, err := array.ParseHeader([2]byte{b[6], b[7]}, b[n:n+hl], lim)
	return h, b[n+hl:], err
}

// preamble returns a preamble of the given version for a dict of n bytes.
func preamble(major byte, n uint32) []byte {
	b := []byte("\x93NUMPY")
	b = append(b, major, 0)
	if major == 1 {
		return binary.LittleEndian.AppendUint16(b, uint16(n))
	}
	return binary.LittleEndian.AppendUint32(b, n)
}

// f8 is the dtype numpy writes for float64 on little-endian machines.
var f8 = array.DType{Kind: 'f', Size: 8, Order: '<'}

func TestPreambleLen(t *testing.T) {
	tests := []struct {
		name  string
		first string
		want  int
		err   error
		says  string
	}{
		{"1.0", "\x93NUMPY\x01\x00", 10, nil, ""},
		{"2.0", "\x93NUMPY\x02\x00", 12, nil, ""},
		{"3.0", "\x93NUMPY\x03\x00", 12, nil, ""},
		{"1.0 with more bytes", "\x93NUMPY\x01\x00v\x00{", 10, nil, ""},
		{"bad magic", "\x93NUMPZ\x01\x00", 0, array.ErrNotNPY, `"\x93NUMPZ"`},
		{"lowercase magic", "\x93numpy\x01\x00", 0, array.ErrNotNPY, "magic"},
		{"http", "GET / HTTP/1.1", 0, array.ErrNotNPY, `"GET / "`},
		{"version 4.0", "\x93NUMPY\x04\x00", 0, array.ErrVersion, "4.0"},
		{"version 0.0", "\x93NUMPY\x00\x00", 0, array.ErrVersion, "0.0"},
		{"version 1.1", "\x93NUMPY\x01\x01", 0, array.ErrVersion, "1.1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, err := array.PreambleLen([]byte(tc.first))
			if tc.err != nil {
				checkErr(t, err, tc.err, tc.says)
				return
			}
			if err != nil || n != tc.want {
				t.Errorf("PreambleLen = %d, %v; want %d", n, err, tc.want)
			}
		})
	}
	t.Run("short", func(t *testing.T) {
		_, err := array.PreambleLen([]byte("\x93NUMPY\x01"))
		if err == nil || !strings.Contains(err.Error(), "8 bytes") {
			t.Errorf("PreambleLen(7 bytes) error %v, want one saying it needs 8 bytes", err)
		}
	})
}

func TestHeaderLen(t *testing.T) {
	tests := []struct {
		name     string
		preamble []byte
		lim      array.Limits
		want     int
		err      error
		says     string
	}{
		{"1.0", preamble(1, 118), array.Limits{}, 118, nil, ""},
		{"2.0", preamble(2, 116), array.Limits{}, 116, nil, ""},
		{"3.0", preamble(3, 116), array.Limits{}, 116, nil, ""},
		{"1.0 at default limit", preamble(1, 10000), array.Limits{}, 10000, nil, ""},
		{"1.0 over default limit", preamble(1, 10001), array.Limits{}, 0, array.ErrLimit, "10001 bytes, over the limit of 10000"},
		{"1.0 max uint16", preamble(1, 65535), array.Limits{MaxHeader: 1 << 20}, 65535, nil, ""},
		{"2.0 over limit", preamble(2, 1<<20), array.Limits{MaxHeader: 65535}, 0, array.ErrLimit, "1048576 bytes, over the limit of 65535"},
		{"3.0 max uint32", preamble(3, math.MaxUint32), array.Limits{}, 0, array.ErrLimit, "4294967295 bytes"},
		{"bad magic", append([]byte("\x93NUMPx"), preamble(1, 118)[6:]...), array.Limits{}, 0, array.ErrNotNPY, "magic"},
		{"version 4.0", preamble(4, 118), array.Limits{}, 0, array.ErrVersion, "4.0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, err := array.HeaderLen(tc.preamble, tc.lim)
			if tc.err != nil {
				checkErr(t, err, tc.err, tc.says)
				return
			}
			if err != nil || n != tc.want {
				t.Errorf("HeaderLen = %d, %v; want %d", n, err, tc.want)
			}
		})
	}
	t.Run("short 2.0 preamble", func(t *testing.T) {
		_, err := array.HeaderLen(preamble(2, 116)[:10], array.Limits{})
		if err == nil || strings.Contains(err.Error(), "\n") {
			t.Errorf("HeaderLen(10 bytes of a 2.0 preamble) error %v, want one line", err)
		}
	})
}

// TestParseHeaderForms checks forms of the dict that numpy's reader
// accepts though numpy does not write them (TestNumpyAgrees checks them
// against numpy itself).
func TestParseHeaderForms(t *testing.T) {
	tests := []struct {
		name    string
		version byte
		dict    string
		want    array.Header
	}{
		{"numpy 1-d", 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }" + strings.Repeat(" ", 20) + "\n",
			array.Header{Descr: f8, Shape: []int{3}}},
		{"no padding", 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (3,)}",
			array.Header{Descr: f8, Shape: []int{3}}},
		{"keys in any order", 1, "{'shape': (2, 3), 'descr': '>i2', 'fortran_order': True}\n",
			array.Header{Descr: array.DType{Kind: 'i', Size: 2, Order: '>'}, FortranOrder: true, Shape: []int{2, 3}}},
		{"double quotes", 1, `{"descr": "<f8", "fortran_order": False, "shape": (4, 5)}`,
			array.Header{Descr: f8, Shape: []int{4, 5}}},
		{"no trailing comma in tuple", 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (4, 5,), }",
			array.Header{Descr: f8, Shape: []int{4, 5}}},
		{"0-d", 1, "{'descr': '|b1', 'fortran_order': False, 'shape': (), }",
			array.Header{Descr: array.DType{Kind: 'b', Size: 1, Order: '|'}, Shape: []int{}}},
		{"empty", 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (0,), }",
			array.Header{Descr: f8, Shape: []int{0}}},
		{"whitespace and newlines", 1, " \t{ 'descr' :\n'<f8' ,\r\n'fortran_order':False,'shape':( 3 , 4 ) , } \n\n",
			array.Header{Descr: f8, Shape: []int{3, 4}}},
		{"comment", 1, "{'descr': '<f8', # float64\n'fortran_order': False, 'shape': (3,)} # end\n",
			array.Header{Descr: f8, Shape: []int{3}}},
		{"parenthesized values", 1, "{('descr'): ('<f8'), 'fortran_order': (True), 'shape': ((3), 4)}",
			array.Header{Descr: f8, FortranOrder: true, Shape: []int{3, 4}}},
		{"parenthesized tuple", 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (((3), +4)), }",
			array.Header{Descr: f8, Shape: []int{3, 4}}},
		{"concatenated strings", 1, "{'descr': '<' 'f' \"8\", 'fortran_order': False, 'shape': (3,)}",
			array.Header{Descr: f8, Shape: []int{3}}},
		{"triple-quoted", 1, "{'''descr''': '''<f8''', 'fortran_order': False, 'shape': (3,)}",
			array.Header{Descr: f8, Shape: []int{3}}},
		{"python 2 longs", 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (3L, 4 L), }",
			array.Header{Descr: f8, Shape: []int{3, 4}}},
		{"python 2 longs 2.0", 2, "{'descr': '<f8', 'fortran_order': False, 'shape': (3L,), }",
			array.Header{Descr: f8, Shape: []int{3}}},
		{"minus zero", 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (-0, 00), }",
			array.Header{Descr: f8, Shape: []int{0, 0}}},
		{"max dims", 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (" + strings.Repeat("1, ", 32) + "), }",
			array.Header{Descr: f8, Shape: ones(32)}},
		{"native order", 1, "{'descr': '=f8', 'fortran_order': False, 'shape': (3,), }",
			array.Header{Descr: array.DType{Kind: 'f', Size: 8, Order: host}, Shape: []int{3}}},
		{"3.0 with UTF-8 comment", 3, "{'descr': '<f8', 'fortran_order': False, 'shape': (3,)} # é\n",
			array.Header{Descr: f8, Shape: []int{3}}},
		{"zero dim beside a huge one", 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (0, 1000000000000000000), }",
			array.Header{Descr: f8, Shape: []int{0, 1000000000000000000}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, err := array.ParseHeader([2]byte{tc.version, 0}, []byte(tc.dict), array.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			tc.want.Version = [2]byte{tc.version, 0}
			if !reflect.DeepEqual(h, tc.want) {
				t.Errorf("ParseHeader = %+v, want %+v", h, tc.want)
			}
		})
	}
}

// ones returns a shape of n ones.
func ones(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = 1
	}
	return s
}

func TestParseHeaderRejects(t *testing.T) {
	const (
		pre  = "{'descr': '<f8', 'fortran_order': False, 'shape': "
		post = ", }          \n"
	)
	lim := array.Limits{MaxHeader: 1000, MaxData: 1 << 20, MaxDims: 4}
	tests := []struct {
		name    string
		version byte
		dict    string
		err     error
		says    string
	}{
		{"version 4.0", 4, pre + "(3,)" + post, array.ErrVersion, "4.0"},
		{"empty", 1, "", array.ErrHeader, "not a dict"},
		{"only padding", 1, "          \n", array.ErrHeader, "not a dict"},
		{"list, not dict", 1, "['descr', '<f8']", array.ErrHeader, "not a dict"},
		{"missing shape", 1, "{'descr': '<f8', 'fortran_order': False, }", array.ErrHeader, `missing key "shape"`},
		{"missing descr", 1, "{'fortran_order': False, 'shape': (3,)}", array.ErrHeader, `missing key "descr"`},
		{"missing fortran_order", 1, "{'descr': '<f8', 'shape': (3,)}", array.ErrHeader, `missing key "fortran_order"`},
		{"extra key", 1, pre + "(3,), 'order': 'C'}", array.ErrHeader, `unknown key "order"`},
		{"duplicate key", 1, pre + "(3,), 'shape': (4,)}", array.ErrHeader, `"shape" given twice`},
		{"key not a string", 1, "{1: '<f8'}", array.ErrHeader, "key is not a string"},
		{"unclosed dict", 1, pre + "(3,)", array.ErrHeader, "want ',' or '}'"},
		{"unbalanced paren", 1, pre + "(3, 4}" + post, array.ErrHeader, "found '}' in a sequence, want ',' or ')'"},
		{"unclosed paren", 1, pre + "(3, 4", array.ErrHeader, "found end of header in a sequence"},
		{"extra close paren", 1, pre + "(3, 4))" + post, array.ErrHeader, "want ',' or '}'"},
		{"bracket closes paren", 1, pre + "(3, 4]" + post, array.ErrHeader, "want ',' or ')'"},
		{"missing colon", 1, "{'descr' 5}", array.ErrHeader, `found '5' after key "descr", want ':'`},
		{"missing comma", 1, "{'descr': '<f8' False}", array.ErrHeader, `found 'F' after the value of "descr", want ',' or '}'`},
		{"empty tuple element", 1, pre + "(3,,)" + post, array.ErrHeader, "found ','"},
		{"text after dict", 1, pre + "(3,)} x", array.ErrHeader, "after the dict"},
		{"two dicts", 1, pre + "(3,)}{}", array.ErrHeader, "after the dict"},
		{"unterminated string", 1, "{'descr': '<f8}", array.ErrHeader, "unterminated string"},
		{"newline in string", 1, "{'descr': '<f8\n'}", array.ErrHeader, "unterminated string"},
		{"string at end", 1, "{'descr", array.ErrHeader, "unterminated string"},
		{"escape in string", 1, `{'descr': '\x3cf8'}`, array.ErrHeader, "escape"},
		{"string prefix", 1, "{'descr': b'<f8'}", array.ErrHeader, `prefix "b"`},
		{"name", 1, "{'descr': float64}", array.ErrHeader, `name "float64"`},
		{"lowercase false", 1, pre[:len(pre)-len("False, 'shape': ")] + "false, 'shape': (3,)}", array.ErrHeader, `name "false"`},
		{"fortran_order int", 1, "{'descr': '<f8', 'fortran_order': 0, 'shape': (3,)}", array.ErrHeader, "fortran_order is not True or False"},
		{"fortran_order None", 1, "{'descr': '<f8', 'fortran_order': None, 'shape': (3,)}", array.ErrHeader, "fortran_order is not True or False"},
		{"descr int", 1, "{'descr': 8, 'fortran_order': False, 'shape': (3,)}", array.ErrHeader, "descr is not a string"},
		{"shape int", 1, pre + "3" + post, array.ErrHeader, "shape is not a tuple"},
		{"shape parenthesized int", 1, pre + "(3)" + post, array.ErrHeader, "shape is not a tuple"},
		{"shape list", 1, pre + "[3, 4]" + post, array.ErrHeader, "shape is not a tuple"},
		{"shape string", 1, pre + "'3'" + post, array.ErrHeader, "shape is not a tuple"},
		{"shape float", 1, pre + "(3.0,)" + post, array.ErrHeader, `"3.0" is not a decimal integer`},
		{"shape exponent", 1, pre + "(1e3,)" + post, array.ErrHeader, `"1e3" is not a decimal integer`},
		{"shape hex", 1, pre + "(0x3,)" + post, array.ErrHeader, `"0x3" is not a decimal integer`},
		{"shape underscore", 1, pre + "(1_000,)" + post, array.ErrHeader, `"1_000" is not a decimal integer`},
		{"shape leading zero", 1, pre + "(03,)" + post, array.ErrHeader, "leading zero"},
		{"shape bool", 1, pre + "(True,)" + post, array.ErrHeader, "not an integer"},
		{"shape nested tuple", 1, pre + "((3,), 4)" + post, array.ErrHeader, "not an integer"},
		{"shape expression", 1, pre + "(3*4,)" + post, array.ErrHeader, "want ',' or ')'"},
		{"shape double sign", 1, pre + "(- -3,)" + post, array.ErrHeader, "sign"},
		{"shape negative", 1, pre + "(3, -1)" + post, array.ErrHeader, "negative dimension -1"},
		{"shape negative huge", 1, pre + "(-99999999999999999999,)" + post, array.ErrHeader, "negative dimension -99999999999999999999"},
		{"negative dimension message split by a newline", 1, pre + "(-\n99999999999999999999,)" + post, array.ErrHeader, "negative dimension -99999999999999999999 in shape"},
		{"big dimension after parentheses", 1, pre + "(+(\n99999999999999999999),)" + post, array.ErrLimit, "dimension 99999999999999999999 overflows"},
		{"shape dim overflows", 1, pre + "(9223372036854775808,)" + post, array.ErrLimit, "9223372036854775808 overflows int"},
		{"shape product overflows", 1, pre + "(1073741824, 1073741824, 1073741824)" + post, array.ErrLimit, "overflows int64"},
		{"shape bytes overflow", 1, pre + "(1073741824, 1073741824)" + post, array.ErrLimit, "overflows int64"},
		{"empty shape still overflows", 1, pre + "(1073741824, 1073741824, 1073741824, 0)" + post, array.ErrLimit, "overflows int64"},
		{"too many dims", 1, pre + "(1, 1, 1, 1, 1)" + post, array.ErrLimit, "5 dimensions, over the limit of 4"},
		{"data over limit", 1, pre + "(1024, 129)" + post, array.ErrLimit, "1056768 bytes, over the limit of 1048576"},
		{"header over limit", 1, pre + "(3,)" + post + strings.Repeat(" ", 1000), array.ErrLimit, "over the limit of 1000"},
		{"too deep", 1, pre + strings.Repeat("(", 40) + "3" + strings.Repeat(")", 40) + post, array.ErrHeader, "nested deeper than 32"},
		{"nested dict", 1, "{'descr': {'names': ['a']}}", array.ErrHeader, "nested dict"},
		{"python 2 long in 3.0", 3, pre + "(3L,)" + post, array.ErrHeader, `"3L" is not a decimal integer`},
		{"3.0 not UTF-8", 3, pre + "(3,)} # \xff\n", array.ErrHeader, "not valid UTF-8"},
		{"NUL byte", 1, pre + "(3,)}\x00", array.ErrHeader, `'\x00'`},
		{"latin-1 byte", 1, pre + "(3,)}\xe9", array.ErrHeader, "byte 0xe9"},
		{"structured", 1, "{'descr': [('a', '<i4'), ('b', '<f8')], 'fortran_order': False, 'shape': (3,), }", array.ErrDType, "structured"},
		{"subarray", 1, "{'descr': ('<i4', (2, 3)), 'fortran_order': False, 'shape': (3,), }", array.ErrDType, "subarray"},
		{"object", 1, "{'descr': '|O', 'fortran_order': False, 'shape': (3,), }", array.ErrDType, "Python objects"},
		{"unicode", 1, "{'descr': '<U5', 'fortran_order': False, 'shape': (3,), }", array.ErrDType, "unicode strings"},
		{"bytes", 1, "{'descr': '|S5', 'fortran_order': False, 'shape': (3,), }", array.ErrDType, "byte strings"},
		{"datetime", 1, "{'descr': '<M8[ns]', 'fortran_order': False, 'shape': (3,), }", array.ErrDType, "datetime64"},
		{"float128", 1, "{'descr': '<f16', 'fortran_order': False, 'shape': (3,), }", array.ErrDType, "extended precision"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, err := array.ParseHeader([2]byte{tc.version, 0}, []byte(tc.dict), lim)
			if err == nil {
				t.Fatalf("ParseHeader(%q) = %+v, want an error", tc.dict, h)
			}
			checkErr(t, err, tc.err, tc.says)
		})
	}
}

// TestParseHeaderDefaultLimits checks that the zero Limits take the
// documented defaults.
func TestParseHeaderDefaultLimits(t *testing.T) {
	dict := func(shape string) []byte {
		return []byte("{'descr': '|u1', 'fortran_order': False, 'shape': " + shape + ", }")
	}
	if _, err := array.ParseHeader([2]byte{1, 0}, dict(fmt.Sprintf("(%d,)", array.DefaultMaxData)), array.Limits{}); err != nil {
		t.Errorf("1 GiB: %v", err)
	}
	_, err := array.ParseHeader([2]byte{1, 0}, dict(fmt.Sprintf("(%d,)", array.DefaultMaxData+1)), array.Limits{})
	checkErr(t, err, array.ErrLimit, "over the limit of 1073741824")

	if _, err := array.ParseHeader([2]byte{1, 0}, dict("("+strings.Repeat("1,", 32)+")"), array.Limits{}); err != nil {
		t.Errorf("32 dims: %v", err)
	}
	_, err = array.ParseHeader([2]byte{1, 0}, dict("("+strings.Repeat("1,", 33)+")"), array.Limits{})
	checkErr(t, err, array.ErrLimit, "33 dimensions, over the limit of 32")

	long := append(dict("(1,)"), bytes.Repeat([]byte(" "), array.DefaultMaxHeader)...)
	_, err = array.ParseHeader([2]byte{1, 0}, long, array.Limits{})
	checkErr(t, err, array.ErrLimit, "over the limit of 10000")
}

func TestCount(t *testing.T) {
	tests := []struct {
		shape    []int
		count    int64
		countErr error
		size     int64
		sizeErr  error
	}{
		{nil, 1, nil, 8, nil},
		{[]int{}, 1, nil, 8, nil},
		{[]int{0}, 0, nil, 0, nil},
		{[]int{3, 4}, 12, nil, 96, nil},
		{[]int{3, 0, 4}, 0, nil, 0, nil},
		{[]int{1 << 30, 1 << 30}, 1 << 60, nil, 0, array.ErrLimit},
		{[]int{1 << 30, 1 << 30, 1 << 30}, 0, array.ErrLimit, 0, array.ErrLimit},
		{[]int{1 << 30, 1 << 30, 1 << 30, 0}, 0, array.ErrLimit, 0, array.ErrLimit},
		{[]int{-1}, 0, array.ErrHeader, 0, array.ErrHeader},
		{[]int{0, -1}, 0, array.ErrHeader, 0, array.ErrHeader},
	}
	says := map[error]string{array.ErrLimit: "overflows int64", array.ErrHeader: "negative dimension -1"}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.shape), func(t *testing.T) {
			h := array.Header{Descr: f8, Shape: tc.shape}
			n, err := h.Count()
			if tc.countErr != nil {
				checkErr(t, err, tc.countErr, says[tc.countErr])
			} else if err != nil || n != tc.count {
				t.Errorf("Count = %d, %v; want %d", n, err, tc.count)
			}
			size, err := h.DataSize()
			if tc.sizeErr != nil {
				checkErr(t, err, tc.sizeErr, says[tc.sizeErr])
			} else if err != nil || size != tc.size {
				t.Errorf("DataSize = %d, %v; want %d", size, err, tc.size)
			}
		})
	}
}

func TestDataSizeUnsupportedDType(t *testing.T) {
	h := array.Header{Descr: array.DType{Kind: 'f', Size: 8}, Shape: []int{3}}
	_, err := h.DataSize()
	checkErr(t, err, array.ErrDType, "byte order")
}

// TestAppendHeaderGolden checks headers numpy 1.24 wrote (copied from its
// output) so the codec is checked where numpy is not installed too.
func TestAppendHeaderGolden(t *testing.T) {
	tests := []struct {
		name string
		h    array.Header
		want string
	}{
		{"(3, 4) C", array.Header{Descr: f8, Shape: []int{3, 4}},
			"\x93NUMPY\x01\x00v\x00{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }" + strings.Repeat(" ", 58) + "\n"},
		{"(3, 4) F", array.Header{Descr: f8, FortranOrder: true, Shape: []int{3, 4}},
			"\x93NUMPY\x01\x00v\x00{'descr': '<f8', 'fortran_order': True, 'shape': (3, 4), }" + strings.Repeat(" ", 59) + "\n"},
		{"0-d", array.Header{Descr: f8},
			"\x93NUMPY\x01\x00v\x00{'descr': '<f8', 'fortran_order': False, 'shape': (), }" + strings.Repeat(" ", 62) + "\n"},
		{"(3,) >i2", array.Header{Descr: array.DType{Kind: 'i', Size: 2, Order: '>'}, Shape: []int{3}},
			"\x93NUMPY\x01\x00v\x00{'descr': '>i2', 'fortran_order': False, 'shape': (3,), }" + strings.Repeat(" ", 60) + "\n"},
		{"padded by a full 64 bytes", array.Header{Descr: f8, Shape: []int{0, 1, 1, 1, 1, 1, 1, 1, 1e17}},
			"\x93NUMPY\x01\x00\xb6\x00{'descr': '<f8', 'fortran_order': False, 'shape': (0, 1, 1, 1, 1, 1, 1, 1, 100000000000000000), }" +
				strings.Repeat(" ", 20+64) + "\n"},
		{"growth axis is the last in Fortran order", array.Header{Descr: f8, FortranOrder: true, Shape: []int{1000, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2}},
			"\x93NUMPY\x01\x00\xb6\x00{'descr': '<f8', 'fortran_order': True, 'shape': (1000, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2), }" +
				strings.Repeat(" ", 84) + "\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := array.AppendHeader([]byte("prefix"), tc.h)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != "prefix"+tc.want {
				t.Errorf("AppendHeader =\n%q\nwant\n%q", got, "prefix"+tc.want)
			}
		})
	}
}

// TestAppendHeaderPadding checks the length and alignment rules over many
// shapes: a multiple of 64 bytes, ending in a newline, 1 to 64 bytes of
// padding, re-read as the same header.
func TestAppendHeaderPadding(t *testing.T) {
	for dims := 0; dims <= 32; dims++ {
		for _, big := range []int{0, 7, 123456789, math.MaxInt32} {
			shape := ones(dims)
			if dims > 0 {
				shape[dims-1] = big
			}
			h := array.Header{Descr: array.DType{Kind: 'c', Size: 16, Order: '>'}, Shape: shape}
			b, err := array.AppendHeader(nil, h)
			if err != nil {
				t.Fatal(err)
			}
			if len(b)%64 != 0 || b[len(b)-1] != '\n' {
				t.Fatalf("shape %v: %d bytes ending %q, want a multiple of 64 ending '\\n'", shape, len(b), b[len(b)-1])
			}
			dictEnd := bytes.LastIndexByte(b, '}') + 1
			if pad := len(b) - 1 - dictEnd; pad < 1 || pad > 64+21 {
				t.Errorf("shape %v: %d spaces, want 1 to 85", shape, pad)
			}
			got, rest, err := readHeader(b, array.Limits{MaxData: math.MaxInt64})
			if err != nil || len(rest) != 0 {
				t.Fatalf("shape %v: re-read: %v, %d bytes left", shape, err, len(rest))
			}
			h.Version = [2]byte{1, 0}
			if !reflect.DeepEqual(got, h) {
				t.Errorf("re-read %+v, want %+v", got, h)
			}
		}
	}
}

// TestAppendHeaderVersion2 checks that a header too long for a uint16
// length is written as version 2.0, as numpy does.
func TestAppendHeaderVersion2(t *testing.T) {
	version := func(dims int) (byte, int) {
		b, err := array.AppendHeader(nil, array.Header{Descr: f8, Shape: make([]int, dims)})
		if err != nil {
			t.Fatal(err)
		}
		return b[6], len(b)
	}
	// Find the most dimensions that still fit 1.0: each adds "0, ".
	lo, hi := 1, 25000
	if v, _ := version(hi); v != 2 {
		t.Fatalf("%d dims: version %d, want 2", hi, v)
	}
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		if v, _ := version(mid); v == 1 {
			lo = mid
		} else {
			hi = mid
		}
	}
	if _, n := version(lo); n-10 > math.MaxUint16 || n-10+3 <= math.MaxUint16-64 {
		t.Errorf("largest 1.0 header: %d bytes after the preamble, want within 67 of 65535", n-10)
	}

	h := array.Header{Descr: f8, Shape: make([]int, hi)}
	b, err := array.AppendHeader(nil, h)
	if err != nil {
		t.Fatal(err)
	}
	if len(b)%64 != 0 {
		t.Errorf("2.0 header is %d bytes, want a multiple of 64", len(b))
	}
	if n := binary.LittleEndian.Uint32(b[8:]); int(n) != len(b)-12 {
		t.Errorf("header length field %d, want %d", n, len(b)-12)
	}
	got, _, err := readHeader(b, array.Limits{MaxHeader: 1 << 20, MaxDims: hi})
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != [2]byte{2, 0} || len(got.Shape) != hi {
		t.Errorf("re-read version %v with %d dims, want 2.0 with %d", got.Version, len(got.Shape), hi)
	}
}

func TestAppendHeaderRejects(t *testing.T) {
	tests := []struct {
		name string
		h    array.Header
		err  error
		says string
	}{
		{"zero dtype", array.Header{Shape: []int{3}}, array.ErrDType, "kind"},
		{"no byte order", array.Header{Descr: array.DType{Kind: 'f', Size: 8}, Shape: []int{3}}, array.ErrDType, "byte order"},
		{"pipe on f8", array.Header{Descr: array.DType{Kind: 'f', Size: 8, Order: '|'}}, array.ErrDType, "byte order"},
		{"unicode", array.Header{Descr: array.DType{Kind: 'U', Size: 4, Order: '<'}}, array.ErrDType, "'U'"},
		{"negative", array.Header{Descr: f8, Shape: []int{3, -4}}, array.ErrHeader, "negative dimension -4"},
		{"overflow", array.Header{Descr: f8, Shape: []int{1 << 30, 1 << 30}}, array.ErrLimit, "overflows int64"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dst := []byte("keep")
			b, err := array.AppendHeader(dst, tc.h)
			checkErr(t, err, tc.err, tc.says)
			if string(b) != "keep" {
				t.Errorf("AppendHeader returned %q on error, want dst unchanged", b)
			}
		})
	}
}

// TestErrorsAreDistinct checks the sentinels can be told apart.
func TestErrorsAreDistinct(t *testing.T) {
	all := []error{array.ErrNotNPY, array.ErrVersion, array.ErrHeader, array.ErrDType, array.ErrLimit, array.ErrView}
	for i, a := range all {
		for j, b := range all {
			if i != j && errors.Is(a, b) {
				t.Errorf("%v is %v", a, b)
			}
		}
		if !strings.HasPrefix(a.Error(), "array: ") {
			t.Errorf("%q does not start with the package name", a)
		}
	}
}
