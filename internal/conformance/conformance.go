package conformance

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/edgeloop/edgeloop/backend"

	"github.com/edgeloop/edgeloop/reactor"
)

// Behaviour names one behaviour the suite checks; it keys Limits.
type Behaviour string

// The behaviours of the suite, one per test.
const (
	EchoMany          Behaviour = "echo-many"          // many concurrent connections echo byte-exact
	EchoLarge         Behaviour = "echo-large"         // one message much larger than socket buffers
	HalfClose         Behaviour = "half-close"         // the peer's FIN: all its data echoed, then EOF
	PeerReset         Behaviour = "peer-reset"         // an RST closes that connection only
	Backpressure      Behaviour = "backpressure"       // the handler's output cap holds the peer back
	HandlerError      Behaviour = "handler-error"      // a handler's error closes its connection only
	ShutdownFlush     Behaviour = "shutdown-flush"     // Shutdown sends queued output before closing
	ShutdownIdle      Behaviour = "shutdown-idle"      // Shutdown with nothing to flush is quick
	ShutdownLinger    Behaviour = "shutdown-linger"    // Shutdown flushes while the peer still sends
	ShutdownDeadline  Behaviour = "shutdown-deadline"  // Shutdown's context ends before a flush
	AfterShutdown     Behaviour = "after-shutdown"     // a second Shutdown, Listen, Post, Dial
	NoLeaks           Behaviour = "no-leaks"           // fds and goroutines return to their start
	CloseReuse        Behaviour = "close-reuse"        // a reused fd number gets no stale event
	AcceptBurst       Behaviour = "accept-burst"       // many connections queued behind one edge
	Fairness          Behaviour = "fairness"           // a flood does not starve a ping-pong
	PostClose         Behaviour = "post-close"         // Conn.Post from another goroutine
	DialOut           Behaviour = "dial"               // Loop.Dial: refused and established
	UrgentData        Behaviour = "urgent-data"        // a read that stops at the urgent mark is not "drained"
	ShutdownKernelQ   Behaviour = "shutdown-kernel-q"  // Shutdown waits for the kernel's send queue too
	ShutdownReset     Behaviour = "shutdown-reset"     // a peer's RST ends that wait
	ShutdownFullRead  Behaviour = "full-read-idle"     // an idle peer whose last read filled the buffer
	DialFromLoop      Behaviour = "dial-from-loop"     // a Factory dials (a proxy's upstream)
	ListenFromLoop    Behaviour = "listen-from-loop"   // a handler call listens
	ShutdownStuck     Behaviour = "shutdown-stuck"     // Shutdown returns at ctx's end with a handler stuck
	WakeFromHandler   Behaviour = "wake-handler"       // Conn.Wake from another connection's handler
	WakeFromPost      Behaviour = "wake-loop-post"     // Conn.Wake from a function Loop.Post runs
	CloseAfterCall    Behaviour = "close-after-call"   // HandleClose runs after the call that closed
	PostLoop          Behaviour = "loop-post"          // Loop.Post runs fn on the loop goroutine
	PostConn          Behaviour = "conn-post"          // Conn.Post runs fn in step with the handler
	PostConnSameG     Behaviour = "conn-post-same-g"   // ... and on the goroutine that calls it
	NilFactory        Behaviour = "nil-factory"        // Listen and Dial refuse a nil Factory
	DialConn          Behaviour = "dial-conn"          // a dial's Factory gets a Conn it can use
	ConnString        Behaviour = "conn-string"        // Conn.String names one connection in the process
	PortInUse         Behaviour = "port-in-use"        // a second server on a held port gets EADDRINUSE
	EngineDeath       Behaviour = "engine-death"       // out of fds: it serves again, or Done closes and Err says why
	PendingConnect    Behaviour = "pending-connect"    // Shutdown abandons a connect still in progress
	ClosePosted       Behaviour = "close-posted"       // Close from a posted function: HandleClose after it
	ManyListeners     Behaviour = "many-listeners"     // Shutdown of several idle listeners is quick
	TimeWaitRelisten  Behaviour = "time-wait"          // a new server on a port with TIME_WAIT sockets
	SpinningSender    Behaviour = "spinning-sender"    // a handler that wants to send and does not starves nobody
	ListenErrorText   Behaviour = "listen-error"       // a Listen error says "listen tcp ADDR" once
	PacketEcho        Behaviour = "udp-echo"           // datagrams of several sizes come back whole, once, to the sender
	PacketBurst       Behaviour = "udp-burst"          // a burst of datagrams from one client is all answered
	PacketClients     Behaviour = "udp-clients"        // two clients at once each get only their own replies
	PacketDualStack   Behaviour = "udp-dual-stack"     // an IPv4 sender on a ":0" endpoint is IPv4 and answered
	PacketShutdown    Behaviour = "udp-shutdown"       // Shutdown closes endpoints; ListenPacket after it fails
	PacketDial        Behaviour = "udp-dial"           // DialPacket: a connected endpoint sends and hears its peer
	IdleTimeout       Behaviour = "idle-timeout"       // a silent connection closes with ErrIdleTimeout, a busy one stays
	GracefulFlood     Behaviour = "graceful-flood"     // CloseGraceful: answer and EOF, no RST, for a client still sending
	GracefulBound     Behaviour = "graceful-bound"     // CloseGraceful ends within the linger limit when the peer never reads
	ResetUpload       Behaviour = "reset-upload"       // an RST mid-request (an array mid-upload) frees the connection and its memory
	ResetWaiting      Behaviour = "reset-waiting"      // an RST of a connection waiting for array memory takes it off the waiting list
	ResetWaiterNow    Behaviour = "reset-waiter-now"   // ... at once, not only once memory is freed
	ResetDownload     Behaviour = "reset-download"     // an RST mid-answer (64 MiB array, echo unread) frees the connection and its memory
	ServerReset       Behaviour = "server-reset"       // a handler error with input unread: the peer sees an error, the others nothing
	HalfCloseServer   Behaviour = "half-close-server"  // the handler's CloseWrite: the peer reads all, then EOF, and can still send
	HalfCloseLarge    Behaviour = "half-close-large"   // ... after an answer larger than the socket takes at once
	Churn             Behaviour = "churn"              // 20 000 connect/close cycles: no growth in fds, goroutines or heap
	ShutdownFinWait   Behaviour = "shutdown-fin-wait"  // Shutdown while CloseGraceful waits for the FIN of a peer that keeps its side open
	UnixPath          Behaviour = "unix-path"          // Listen("unix"): a stale socket file goes; a live one, a non-socket, a long path are refused
	UnixRemove        Behaviour = "unix-remove"        // Shutdown removes the socket file, never a successor's
	UnixSpread        Behaviour = "unix-spread"        // with several loops, a Unix listener's connections reach them all
	UnixAddr          Behaviour = "unix-addr"          // a Unix conn's addresses are *net.UnixAddr: the path, and "" for the unnamed peer
	UnixAbstract      Behaviour = "unix-abstract"      // Linux abstract names ("@name"): served, and no file
	UnixUnreadEcho    Behaviour = "unix-unread-echo"   // Shutdown over Unix: a peer that sends after it began still reads all its echo, then EOF
	DetachAdopt       Behaviour = "detach-adopt"       // a conn detached mid-conversation and adopted by another Loop keeps its byte stream
	AdmitDeny         Behaviour = "admit-deny"         // WithAdmission: a denied peer is closed at once, its Factory never called; others served
	AdmitLimits       Behaviour = "admit-limits"       // over a limit refused and counted while others are served; Release makes room; none left after Shutdown
	AdmitMapped       Behaviour = "admit-mapped"       // an IPv4 peer of a dual-stack listener reaches the Admission unmapped
	AdmitUnregistered Behaviour = "admit-unregistered" // a refused connection is never registered with the poller
)

// Limits lists, per backend, the behaviours it cannot meet by design and
// why. It is the one place such exceptions live; SkipIfLimited consults it.
// A key "NAME/unix" holds what backend NAME cannot meet over Unix sockets
// only (ForEachTransport consults it; behaviours that mean nothing over
// Unix sockets on any backend are in UnixLimits).
// An entry is a design limit of the backend, never a bug: a bug gets a
// failing test and a fix.
var Limits = map[string]map[Behaviour]string{
	"gnet": {
		AdmitUnregistered: "gnet accepts and registers connections itself; the first the " +
			"adapter hears of one is OnOpen, so the Admission runs there, before the " +
			"Factory, and a refused peer is closed by returning gnet.Close after gnet " +
			"registered it (and gnet calls OnClose for it, which the adapter ignores)",
		Backpressure: "gnet's outbound buffer is unbounded: Conn.Write queues whatever the " +
			"socket does not take and never returns ErrWouldBlock, so the handler's cap " +
			"never fills and gnet reads on from a peer that does not read (the peer " +
			"writes all 64 MiB)",
		HalfClose: "gnet closes the connection itself when a read returns EOF: the handler " +
			"never reads that EOF nor closes (HandleClose gets gnet's \"read: EOF\"), and " +
			"gnet's close writes the output it still holds only as far as the socket takes " +
			"it at that moment, dropping the rest (eventloop.close in gnet v2)",
		ShutdownFlush: "gnet's Engine.Stop closes every connection at once, and gnet's close " +
			"writes the output it still holds only as far as the socket takes it at that " +
			"moment, dropping the rest (eventloop.close in gnet v2)",
		HalfCloseLarge: "gnet's Conn.Write queues in gnet what the socket does not take, and " +
			"the adapter's CloseWrite refuses (ErrUnsupported) while that queue holds " +
			"anything, since a FIN must not overtake it; gnet tells no handler when the " +
			"queue drains, so after an answer larger than the socket takes at once the " +
			"handler cannot know when to shut its write side (the test's handler got " +
			"\"CloseWrite with output queued in gnet\", and its error close dropped the rest)",
		UnixUnreadEcho: "gnet's Engine.Stop closes every connection at once, with whatever " +
			"input it has not read: closing a Unix socket with unread input makes the " +
			"peer's read fail with ECONNRESET after the queued data (the peer got its 24 " +
			"KiB, then \"connection reset by peer\" instead of EOF)",
		UnixAbstract: "gnet removes its Unix listener's path (os.RemoveAll) at start and " +
			"stop, and for \"@name\" that is a file of that name in the working " +
			"directory: Listen refuses abstract names (ErrUnsupported)",
		DialOut:        dialLimit,
		PacketDial:     dialLimit,
		PendingConnect: dialLimit,
		DialFromLoop:   dialLimit,
		DialConn:       dialLimit,
		WakeFromPost:   loopPostLimit,
		PostLoop:       loopPostLimit,
		DetachAdopt: "gnet's engine owns each connection's descriptor and offers no way to " +
			"take one off its loop without closing it, nor to serve a descriptor it did not " +
			"accept: reactor.Detach and Loop.Adopt return ErrUnsupported",
		ShutdownKernelQ: "gnet's Engine.Stop closes every connection at once, whatever its " +
			"kernel send queue still holds: the orphaned socket goes on sending, but the " +
			"peer's next segment meets a closed socket and draws an RST that discards the " +
			"unsent bytes (the peer got 4096 of 24576 bytes, then ECONNRESET)",
	},
	"net": {
		AdmitUnregistered: "Go's net package registers every connection it accepts with " +
			"the runtime's poller inside Accept, before the engine can see the peer; the " +
			"Admission then runs before the connection's goroutine and Factory, so a " +
			"refused peer costs an accept, a registration and a close",
		WakeFromHandler: "the net backend runs each connection's handler on a goroutine " +
			"of its own, so one connection's handler setting another's state is a data " +
			"race there by design (backend/stdnet's doc: a handler must not touch another " +
			"connection's handler); Conn.Wake itself is safe from any goroutine on net",
		WakeFromPost: loopPostLimit,
		PostLoop:     loopPostLimit,
		ResetWaiterNow: "the net backend reads a connection only while its handler wants " +
			"input, so the reset of a connection waiting for array memory (it wants " +
			"neither input nor output) goes unnoticed until the memory is freed and the " +
			"handler reads again, or the idle timeout closes it; it does leave then",
		PostConnSameG: "Conn.Post runs fn on a goroutine of its own, under the " +
			"connection's mutex: in step with the handler's calls, so fn needs no " +
			"lock, but not on the goroutine that calls the handler",
	},
}

// loopPostLimit is why the gnet and net backends skip the behaviours of
// Loop.Post that need it to run on a loop goroutine.
const loopPostLimit = "Loop.Post runs fn on a goroutine of its own (gnet has no " +
	"engine-wide task queue, net no loop at all; see their Post docs), so fn " +
	"touching a handler races the handler's calls; Conn.Post is the way in there"

// dialLimit is why the gnet backend skips every behaviour of Loop.Dial and
// Loop.DialPacket.
const dialLimit = "the gnet backend only serves: its Dial and DialPacket return " +
	"ErrUnsupported (gnet dials through gnet.Client, a separate engine)"

// Limited reports whether backend cannot meet behaviour by design, and
// why, for a test that then checks less instead of skipping (and logs why).
func Limited(backend string, b Behaviour) (why string, limited bool) {
	why, limited = Limits[backend][b]
	return why, limited
}

// SkipIfLimited skips t when backend cannot meet behaviour by design,
// with the reason from Limits.
func SkipIfLimited(t testing.TB, backend string, b Behaviour) {
	t.Helper()
	if why, ok := Limited(backend, b); ok {
		t.Skipf("%s: %s cannot be met by design: %s", backend, b, why)
	}
}

// ForEachBackend runs fn as the subtest "backend=NAME" for every name in
// backend.Names(), skipping those that Limits exempts from b.
func ForEachBackend(t *testing.T, b Behaviour, fn func(t *testing.T, backend string)) {
	t.Helper()
	names := backend.Names()
	if len(names) == 0 {
		t.Fatal("backend.Names() is empty")
	}
	for _, name := range names {
		t.Run("backend="+name, func(t *testing.T) {
			SkipIfLimited(t, name, b)
			fn(t, name)
		})
	}
}

// ShutdownTimeout bounds every Shutdown the helpers make.
const ShutdownTimeout = 5 * time.Second

// NewLoop starts a Loop on backend with the given number of event loops,
// and opts after that, and shuts it down when the test ends, unless the
// test did. A Shutdown there that fails fails the test.
func NewLoop(t testing.TB, name string, loops int, opts ...reactor.Option) *reactor.Loop {
	t.Helper()
	l, err := backend.New(name, append([]reactor.Option{reactor.WithLoops(loops)}, opts...)...)
	if err != nil {
		t.Fatalf("backend.New(%q): %v", name, err)
	}
	t.Cleanup(func() {
		select {
		case <-l.Done():
			return // the test shut it down; TestAfterShutdown checks a second Shutdown
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
		defer cancel()
		if err := l.Shutdown(ctx); err != nil {
			t.Errorf("cleanup: Shutdown: %v", err)
		}
	})
	return l
}

// Listen makes l serve f on 127.0.0.1 at a free port and returns the address.
func Listen(t testing.TB, l *reactor.Loop, f reactor.Factory) string {
	t.Helper()
	a, err := l.Listen("tcp", "127.0.0.1:0", f)
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	return a.String()
}

// Start is NewLoop and Listen: a Loop serving f, and its address.
func Start(t testing.TB, backend string, loops int, f reactor.Factory) (*reactor.Loop, string) {
	t.Helper()
	l := NewLoop(t, backend, loops)
	return l, Listen(t, l, f)
}

// DialTimeout bounds every dial the helpers make.
const DialTimeout = 10 * time.Second

// Dial connects to addr. It is safe from any goroutine; the caller closes
// the connection.
func Dial(addr string) (*net.TCPConn, error) {
	c, err := net.DialTimeout("tcp", addr, DialTimeout)
	if err != nil {
		return nil, err
	}
	return c.(*net.TCPConn), nil
}

// DialTCP connects to addr and closes the connection when the test ends.
// Call it from the test goroutine; from others, use Dial.
func DialTCP(t testing.TB, addr string) *net.TCPConn {
	t.Helper()
	c, err := Dial(addr)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Exchange writes payload to c while reading the same number of bytes back,
// and checks that they are equal byte for byte. The write and the read run
// concurrently, since an echo server stops reading from a peer that does
// not read. nextChunk, if not nil, gives the size of each write (called only
// from the writing goroutine); nil writes payload at once. Both directions
// end by deadline; Exchange returns only after the writer has.
func Exchange(c net.Conn, payload []byte, nextChunk func() int, deadline time.Time) error {
	if err := c.SetDeadline(deadline); err != nil {
		return err
	}
	werr := make(chan error, 1)
	go func() {
		p := payload
		for len(p) > 0 {
			n := len(p)
			if nextChunk != nil {
				n = min(max(nextChunk(), 1), len(p))
			}
			if _, err := c.Write(p[:n]); err != nil {
				werr <- fmt.Errorf("write at %d of %d: %w", len(payload)-len(p), len(payload), err)
				return
			}
			p = p[n:]
		}
		werr <- nil
	}()
	rerr := ReadExactly(c, payload)
	if err := <-werr; err != nil {
		return err
	}
	return rerr
}

// ReadExactly reads len(want) bytes from r and checks them against want,
// naming the first offset that differs.
func ReadExactly(r io.Reader, want []byte) error {
	buf := make([]byte, min(len(want), 64<<10))
	got := 0
	for got < len(want) {
		n, err := r.Read(buf[:min(len(buf), len(want)-got)])
		if n > 0 {
			if i := firstDiff(buf[:n], want[got:got+n]); i >= 0 {
				return fmt.Errorf("byte %d of %d: got %#02x, want %#02x", got+i, len(want), buf[i], want[got+i])
			}
			got += n
		}
		if err != nil {
			return fmt.Errorf("read after %d of %d bytes: %w", got, len(want), err)
		}
	}
	return nil
}

// ReadToEOF reads r until EOF and checks that it brought exactly want.
func ReadToEOF(r io.Reader, want []byte) error {
	if err := ReadExactly(r, want); err != nil {
		return err
	}
	var extra [1]byte
	n, err := r.Read(extra[:])
	switch {
	case n > 0:
		return fmt.Errorf("got more than the %d bytes expected (next byte %#02x)", len(want), extra[0])
	case err != io.EOF:
		return fmt.Errorf("after all %d bytes: want EOF, got %v", len(want), err)
	}
	return nil
}

func firstDiff(a, b []byte) int {
	if bytes.Equal(a, b) {
		return -1
	}
	for i := range a {
		if a[i] != b[i] {
			return i
		}
	}
	return len(a)
}

// Payload returns n pseudo-random bytes determined by seed.
func Payload(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	p := make([]byte, n+7)
	for i := 0; i < n; i += 8 {
		v := r.Uint64()
		for j := range 8 {
			p[i+j] = byte(v >> (8 * j))
		}
	}
	return p[:n:n]
}

// WaitFor polls cond until it is true, and fails t if timeout passes first.
// It is a condition wait with a deadline, never a pause: it returns as soon
// as cond holds.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	if !Poll(timeout, cond) {
		t.Fatalf("timed out after %v waiting for %s", timeout, what)
	}
}

// Poll is WaitFor without the test: it reports whether cond became true
// within timeout.
func Poll(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	backoff := 100 * time.Microsecond
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return cond()
		}
		time.Sleep(backoff)
		backoff = min(2*backoff, 20*time.Millisecond)
	}
}

// CountFDs returns how many descriptors the process has open.
func CountFDs() (int, error) {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 0, err
	}
	return len(ents), nil
}

// FDs describes the process's open descriptors ("3 -> socket:[123]"), for
// the message of a failed leak check.
func FDs() string {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return err.Error()
	}
	var out []string
	for _, e := range ents {
		dst, _ := os.Readlink("/proc/self/fd/" + e.Name())
		out = append(out, e.Name()+" -> "+dst)
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}

// Percentile returns the p-th percentile (0 < p <= 100) of ds by the
// nearest-rank method; ds is sorted in place.
func Percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	rank := int(float64(len(ds))*p/100+0.999999) - 1
	return ds[min(max(rank, 0), len(ds)-1)]
}

// UDPEchoes sends a datagram to an echo endpoint at addr until one comes
// back, up to 20 tries of 500 ms each: a datagram may be lost.
func UDPEchoes(addr string) error {
	c, err := net.Dial("udp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	buf := make([]byte, 64)
	var last error
	for range 20 {
		c.Write([]byte("ping"))
		c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		n, err := c.Read(buf)
		if err == nil && string(buf[:n]) == "ping" {
			return nil
		}
		last = err
	}
	return fmt.Errorf("no echo: %v", last)
}
