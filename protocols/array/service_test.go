package array_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgeloop/edgeloop/backend"
	"github.com/edgeloop/edgeloop/protocols/array"
	"github.com/edgeloop/edgeloop/reactor"
)

const deadline = 60 * time.Second // loose: gnet under -race on a loaded machine took over 20 s for 256 MiB

// serve runs the service on backend name and returns its address.
func serve(t *testing.T, name string, s *array.Service, opts ...reactor.Option) string {
	t.Helper()
	l, err := backend.New(name, append([]reactor.Option{reactor.WithLoops(1)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		l.Shutdown(ctx)
	})
	a, err := l.Listen("tcp", "127.0.0.1:0", s.Factory)
	if err != nil {
		t.Fatal(err)
	}
	return a.String()
}

// npy is a complete message: header and data.
func npy(t *testing.T, h array.Header, data []byte) []byte {
	t.Helper()
	b, err := array.AppendHeader(nil, h)
	if err != nil {
		t.Fatal(err)
	}
	return append(b, data...)
}

func dial(t *testing.T, addr string) *net.TCPConn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, deadline)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(deadline))
	return nc.(*net.TCPConn)
}

// TestRoundTrip: arrays come back byte-exact, one after another on one
// connection, on every backend; a 64 MiB one among them, written from a
// goroutine while the reply is read, as a client that streams does.
func TestRoundTrip(t *testing.T) {
	f8, _ := array.ParseDType("<f8")
	u1, _ := array.ParseDType("|u1")
	big := make([]byte, 64<<20)
	for i := range big {
		big[i] = byte(i * 31)
	}
	msgs := [][]byte{
		npy(t, array.Header{Descr: f8, Shape: []int{3, 4}}, bytes.Repeat([]byte{1, 2, 3, 4, 5, 6, 7, 8}, 12)),
		npy(t, array.Header{Descr: u1, Shape: []int{0}}, nil),
		npy(t, array.Header{Descr: f8, Shape: []int{}}, []byte{0, 0, 0, 0, 0, 0, 0xf0, 0x3f}),
		npy(t, array.Header{Descr: u1, FortranOrder: true, Shape: []int{8 << 20, 8}}, big),
	}
	for _, b := range backend.Names() {
		t.Run("backend="+b, func(t *testing.T) {
			nc := dial(t, serve(t, b, &array.Service{}))
			for i, m := range msgs {
				errc := make(chan error, 1)
				go func() { _, err := nc.Write(m); errc <- err }()
				got := make([]byte, len(m))
				if _, err := io.ReadFull(nc, got); err != nil {
					t.Fatalf("array %d: %v", i, err)
				}
				if err := <-errc; err != nil {
					t.Fatalf("array %d: write: %v", i, err)
				}
				if !bytes.Equal(got, m) {
					t.Fatalf("array %d (%d bytes) came back different", i, len(m))
				}
			}
		})
	}
}

// TestBadHeaderGetsOneLine: bad input gets "error: ...\n" and the close,
// and other connections are untouched.
func TestBadHeaderGetsOneLine(t *testing.T) {
	f8, _ := array.ParseDType("<f8")
	good := npy(t, array.Header{Descr: f8, Shape: []int{2}}, make([]byte, 16))
	for _, tc := range []struct {
		name, input, want string
	}{
		{"bad magic", "GARBAGE-NOT-NPY", "error: "},
		{"unsupported dtype", npyText(t, "{'descr': '|O', 'fortran_order': False, 'shape': (1,), }"), "error: "},
		{"negative shape", npyText(t, "{'descr': '<f8', 'fortran_order': False, 'shape': (-1,), }"), "error: "},
		{"over the limit", npyText(t, "{'descr': '<f8', 'fortran_order': False, 'shape': (1000000,), }"), "error: "},
	} {
		for _, b := range backend.Names() {
			t.Run(tc.name+"/backend="+b, func(t *testing.T) {
				addr := serve(t, b, &array.Service{Limits: array.Limits{MaxData: 1 << 20}})
				other := dial(t, addr)
				nc := dial(t, addr)
				nc.Write([]byte(tc.input))
				got, err := io.ReadAll(nc)
				if err != nil || !strings.HasPrefix(string(got), tc.want) || strings.Count(string(got), "\n") != 1 || !strings.HasSuffix(string(got), "\n") {
					t.Fatalf("got %q, %v; want one line starting %q, then EOF", got, err, tc.want)
				}
				t.Logf("%s", bytes.TrimSpace(got))
				other.Write(good)
				back := make([]byte, len(good))
				if _, err := io.ReadFull(other, back); err != nil || !bytes.Equal(back, good) {
					t.Fatalf("another connection was affected: %v", err)
				}
			})
		}
	}
}

// npyText is a version 1.0 message with the given dict text, padded.
func npyText(t *testing.T, dict string) string {
	total := 10 + len(dict) + 1
	pad := (64 - total%64) % 64
	d := dict + strings.Repeat(" ", pad) + "\n"
	var b bytes.Buffer
	b.WriteString("\x93NUMPY\x01\x00")
	binary.Write(&b, binary.LittleEndian, uint16(len(d)))
	b.WriteString(d)
	return b.String()
}

// TestMemoryBudget: an array that does not fit the budget now waits,
// unanswered, until memory is released; one that could never fit gets an
// error; and a client that resets mid-array gives its memory back.
func TestMemoryBudget(t *testing.T) {
	u1, _ := array.ParseDType("|u1")
	for _, b := range backend.Names() {
		t.Run("backend="+b, func(t *testing.T) {
			mem := array.NewBudget(1 << 20)
			addr := serve(t, b, &array.Service{Memory: mem})
			// A takes 768 KiB and sends half of it.
			a := dial(t, addr)
			aMsg := npy(t, array.Header{Descr: u1, Shape: []int{768 << 10}}, make([]byte, 768<<10))
			half := len(aMsg) - 384<<10
			a.Write(aMsg[:half])
			waitUsed(t, mem, 768<<10)
			// B wants 512 KiB: it must wait, unanswered.
			bc := dial(t, addr)
			bMsg := npy(t, array.Header{Descr: u1, Shape: []int{512 << 10}}, bytes.Repeat([]byte{7}, 512<<10))
			go bc.Write(bMsg)
			bc.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			if n, err := bc.Read(make([]byte, 1)); n > 0 || !isTimeout(err) {
				t.Fatalf("B was answered (%d bytes, %v) while A held the memory", n, err)
			}
			bc.SetReadDeadline(time.Now().Add(deadline))
			// A finishes: its reply comes, then B is served.
			a.Write(aMsg[half:])
			if _, err := io.ReadFull(a, make([]byte, len(aMsg))); err != nil {
				t.Fatal(err)
			}
			back := make([]byte, len(bMsg))
			if _, err := io.ReadFull(bc, back); err != nil || !bytes.Equal(back, bMsg) {
				t.Fatalf("B after A: %v", err)
			}
			// C declares more than the budget: error, at once.
			c := dial(t, addr)
			c.Write(npy(t, array.Header{Descr: u1, Shape: []int{2 << 20}}, nil))
			got, _ := io.ReadAll(c)
			if !strings.HasPrefix(string(got), "error: ") {
				t.Fatalf("C got %q, want an error line", got)
			}
			// D resets mid-array: its memory comes back.
			d := dial(t, addr)
			dMsg := npy(t, array.Header{Descr: u1, Shape: []int{900 << 10}}, make([]byte, 900<<10))
			d.Write(dMsg[:1000])
			waitUsed(t, mem, 900<<10)
			d.SetLinger(0)
			d.Close()
			waitUsed(t, mem, 0)
		})
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

func waitUsed(t *testing.T, mem *array.Budget, want int64) {
	t.Helper()
	end := time.Now().Add(deadline)
	for mem.Used() != want {
		if time.Now().After(end) {
			t.Fatalf("budget used %d, want %d", mem.Used(), want)
		}
		time.Sleep(time.Millisecond) // polling a counter, with a deadline
	}
}

// numpyScript round-trips a spread of arrays through the service with
// numpy's own NPY writer and reader, as ../shared/NOTES.md says to over a
// socket, and checks each with np.array_equal.
const numpyScript = `
import socket, sys
import numpy as np
from numpy.lib import format as fmt

class W:
    def __init__(s, sock): s.s = sock
    def write(s, b): s.s.sendall(b)

class R:
    def __init__(s, sock): s.s = sock
    def read(s, n):
        buf = bytearray()
        while len(buf) < n:
            c = s.s.recv(min(n - len(buf), 1 << 20))
            if not c:
                break
            buf += c
        return bytes(buf)

rng = np.random.default_rng(7)
cases = []
for dt in ['?', 'i1', 'i2', 'i4', 'i8', 'u1', 'u2', 'u4', 'u8', 'f2', 'f4', 'f8', 'c8', 'c16']:
    for order in ['<', '>']:
        d = np.dtype(dt).newbyteorder(order) if np.dtype(dt).itemsize > 1 else np.dtype(dt)
        a = (rng.random((3, 5)) * 100).astype(d)
        cases.append(a)
        cases.append(np.asfortranarray(a))
cases.append(np.array(3.5))                         # 0-d
cases.append(np.zeros((0,), dtype='f8'))           # empty
cases.append(np.zeros((3, 0, 2), dtype='i4'))      # empty, 3-d
cases.append(np.arange(24, dtype='u2').reshape((1,) * 29 + (2, 3, 4)))  # 32-d
cases.append(rng.random(1 << 20))                  # 8 MiB float64

s = socket.create_connection(('127.0.0.1', int(sys.argv[1])))
w, r = W(s), R(s)
for i, a in enumerate(cases):
    fmt.write_array(w, a, allow_pickle=False)
    b = fmt.read_array(r, allow_pickle=False)
    assert b.dtype == a.dtype, (i, a.dtype, b.dtype)
    assert b.shape == a.shape, (i, a.shape, b.shape)
    assert np.array_equal(a, b), i
    if a.ndim > 1:
        assert np.isfortran(a) == np.isfortran(b), i
print('ok', len(cases))
`

// TestNumpyRoundTrip: numpy, a client nobody here wrote, sends arrays of
// every supported dtype, byte order and memory order and gets them back
// equal, on every backend.
func TestNumpyRoundTrip(t *testing.T) {
	py := "/usr/bin/python3"
	if out, err := exec.Command(py, "-c", "import numpy").CombinedOutput(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s with numpy is missing; .ci/run installs python3-numpy: %v %s", py, err, out)
		}
		t.Skipf("%s with numpy is missing (apt-get install python3-numpy); CI runs this test", py)
	}
	for _, b := range backend.Names() {
		t.Run("backend="+b, func(t *testing.T) {
			addr := serve(t, b, &array.Service{})
			_, port, _ := net.SplitHostPort(addr)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, py, "-c", numpyScript, port).CombinedOutput()
			if err != nil || !strings.HasPrefix(string(out), "ok ") {
				t.Fatalf("numpy client: %v\n%s", err, out)
			}
			n, _ := strconv.Atoi(strings.Fields(string(out))[1])
			if n < 60 {
				t.Errorf("numpy round-tripped %d arrays, want the whole spread", n)
			}
		})
	}
}

// TestStalledClientFreesMemory: a client that sends a header and part of
// its array, then stalls, is closed by the idle timeout, and its array's
// memory goes back to the budget.
func TestStalledClientFreesMemory(t *testing.T) {
	u1, _ := array.ParseDType("|u1")
	for _, b := range backend.Names() {
		t.Run("backend="+b, func(t *testing.T) {
			mem := array.NewBudget(1 << 20)
			addr := serve(t, b, &array.Service{Memory: mem}, reactor.WithIdleTimeout(200*time.Millisecond))
			nc := dial(t, addr)
			msg := npy(t, array.Header{Descr: u1, Shape: []int{1 << 20}}, make([]byte, 1<<20))
			nc.Write(msg[:4096])
			waitUsed(t, mem, 1<<20)
			if _, err := io.ReadAll(nc); err != nil { // the idle close
				t.Fatalf("stalled client: %v, want EOF from the idle timeout", err)
			}
			waitUsed(t, mem, 0)
		})
	}
}

// TestClosedWaitersAreForgotten: connections that wait for memory and then
// reset leave the budget's waiting list, rather than piling up (each holds
// its header) for as long as the memory stays taken.
func TestClosedWaitersAreForgotten(t *testing.T) {
	u1, _ := array.ParseDType("|u1")
	for _, b := range backend.Names() {
		t.Run("backend="+b, func(t *testing.T) {
			if b == "net" {
				t.Skip("net: a connection whose handler wants neither input nor output is not read, " +
					"so a peer's reset goes unnoticed until the handler wants something or the idle " +
					"timeout closes it (see README's backend table)")
			}
			mem := array.NewBudget(1 << 20)
			addr := serve(t, b, &array.Service{Memory: mem})
			hold := dial(t, addr) // takes the whole budget and stalls
			hold.Write(npy(t, array.Header{Descr: u1, Shape: []int{1 << 20}}, nil))
			waitUsed(t, mem, 1<<20)
			for i := 0; i < 20; i++ {
				c := dial(t, addr)
				c.Write(npy(t, array.Header{Descr: u1, Shape: []int{4096}}, nil))
				waitFor(t, "a waiter", func() bool { return mem.Waiting() == 1 })
				c.SetLinger(0)
				c.Close()
				waitFor(t, "the closed waiter to be forgotten", func() bool { return mem.Waiting() == 0 })
			}
		})
	}
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	end := time.Now().Add(deadline)
	for !ok() {
		if time.Now().After(end) {
			t.Fatalf("waited %v for %s", deadline, what)
		}
		time.Sleep(time.Millisecond) // polling, with a deadline
	}
}
