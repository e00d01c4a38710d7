package array_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"reflect"
	"testing"
	"time"

	"github.com/edgeloop/edgeloop/protocols/array"
)

// codecPython is Debian's python3, which has numpy (the pyenv python3 on
// PATH does not).
const codecPython = "/usr/bin/python3"

// runNumpy runs a Python script with numpy and decodes its JSON output into
// v. It skips the test when python3 or numpy is missing, and fails it
// instead when CI=true.
func runNumpy(t *testing.T, script string, stdin []byte, v any) {
	t.Helper()
	if out, err := exec.Command(codecPython, "-c", "import numpy").CombinedOutput(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s with numpy is missing (CI=true, so this fails): %v %s", codecPython, err, bytes.TrimSpace(out))
		}
		t.Skipf("%s with numpy is missing (apt-get install python3-numpy): %v", codecPython, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, codecPython, "-c", script)
	cmd.Stdin = bytes.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, stderr.Bytes())
	}
	if err := json.Unmarshal(out, v); err != nil {
		t.Fatalf("python output: %v", err)
	}
}

// writeArrayScript writes a spread of arrays with numpy.lib.format.write_array
// and prints each case with the NPY bytes numpy wrote.
const writeArrayScript = `
import base64, io, json, sys, warnings
import numpy as np
warnings.simplefilter("ignore")
dtypes = ["|b1", "|i1", "|u1"] + [o + k for k in
          ["i2", "i4", "i8", "u2", "u4", "u8", "f2", "f4", "f8", "c8", "c16"]
          for o in "<>"]
# The last two shapes make numpy pad by a full 64 bytes for most dtypes,
# where an error in the growth axis (the last one in Fortran order) shows.
shapes = [(), (0,), (1,), (3, 40), (2, 3, 4), (1,) * 32, (12345678901, 0),
          (0, 1, 1, 1, 1, 1, 1, 1, 10**17), (1000,) + (1,) * 12 + (2,)]
cases = []
for dt in dtypes:
    for shape in shapes:
        size = int(np.prod(shape))
        flat = np.arange(size) % (2 if dt == "|b1" else 100)
        for order in "CF":
            a = np.array(flat.astype(dt).reshape(shape), order=order)
            for version in [None, (1, 0), (2, 0), (3, 0)]:
                buf = io.BytesIO()
                np.lib.format.write_array(buf, a, version=version, allow_pickle=False)
                cases.append({
                    "numpy": np.__version__,
                    "descr": a.dtype.str,
                    "shape": list(a.shape),
                    "order": order,
                    "fortran": bool(a.flags.f_contiguous and not a.flags.c_contiguous),
                    "version": list(version) if version else None,
                    "npy": base64.b64encode(buf.getvalue()).decode(),
                })
json.dump(cases, sys.stdout)
`

// numpyCase is one array numpy wrote.
type numpyCase struct {
	Numpy   string
	Descr   string
	Shape   []int
	Order   string
	Fortran bool
	Version []int
	NPY     string
}

// TestNumpyHeaders reads headers numpy wrote for every supported dtype and
// byte order, C and Fortran order, shapes from 0-d to 32-d and versions 1.0
// (numpy's choice), 2.0 and 3.0, and checks that AppendHeader writes
// numpy's bytes exactly.
func TestNumpyHeaders(t *testing.T) {
	var cases []numpyCase
	runNumpy(t, writeArrayScript, nil, &cases)
	if want := 25 * 9 * 2 * 4; len(cases) != want {
		t.Fatalf("numpy wrote %d cases, want %d", len(cases), want)
	}
	t.Logf("numpy %s", cases[0].Numpy)
	fortran := 0
	for _, c := range cases {
		name := fmt.Sprintf("%s/shape%v/%s/version%v", c.Descr, c.Shape, c.Order, c.Version)
		npy, err := base64.StdEncoding.DecodeString(c.NPY)
		if err != nil {
			t.Fatal(err)
		}
		h, data, err := readHeader(npy, array.Limits{MaxData: math.MaxInt64})
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		version := [2]byte{1, 0}
		if c.Version != nil {
			version = [2]byte{byte(c.Version[0]), byte(c.Version[1])}
		}
		want := array.Header{Version: version, FortranOrder: c.Fortran, Shape: c.Shape}
		want.Descr, err = array.ParseDType(c.Descr)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(h, want) {
			t.Errorf("%s: ParseHeader = %+v, want %+v", name, h, want)
		}
		if h.Descr.String() != c.Descr {
			t.Errorf("%s: descr %q, numpy wrote %q", name, h.Descr, c.Descr)
		}
		if h.FortranOrder {
			fortran++
		}
		if size, err := h.DataSize(); err != nil || size != int64(len(data)) {
			t.Errorf("%s: DataSize = %d, %v; numpy wrote %d bytes", name, size, err, len(data))
		}
		header := npy[:len(npy)-len(data)]
		ours, err := array.AppendHeader(nil, h)
		if err != nil {
			t.Errorf("%s: AppendHeader: %v", name, err)
			continue
		}
		if version == [2]byte{1, 0} {
			if !bytes.Equal(ours, header) {
				t.Errorf("%s: AppendHeader =\n%q\nnumpy wrote\n%q", name, ours, header)
			}
		} else {
			// Other preamble lengths pad differently; the dicts match.
			n := len(header) - 12
			if got, want := bytes.TrimRight(ours[10:], " \n"), bytes.TrimRight(header[12:12+n], " \n"); !bytes.Equal(got, want) {
				t.Errorf("%s: AppendHeader dict %q, numpy wrote %q", name, got, want)
			}
		}
		if c.Order == "C" {
			checkValues(t, name, data, h)
		}
	}
	if fortran == 0 {
		t.Error("no case had fortran_order True")
	}
}

// checkValues checks that the typed view of data holds numpy's values, i %
// 100 (i % 2 for bool), when the dtype is in the host's byte order, and that
// it is refused otherwise.
func checkValues(t *testing.T, name string, data []byte, h array.Header) {
	t.Helper()
	got, err := values(data, h)
	if h.Descr.Size > 1 && h.Descr.Order != host {
		if !errors.Is(err, array.ErrView) {
			t.Errorf("%s: view of a non-host byte order: %v, want ErrView", name, err)
		}
		return
	}
	if err != nil {
		t.Errorf("%s: view: %v", name, err)
		return
	}
	mod := 100.0
	if h.Descr.Kind == 'b' {
		mod = 2
	}
	for i, v := range got {
		if v != math.Mod(float64(i), mod) {
			t.Errorf("%s: element %d is %v, numpy wrote %v", name, i, v, math.Mod(float64(i), mod))
			return
		}
	}
}

// values views data with the function for h's dtype and converts the
// elements to float64; for complex types the imaginary parts must be 0.
func values(data []byte, h array.Header) ([]float64, error) {
	var out []float64
	add := func(v float64) { out = append(out, v) }
	var err error
	switch int(h.Descr.Kind)<<8 | h.Descr.Size {
	case 'b'<<8 | 1:
		var s []bool
		s, err = array.Bools(data, h)
		for _, v := range s {
			if v {
				add(1)
			} else {
				add(0)
			}
		}
	case 'i'<<8 | 1:
		err = each(array.Int8s(data, h))(add)
	case 'i'<<8 | 2:
		err = each(array.Int16s(data, h))(add)
	case 'i'<<8 | 4:
		err = each(array.Int32s(data, h))(add)
	case 'i'<<8 | 8:
		err = each(array.Int64s(data, h))(add)
	case 'u'<<8 | 1:
		err = each(array.Uint8s(data, h))(add)
	case 'u'<<8 | 2:
		err = each(array.Uint16s(data, h))(add)
	case 'u'<<8 | 4:
		err = each(array.Uint32s(data, h))(add)
	case 'u'<<8 | 8:
		err = each(array.Uint64s(data, h))(add)
	case 'f'<<8 | 2:
		var s []uint16
		s, err = array.Float16Bits(data, h)
		for _, v := range s {
			add(halfToFloat(v))
		}
	case 'f'<<8 | 4:
		err = each(array.Float32s(data, h))(add)
	case 'f'<<8 | 8:
		err = each(array.Float64s(data, h))(add)
	case 'c'<<8 | 8:
		var s []complex64
		s, err = array.Complex64s(data, h)
		for _, v := range s {
			if imag(v) != 0 {
				return nil, errors.New("imaginary part not 0")
			}
			add(float64(real(v)))
		}
	case 'c'<<8 | 16:
		var s []complex128
		s, err = array.Complex128s(data, h)
		for _, v := range s {
			if imag(v) != 0 {
				return nil, errors.New("imaginary part not 0")
			}
			add(real(v))
		}
	default:
		return nil, errors.New("no view for " + h.Descr.String())
	}
	return out, err
}

// each returns a function that passes the elements of s, converted to
// float64, to add, and returns err.
func each[T int8 | int16 | int32 | int64 | uint8 | uint16 | uint32 | uint64 | float32 | float64](s []T, err error) func(func(float64)) error {
	return func(add func(float64)) error {
		for _, v := range s {
			add(float64(v))
		}
		return err
	}
}

// halfToFloat converts IEEE 754 half-precision bits to a float64, for the
// normal numbers and zeros these tests use.
func halfToFloat(h uint16) float64 {
	exp := int(h>>10) & 0x1f
	frac := float64(h & 0x3ff)
	if exp == 0 {
		return math.Ldexp(frac, -24)
	}
	v := math.Ldexp(1+frac/1024, exp-15)
	if h&0x8000 != 0 {
		v = -v
	}
	return v
}

// readHeaderScript reads each header of a JSON list with numpy's own
// header reader (the one numpy.load and read_array use) and prints what it
// made of it.
const readHeaderScript = `
import base64, io, json, sys
import numpy as np
from numpy.lib import format as fmt
out = []
for b64 in json.load(sys.stdin):
    f = io.BytesIO(base64.b64decode(b64))
    try:
        version = fmt.read_magic(f)
        shape, fortran, dtype = fmt._read_array_header(f, version)
        out.append({"ok": True, "descr": dtype.str, "fortran": fortran,
                    "shape": [int(x) for x in shape]})
    except Exception as e:
        out.append({"ok": False, "err": type(e).__name__ + ": " + str(e).splitlines()[0]})
json.dump(out, sys.stdout)
`

// TestNumpyAgrees checks ParseHeader against numpy's own header reader on
// hand-written dicts: where numpy accepts a dict with a supported dtype,
// ParseHeader must give the same header; where numpy rejects one, so must
// ParseHeader. The cases where they knowingly differ say why.
func TestNumpyAgrees(t *testing.T) {
	const (
		pre  = "{'descr': '<f8', 'fortran_order': False, 'shape': "
		post = ", }\n"
	)
	tests := []struct {
		name    string
		version byte
		dict    string
		differs string // why ParseHeader rejects what numpy accepts
	}{
		{"numpy's own", 1, pre + "(3, 4)" + post, ""},
		{"double quotes", 1, `{"descr": "<f8", "fortran_order": False, "shape": (3, 4)}`, ""},
		{"keys reordered", 1, "{'shape': (2,), 'fortran_order': True, 'descr': '>i4'}", ""},
		{"no trailing comma", 1, "{'descr':'<f8','fortran_order':False,'shape':(3,4)}", ""},
		{"tuple trailing comma", 1, pre + "(3, 4,)" + post, ""},
		{"0-d", 1, pre + "()" + post, ""},
		{"comments", 1, "{'descr': '<f8', # d\n 'fortran_order': False, 'shape': (3,)} # x\n", ""},
		{"form feed and tabs", 1, "\f{\t'descr': '<f8',\f'fortran_order': False, 'shape': (3,)}\f\n", ""},
		{"CRLF", 1, "{'descr': '<f8',\r\n'fortran_order': False,\r\n'shape': (3,)}\r\n", ""},
		{"parenthesized", 1, "{('descr'): ('<f8'), 'fortran_order': (False), 'shape': ((3), +(4))}", ""},
		{"parenthesized tuple", 1, pre + "(((3, 4)))" + post, ""},
		{"concatenated", 1, "{'descr': '<' \"f8\", 'fortran_order': False, 'shape': (3,)}", ""},
		{"triple-quoted", 1, "{'''descr''': '''<f8''', 'fortran_order': False, 'shape': (3,)}", ""},
		{"python 2 long", 1, pre + "(3L, 4L)" + post, ""},
		{"python 2 long, space", 2, pre + "(3 L,)" + post, ""},
		{"python 2 long in 3.0", 3, pre + "(3L,)" + post, ""},
		{"zeros", 1, pre + "(-0, 00, +0)" + post, ""},
		{"native order =", 1, "{'descr': '=f8', 'fortran_order': False, 'shape': (3,)}", ""},
		{"native order |", 1, "{'descr': '|f8', 'fortran_order': False, 'shape': (3,)}", ""},
		{"no order", 1, "{'descr': 'i2', 'fortran_order': False, 'shape': (3,)}", ""},
		{"order on one byte", 1, "{'descr': '>i1', 'fortran_order': False, 'shape': (3,)}", ""},
		{"bool <b1", 1, "{'descr': '<b1', 'fortran_order': False, 'shape': (3,)}", ""},
		{"3.0 UTF-8 comment", 3, pre + "(3,)} # \u00e9t\u00e9\n", ""},
		{"empty", 1, "", ""},
		{"empty dict", 1, "{}", ""},
		{"missing key", 1, "{'descr': '<f8', 'shape': (3,)}", ""},
		{"extra key", 1, pre + "(3,), 'x': 1}", ""},
		{"unbalanced", 1, pre + "(3, 4" + post, ""},
		{"extra paren", 1, pre + "(3, 4))" + post, ""},
		{"shape list", 1, pre + "[3, 4]" + post, ""},
		{"shape int", 1, pre + "(3)" + post, ""},
		{"shape float", 1, pre + "(3.0,)" + post, ""},
		{"shape leading zero", 1, pre + "(03,)" + post, ""},
		{"shape expression", 1, pre + "(3*4,)" + post, ""},
		{"double sign", 1, pre + "(- -3,)" + post, ""},
		{"fortran_order 0", 1, "{'descr': '<f8', 'fortran_order': 0, 'shape': (3,)}", ""},
		{"fortran_order None", 1, "{'descr': '<f8', 'fortran_order': None, 'shape': (3,)}", ""},
		{"newline in string", 1, "{'descr': '<f\n8', 'fortran_order': False, 'shape': (3,)}", ""},
		{"text after", 1, pre + "(3,)} x", ""},
		{"NUL", 1, pre + "(3,)}\x00", ""},
		{"bad dtype", 1, "{'descr': '<f3', 'fortran_order': False, 'shape': (3,)}", ""},
		{"unicode dtype", 1, "{'descr': '<U8', 'fortran_order': False, 'shape': (3,)}", "unsupported dtype"},
		{"object dtype", 1, "{'descr': '|O', 'fortran_order': False, 'shape': (3,)}", "unsupported dtype"},
		{"structured", 1, "{'descr': [('a', '<i4'), ('b', '<f8')], 'fortran_order': False, 'shape': (3,)}", "unsupported dtype"},
		{"subarray", 1, "{'descr': ('<i4', (2,)), 'fortran_order': False, 'shape': (3,)}", "unsupported dtype"},
		{"float128", 1, "{'descr': '<f16', 'fortran_order': False, 'shape': (3,)}", "unsupported dtype"},
		{"negative", 1, pre + "(3, -1)" + post, "numpy's header reader takes any int; its read_array fails later"},
		{"huge", 1, pre + "(99999999999999999999,)" + post, "numpy's header reader takes any int; its read_array fails later"},
		{"duplicate key", 1, pre + "(3,), 'shape': (4,)}", "Python keeps the last value; a header with two is malformed"},
		{"hex", 1, pre + "(0x3,)" + post, "only decimal integers"},
		{"underscore", 1, pre + "(1_000,)" + post, "only decimal integers"},
		{"escape", 1, `{'descr': '\x3cf8', 'fortran_order': False, 'shape': (3,)}`, "no string escapes"},
		{"prefix", 1, "{'descr': u'<f8', 'fortran_order': False, 'shape': (3,)}", "no string prefixes"},
		{"bool dim", 1, pre + "(True,)" + post, "a bool is an int to Python"},
	}
	var in []string
	for _, tc := range tests {
		in = append(in, base64.StdEncoding.EncodeToString(append(preamble(tc.version, uint32(len(tc.dict))), tc.dict...)))
	}
	stdin, _ := json.Marshal(in)
	var results []struct {
		OK      bool
		Descr   string
		Fortran bool
		Shape   []json.Number
		Err     string
	}
	runNumpy(t, readHeaderScript, stdin, &results)
	if len(results) != len(tests) {
		t.Fatalf("numpy read %d headers, want %d", len(results), len(tests))
	}
	for i, tc := range tests {
		np := results[i]
		t.Run(tc.name, func(t *testing.T) {
			h, err := array.ParseHeader([2]byte{tc.version, 0}, []byte(tc.dict), array.Limits{})
			switch {
			case tc.differs != "":
				if !np.OK {
					t.Fatalf("numpy rejects it too (%s); drop the 'differs'", np.Err)
				}
				if err == nil {
					t.Fatalf("ParseHeader accepts it (%+v), want a rejection: %s", h, tc.differs)
				}
			case !np.OK:
				if err == nil {
					t.Errorf("numpy rejects it (%s), ParseHeader accepts it: %+v", np.Err, h)
				}
			case err != nil:
				t.Errorf("numpy reads %+v, ParseHeader: %v", np, err)
			default:
				if h.Descr.String() != np.Descr || h.FortranOrder != np.Fortran || fmt.Sprint(h.Shape) != fmt.Sprint(np.Shape) {
					t.Errorf("ParseHeader = %+v, numpy reads %+v", h, np)
				}
			}
		})
	}
}
