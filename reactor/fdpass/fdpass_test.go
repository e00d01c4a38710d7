package fdpass_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/edgeloop/edgeloop/internal/conformance"
	"github.com/edgeloop/edgeloop/reactor/fdpass"
	"golang.org/x/sys/unix"
)

// socketPair returns two connected Unix stream sockets, closed when the
// test ends, each with a deadline so that a hang fails fast.
func socketPair(t testing.TB) (*net.UnixConn, *net.UnixConn) {
	t.Helper()
	fds, err := socketpair()
	if err != nil {
		t.Fatal(err)
	}
	conn := func(fd int) *net.UnixConn {
		f := os.NewFile(uintptr(fd), "socketpair")
		defer f.Close()
		c, err := net.FileConn(f)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(10 * time.Second))
		return c.(*net.UnixConn)
	}
	return conn(fds[0]), conn(fds[1])
}

// pipeFiles makes n pipes and returns their write ends, each written with
// its index once received, and their read ends, to check that the
// descriptors received are the same open files.
func pipeFiles(t *testing.T, n int) (readers, writers []*os.File) {
	t.Helper()
	for i := 0; i < n; i++ {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close(); w.Close() })
		readers, writers = append(readers, r), append(writers, w)
	}
	return readers, writers
}

func fdCount(t *testing.T) int {
	t.Helper()
	n, err := conformance.CountFDs()
	if err != nil {
		t.Skipf("cannot count descriptors: %v", err)
	}
	return n
}

// TestSendRecv: several descriptors with their data arrive as descriptors
// for the same open files, close-on-exec, with the data intact.
func TestSendRecv(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files int
		data  string
	}{
		{"files=0", 0, "plain bytes"},
		{"files=1", 1, "x"},
		{"files=3", 3, "three files"},
		{"files=16", 16, "many"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := socketPair(t)
			readers, writers := pipeFiles(t, tc.files)
			if err := fdpass.Send(a, []byte(tc.data), writers...); err != nil {
				t.Fatalf("Send: %v", err)
			}
			buf := make([]byte, 64)
			n, files, err := fdpass.Recv(b, buf, tc.files)
			if err != nil {
				t.Fatalf("Recv: %v", err)
			}
			defer func() {
				for _, f := range files {
					f.Close()
				}
			}()
			if got := string(buf[:n]); got != tc.data {
				t.Errorf("data %q, want %q", got, tc.data)
			}
			if len(files) != tc.files {
				t.Fatalf("%d files, want %d", len(files), tc.files)
			}
			for i, f := range files {
				checkCloexec(t, f)
				if _, err := f.Write([]byte{byte(i)}); err != nil {
					t.Fatalf("write to received file %d: %v", i, err)
				}
				var got [1]byte
				if _, err := io.ReadFull(readers[i], got[:]); err != nil || got[0] != byte(i) {
					t.Fatalf("pipe %d read %v, %v: the received file is not the one sent", i, got, err)
				}
			}
		})
	}
}

// checkCloexec fails t unless f's descriptor is close-on-exec.
func checkCloexec(t *testing.T, f *os.File) {
	t.Helper()
	rc, err := f.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var flags int
	var ferr error
	rc.Control(func(fd uintptr) { flags, ferr = unix.FcntlInt(fd, unix.F_GETFD, 0) })
	if ferr != nil {
		t.Fatal(ferr)
	}
	if flags&unix.FD_CLOEXEC == 0 {
		t.Errorf("received descriptor not close-on-exec (F_GETFD %#x)", flags)
	}
}

// TestRecvTruncated: more descriptors than the receiver makes room for is
// ErrTruncated (MSG_CTRUNC), and the descriptors that did fit are closed,
// not leaked: the process has as many as before.
func TestRecvTruncated(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("counts descriptors in /proc/self/fd")
	}
	a, b := socketPair(t)
	_, writers := pipeFiles(t, 8)
	before := fdCount(t)
	if err := fdpass.Send(a, []byte("x"), writers...); err != nil {
		t.Fatal(err)
	}
	// Room for one rounds up to two on 64-bit Linux: some arrive, some not.
	n, files, err := fdpass.Recv(b, make([]byte, 8), 1)
	if !errors.Is(err, fdpass.ErrTruncated) {
		t.Fatalf("Recv = %d, %d files, %v; want ErrTruncated", n, len(files), err)
	}
	if files != nil {
		t.Errorf("%d files returned with the error", len(files))
	}
	if after := fdCount(t); after != before {
		t.Errorf("%d descriptors after a truncated receive, %d before: leaked\n%s", after, before, conformance.FDs())
	}
}

// TestRecvErrors: the other ends of a receive.
func TestRecvErrors(t *testing.T) {
	t.Run("eof", func(t *testing.T) {
		a, b := socketPair(t)
		a.Close()
		if _, _, err := fdpass.Recv(b, make([]byte, 8), 1); !errors.Is(err, io.EOF) {
			t.Errorf("Recv after the peer closed: %v, want io.EOF", err)
		}
	})
	t.Run("send-no-data", func(t *testing.T) {
		a, _ := socketPair(t)
		_, writers := pipeFiles(t, 1)
		if err := fdpass.Send(a, nil, writers...); !errors.Is(err, fdpass.ErrNoData) {
			t.Errorf("Send of a file with no data: %v, want ErrNoData", err)
		}
	})
	t.Run("data-split", func(t *testing.T) {
		// A long message: the descriptor comes with the first bytes, and
		// the rest follows as plain data.
		a, b := socketPair(t)
		_, writers := pipeFiles(t, 1)
		data := bytes.Repeat([]byte("0123456789"), 100_000)
		errc := make(chan error, 1)
		go func() { errc <- fdpass.Send(a, data, writers...) }()
		var got []byte
		var files []*os.File
		buf := make([]byte, 64<<10)
		for len(got) < len(data) {
			n, fs, err := fdpass.Recv(b, buf, 1)
			if err != nil {
				t.Fatalf("Recv after %d bytes: %v", len(got), err)
			}
			got, files = append(got, buf[:n]...), append(files, fs...)
		}
		for _, f := range files {
			f.Close()
		}
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, data) || len(files) != 1 {
			t.Errorf("%d bytes (equal: %v), %d files; want %d bytes, 1 file", len(got), bytes.Equal(got, data), len(files), len(data))
		}
	})
}
