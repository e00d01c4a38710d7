package conformance

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/edgeloop/edgeloop/reactor"
)

// Transport is the kind of stream socket a behaviour runs over.
type Transport string

// The transports of the suite.
const (
	TCP  Transport = "tcp"  // TCP over 127.0.0.1
	Unix Transport = "unix" // a Unix domain stream socket in a fresh directory
)

// Transports lists every transport, in the order subtests run.
var Transports = []Transport{TCP, Unix}

// UnixLimits lists the behaviours that mean nothing over a Unix socket, on
// any backend, and why: such a behaviour runs over TCP only. A behaviour
// that one backend cannot meet over Unix sockets goes in Limits under
// "BACKEND/unix" instead.
var UnixLimits = map[Behaviour]string{
	ShutdownKernelQ: "a Unix socket's send is a copy into the peer's receive queue: " +
		"nothing waits in the sender's kernel to be lost at close (SIOCOUTQ counts " +
		"what the peer has not read, so sockopt.Unsent says 0), and the test reads " +
		"TCP states (FIN_WAIT) from /proc/net/tcp; the Unix analogue, input left " +
		"unread at close turning the peer's EOF into ECONNRESET, is UnixUnreadEcho",
	UrgentData:       "Unix stream sockets have no urgent data (MSG_OOB is TCP's)",
	TimeWaitRelisten: "Unix sockets have no TIME_WAIT; the stale-file check is their analogue (TestUnixStaleFile)",
	PacketDualStack:  "dual stack is IP's",
}

// ForEachTransport runs fn as the subtest "backend=NAME/transport=T" for
// every backend and every transport, skipping those that Limits or
// UnixLimits exempt from b, with the reason.
func ForEachTransport(t *testing.T, b Behaviour, fn func(t *testing.T, backend string, tr Transport)) {
	t.Helper()
	ForEachBackend(t, b, func(t *testing.T, name string) {
		for _, tr := range Transports {
			t.Run("transport="+string(tr), func(t *testing.T) {
				if tr == Unix {
					if why, ok := UnixLimits[b]; ok {
						t.Skipf("%s means nothing over Unix sockets: %s", b, why)
					}
					SkipIfLimited(t, name+"/unix", b)
				}
				fn(t, name, tr)
			})
		}
	})
}

// SocketPath returns a path for a Unix socket in a new directory, removed
// when the test ends. The directory is made under os.TempDir with a short
// name, not t.TempDir: a socket path must fit in 104 bytes (108 on Linux),
// and t.TempDir's include the test's name.
func SocketPath(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "el")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "s.sock")
}

// ListenOn makes l serve f over tr: TCP on 127.0.0.1 at a free port, or a
// Unix socket at a fresh SocketPath. It returns the address for DialStream and
// Connect: "127.0.0.1:PORT", or "unix:///path" (the URL form, which
// Listen and Dial take too).
func ListenOn(t testing.TB, l *reactor.Loop, tr Transport, f reactor.Factory) string {
	t.Helper()
	if tr == TCP {
		return Listen(t, l, f)
	}
	path := SocketPath(t)
	a, err := l.Listen("unix", path, f)
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	if ua, ok := a.(*net.UnixAddr); !ok || ua == nil || ua.Name != path {
		t.Fatalf("Listen(unix, %s) returned %#v, want a *net.UnixAddr of the path", path, a)
	}
	return "unix://" + path
}

// StartOn is NewLoop and ListenOn: a Loop serving f over tr, and its address.
func StartOn(t testing.TB, backend string, tr Transport, loops int, f reactor.Factory) (*reactor.Loop, string) {
	t.Helper()
	l := NewLoop(t, backend, loops)
	return l, ListenOn(t, l, tr, f)
}

// Conn is a client's stream connection over either transport:
// *net.TCPConn or *net.UnixConn.
type Conn interface {
	net.Conn
	syscall.Conn
	CloseWrite() error
	SetReadBuffer(bytes int) error
	SetWriteBuffer(bytes int) error
}

// Split returns the network and address to dial for addr, as ListenOn
// wrote it: ("unix", path) for "unix:///path", ("tcp", addr) otherwise.
func Split(addr string) (network, address string) {
	if path, ok := strings.CutPrefix(addr, "unix://"); ok {
		return "unix", path
	}
	return "tcp", addr
}

// DialStream connects to addr, TCP or Unix as ListenOn wrote it. It is safe
// from any goroutine; the caller closes the connection.
func DialStream(addr string) (Conn, error) {
	network, address := Split(addr)
	c, err := net.DialTimeout(network, address, DialTimeout)
	if err != nil {
		return nil, err
	}
	return c.(Conn), nil
}

// Connect is DialStream for the test goroutine: it fails t on error and
// closes the connection when the test ends.
func Connect(t testing.TB, addr string) Conn {
	t.Helper()
	c, err := DialStream(addr)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Reset closes c abortively. A TCP connection sends an RST (SO_LINGER 0).
// A Unix socket has no RST: closing one with unread input in its receive
// queue makes the peer's next read fail with ECONNRESET, the nearest
// thing, so call it while the server's output waits unread.
func Reset(c Conn) error {
	if tc, ok := c.(*net.TCPConn); ok {
		if err := tc.SetLinger(0); err != nil {
			return err
		}
	}
	return c.Close()
}
