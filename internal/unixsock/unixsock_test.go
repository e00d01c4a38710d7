package unixsock_test

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/edgeloop/edgeloop/internal/unixsock"
	"golang.org/x/sys/unix"
)

// sockPath returns a path in a fresh short directory (t.TempDir's may not
// fit in sun_path).
func sockPath(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "us")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "s.sock")
}

// listen binds a socket at path and keeps it listening until the test ends.
func listen(t *testing.T, path string) *net.UnixListener {
	t.Helper()
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

func TestPath(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"/run/x.sock", "/run/x.sock"},
		{"unix:///run/x.sock", "/run/x.sock"},
		{"rel.sock", "rel.sock"},
		{"unix://@name", "@name"},
	} {
		if got := unixsock.Path(tc.in); got != tc.want {
			t.Errorf("Path(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestPrepare: a missing path and a stale socket are ready for a bind (the
// stale file is gone); a live socket, a regular file, a directory and a
// symbolic link are refused with EADDRINUSE and left in place; a path too
// long for sun_path is refused with ErrPathTooLong.
func TestPrepare(t *testing.T) {
	for _, tc := range []struct {
		name     string
		setup    func(t *testing.T, path string) string // returns the path to Prepare
		wantErr  error
		wantKept bool // the file must still be there afterwards
	}{
		{"missing", func(t *testing.T, p string) string { return p }, nil, false},
		{"stale", func(t *testing.T, p string) string {
			ln := listen(t, p)
			ln.SetUnlinkOnClose(false)
			ln.Close()
			return p
		}, nil, false},
		{"live", func(t *testing.T, p string) string { listen(t, p); return p }, syscall.EADDRINUSE, true},
		{"live-backlog-full", func(t *testing.T, p string) string {
			// A listener that never accepts, with its backlog filled:
			// a non-blocking connect gets EAGAIN, still "live".
			listen(t, p)
			for i := 0; i < 16384; i++ {
				fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { unix.Close(fd) })
				unix.SetNonblock(fd, true)
				if err := unix.Connect(fd, &unix.SockaddrUnix{Name: p}); err != nil {
					if err == unix.EAGAIN {
						return p
					}
					t.Fatalf("filling the backlog: %v", err)
				}
			}
			t.Skip("the backlog did not fill")
			return p
		}, syscall.EADDRINUSE, true},
		{"regular-file", func(t *testing.T, p string) string {
			if err := os.WriteFile(p, []byte("data"), 0o600); err != nil {
				t.Fatal(err)
			}
			return p
		}, syscall.EADDRINUSE, true},
		{"directory", func(t *testing.T, p string) string {
			if err := os.Mkdir(p, 0o700); err != nil {
				t.Fatal(err)
			}
			return p
		}, syscall.EADDRINUSE, true},
		{"symlink-to-stale", func(t *testing.T, p string) string {
			target := p + ".target"
			ln := listen(t, target)
			ln.SetUnlinkOnClose(false)
			ln.Close()
			if err := os.Symlink(target, p); err != nil {
				t.Fatal(err)
			}
			return p
		}, syscall.EADDRINUSE, true},
		{"too-long", func(t *testing.T, p string) string {
			return filepath.Join(filepath.Dir(p), strings.Repeat("y", 110))
		}, unixsock.ErrPathTooLong, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "live-backlog-full" && runtime.GOOS != "linux" {
				t.Skip("a full backlog refuses with EAGAIN on Linux")
			}
			path := tc.setup(t, sockPath(t))
			err := unixsock.Prepare(path)
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("Prepare: %v", err)
				}
			} else {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Prepare = %v, want %v", err, tc.wantErr)
				}
				if !strings.Contains(err.Error(), filepath.Base(path)) {
					t.Errorf("error %q does not name the path", err)
				}
				var se *os.SyscallError
				if tc.wantErr != unixsock.ErrPathTooLong && !errors.As(err, &se) {
					t.Errorf("error %q wraps no system call", err)
				}
			}
			_, serr := os.Lstat(path)
			if kept := serr == nil; kept != tc.wantKept {
				t.Errorf("after Prepare the path exists: %v, want %v", kept, tc.wantKept)
			}
		})
	}
}

// TestRemove: Remove unlinks the file Bound recorded, leaves a file that
// replaced it alone, and is quiet when the path is gone.
func TestRemove(t *testing.T) {
	for _, tc := range []struct {
		name     string
		between  func(t *testing.T, path string) // after Bound, before Remove
		wantKept bool
	}{
		{"ours", func(*testing.T, string) {}, false},
		{"gone", func(t *testing.T, p string) { os.Remove(p) }, false},
		{"successor", func(t *testing.T, p string) { os.Remove(p); listen(t, p) }, true},
		{"replaced-by-file", func(t *testing.T, p string) {
			os.Remove(p)
			os.WriteFile(p, nil, 0o600)
		}, true},
		// Handed to another process, which serves the same socket, same file.
		{"forgotten", nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := sockPath(t)
			ln := listen(t, path)
			ln.SetUnlinkOnClose(false)
			f, err := unixsock.Bound(path)
			if err != nil {
				t.Fatal(err)
			}
			if f.Path() != path {
				t.Errorf("Path() = %q, want %q", f.Path(), path)
			}
			ln.Close()
			if tc.between == nil {
				f.Forget()
			} else {
				tc.between(t, path)
			}
			if err := f.Remove(); err != nil {
				t.Fatalf("Remove: %v", err)
			}
			_, serr := os.Lstat(path)
			if kept := serr == nil; kept != tc.wantKept {
				t.Errorf("after Remove the path exists: %v, want %v", kept, tc.wantKept)
			}
		})
	}
}

// TestSibling: a fresh name in the same directory that fits in sun_path,
// also beside a path near the limit.
func TestSibling(t *testing.T) {
	dir := filepath.Dir(sockPath(t))
	for _, base := range []string{"s.sock", strings.Repeat("z", 100-len(dir))} {
		path := filepath.Join(dir, base)
		a, err := unixsock.Sibling(path)
		if err != nil {
			t.Fatalf("Sibling(%q): %v", path, err)
		}
		b, _ := unixsock.Sibling(path)
		if filepath.Dir(a) != dir || a == path || a == b {
			t.Errorf("Sibling(%q) = %q then %q: want two fresh names in %s", path, a, b, dir)
		}
		if _, err := unixsock.Sockaddr(a); err != nil {
			t.Errorf("Sibling(%q) = %q, which does not fit: %v", path, a, err)
		}
	}
}
