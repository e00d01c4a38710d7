//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package unixsock

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// ErrPathTooLong is returned, wrapped with the path, for a path that does
// not fit in a sockaddr_un (sun_path: 108 bytes on Linux, 104 on the BSDs,
// including the terminating NUL).
var ErrPathTooLong = errors.New("unixsock: path too long for a Unix socket address")

// Path returns the socket path of address: address itself, or what follows
// the scheme of the URL form "unix:///path/to.sock".
func Path(address string) string {
	return strings.TrimPrefix(address, "unix://")
}

// Abstract reports whether path names a Linux abstract socket ("@name"),
// which has no file. Elsewhere "@" is an ordinary first character.
func Abstract(path string) bool {
	return runtime.GOOS == "linux" && strings.HasPrefix(path, "@")
}

// Sockaddr returns the socket address of path, or an error that says why it
// cannot be one: empty, or too long (x/sys would say only EINVAL).
func Sockaddr(path string) (*unix.SockaddrUnix, error) {
	if path == "" {
		return nil, fmt.Errorf("unixsock: empty socket path")
	}
	if max := maxPath(); len(path) > max {
		return nil, fmt.Errorf("%w: %q is %d bytes, at most %d", ErrPathTooLong, path, len(path), max)
	}
	return &unix.SockaddrUnix{Name: path}, nil
}

// maxPath is the longest path a sockaddr_un holds, leaving room for the
// terminating NUL (x/sys insists on it, even for abstract names).
func maxPath() int {
	var raw unix.RawSockaddrUnix
	return len(raw.Path) - 1
}

// Prepare readies path for a bind. A missing path is ready. A socket that
// nobody listens on (a connect is refused) is a stale file and is removed.
// A socket that a server listens on - the connect works, or the backlog is
// full (EAGAIN) - is refused with an error wrapping EADDRINUSE that says so.
// Anything else at the path (a regular file, a directory, a symbolic link)
// is refused and left alone. Abstract names need nothing.
func Prepare(path string) error {
	if Abstract(path) {
		return nil
	}
	sa, err := Sockaddr(path)
	if err != nil {
		return err
	}
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("unixsock: %w", err)
	case fi.Mode().Type() != os.ModeSocket:
		return fmt.Errorf("unixsock: %s is %s, not a socket; left alone: %w",
			path, kind(fi.Mode()), os.NewSyscallError("bind", unix.EADDRINUSE))
	}
	switch err := probe(sa); err {
	case unix.ECONNREFUSED:
		// Stale: its server is gone. Another may remove it first.
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("unixsock: remove stale socket: %w", err)
		}
		return nil
	case unix.ENOENT:
		return nil // removed meanwhile
	case nil, unix.EAGAIN, unix.EINPROGRESS:
		return fmt.Errorf("unixsock: %s: a server listens there: %w",
			path, os.NewSyscallError("bind", unix.EADDRINUSE))
	default:
		return fmt.Errorf("unixsock: probe %s: %w", path, os.NewSyscallError("connect", err))
	}
}

// kind names what a file of mode m is, for an error.
func kind(m os.FileMode) string {
	switch t := m.Type(); {
	case t == 0:
		return "a regular file"
	case t&os.ModeDir != 0:
		return "a directory"
	case t&os.ModeSymlink != 0:
		return "a symbolic link"
	default:
		return "a file of mode " + t.String()
	}
}

// probe makes a non-blocking connect to sa and returns its error: nil or
// EAGAIN/EINPROGRESS when a server listens, ECONNREFUSED when none does.
func probe(sa *unix.SockaddrUnix) error {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	unix.CloseOnExec(fd)
	if err := unix.SetNonblock(fd, true); err != nil {
		return err
	}
	for {
		err := unix.Connect(fd, sa)
		if err != unix.EINTR {
			return err
		}
	}
}

// File is the socket file a bind made: its path and its identity. Where
// the system allows (Linux: O_PATH) it holds a descriptor of the file, so
// that its inode cannot be freed and its number given to a successor's
// file, which would then pass for ours; elsewhere the identity is the
// device, inode and change time, and a successor made in the same clock
// tick on a reused inode number could pass for ours.
type File struct {
	path     string
	dev, ino uint64
	ctime    int64 // nanoseconds; 0 where the file is pinned
	pin      int   // descriptor of the file, or -1
}

// Bound records the file that a bind to path has just made. For an
// abstract name it returns nil, whose Remove does nothing.
func Bound(path string) (*File, error) {
	if Abstract(path) {
		return nil, nil
	}
	f := &File{path: path, pin: pin(path)}
	var st unix.Stat_t
	var err error
	if f.pin >= 0 {
		err = unix.Fstat(f.pin, &st)
	} else {
		err = unix.Lstat(path, &st)
		f.ctime = st.Ctim.Nano()
	}
	if err != nil {
		f.release()
		return nil, fmt.Errorf("unixsock: %w", &os.PathError{Op: "stat", Path: path, Err: err})
	}
	f.dev, f.ino = uint64(st.Dev), uint64(st.Ino)
	return f, nil
}

// Remove unlinks f's path if it is still the file Bound recorded: not if
// it is gone, nor if another socket (a successor server's) or anything else
// took the path since. It does its work once; later calls do nothing. A
// small race remains between the check and the unlink, as with any
// path-based removal.
func (f *File) Remove() error {
	if f == nil || f.path == "" {
		return nil
	}
	defer f.release()
	path := f.path
	f.path = ""
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		if err == unix.ENOENT {
			return nil
		}
		return fmt.Errorf("unixsock: %w", &os.PathError{Op: "lstat", Path: path, Err: err})
	}
	if uint64(st.Dev) != f.dev || uint64(st.Ino) != f.ino || (f.pin < 0 && st.Ctim.Nano() != f.ctime) {
		return nil // not ours any more
	}
	if err := unix.Unlink(path); err != nil && err != unix.ENOENT {
		return fmt.Errorf("unixsock: %w", &os.PathError{Op: "unlink", Path: path, Err: err})
	}
	return nil
}

// Forget drops f's claim on its path: Remove will leave the file alone.
// A process that hands its listening socket to another (a restart) calls
// it, since the other now serves the same socket, at the same file.
func (f *File) Forget() {
	if f == nil {
		return
	}
	f.path = ""
	f.release()
}

// release closes the descriptor that pins the file, if any.
func (f *File) release() {
	if f.pin >= 0 {
		unix.Close(f.pin)
		f.pin = -1
	}
}

// Path returns the path f was bound to, "" for nil or once removed.
func (f *File) Path() string {
	if f == nil {
		return ""
	}
	return f.path
}

// Sibling returns a fresh name in path's directory for a socket to be
// bound there and then linked to path: a backend that removes its own path
// when it stops binds the sibling, so that its removal finds nothing. The
// name has 16 random hex digits, fewer (at least 6) where path is so long
// that 16 do not fit.
func Sibling(path string) (string, error) {
	var r [8]byte
	if _, err := rand.Read(r[:]); err != nil {
		return "", fmt.Errorf("unixsock: %w", err)
	}
	prefix := filepath.Dir(path) + "/.el"
	random := hex.EncodeToString(r[:])
	if room := maxPath() - len(prefix); room < len(random) {
		random = random[:max(room, 6)]
	}
	name := prefix + random
	if _, err := Sockaddr(name); err != nil {
		return "", fmt.Errorf("unixsock: no room for a temporary name beside %s: %w", path, err)
	}
	return name, nil
}
