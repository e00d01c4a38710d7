package soak

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgeloop/edgeloop/backend"
	"github.com/edgeloop/edgeloop/internal/conformance"
	"github.com/edgeloop/edgeloop/internal/frametest"
	"github.com/edgeloop/edgeloop/protocols/array"
	"github.com/edgeloop/edgeloop/protocols/echo"
	"github.com/edgeloop/edgeloop/protocols/qa"
	"github.com/edgeloop/edgeloop/protocols/timeproto"
	"github.com/edgeloop/edgeloop/reactor"
	"go.uber.org/goleak"
)

var (
	duration = flag.Duration("soak.duration", time.Second, "how long the load runs on each backend, in two halves")
	only     = flag.String("soak.backend", "", "soak this backend only (default: every backend)")
)

// clockSlack is how far a time service's answer may be from the client's
// clock: the same clock, read a little earlier or later.
const clockSlack = 5 * time.Second

// servers is where each service listens.
type servers struct {
	echo, daytime, timeSvc, array string // TCP
	qa, lines                     string // TCP, framed (maxQuestion, maxLine)
	echoU, daytimeU, timeU, sntpU string // UDP ("" where the backend serves none)
	budget                        *array.Budget
}

// start runs every service on l, as edgeloop serve does, at free ports.
func start(t *testing.T, l *reactor.Loop) *servers {
	t.Helper()
	ts := &timeproto.Server{}
	svc := &array.Service{Limits: array.Limits{MaxData: 16 << 20}, Memory: array.NewBudget(64 << 20)}
	s := &servers{budget: svc.Memory}
	listen := func(f reactor.Factory) string {
		a, err := l.Listen("tcp", "127.0.0.1:0", f)
		if err != nil {
			t.Fatalf("Listen: %v", err)
		}
		return a.String()
	}
	listenU := func(f reactor.PacketFactory) string {
		a, err := l.ListenPacket("udp", "127.0.0.1:0", f)
		if errors.Is(err, reactor.ErrUnsupported) {
			return ""
		}
		if err != nil {
			t.Fatalf("ListenPacket: %v", err)
		}
		return a.String()
	}
	s.echo, s.daytime, s.timeSvc, s.array = listen(echo.New), listen(ts.Daytime), listen(ts.Time), listen(svc.Factory)
	s.qa, s.lines = listen(qa.Factory(maxQuestion)), listen(echo.Lines(maxLine))
	s.echoU, s.daytimeU, s.timeU, s.sntpU = listenU(echo.NewPacket), listenU(ts.DaytimePacket), listenU(ts.TimePacket), listenU(ts.SNTPPacket)
	return s
}

// tally counts what the clients did and checked.
type tally struct {
	ops, bytes, resets, resends atomic.Int64
}

// worker is one client kind: it runs one operation against s and returns
// an error only for a wrong or missing answer.
type worker struct {
	name string
	run  func(s *servers, r *rand.Rand, tl *tally, halfClose bool) error
}

var workers = []worker{
	{"echo-tcp", echoTCP}, {"echo-tcp", echoTCP}, {"echo-tcp", echoTCP},
	{"array", arrayRoundTrip},
	{"daytime-tcp", daytimeTCP}, {"time-tcp", timeTCP},
	{"qa", qaTCP}, {"lines", linesTCP},
	{"echo-udp", echoUDP}, {"daytime-udp", daytimeUDP}, {"time-udp", timeUDP}, {"sntp", sntpUDP},
}

// TestSoak puts every service under mixed load on each backend for
// -soak.duration, in two halves. Every echo, array, answer (qa) and line
// comes back byte for byte, every time answer parses and is near the client's clock, and no
// request goes unanswered (a lost datagram is sent again, and counted). At
// the end of each half the clients are gone: the process must have the
// descriptors it had before the load, and the heap after the second half
// must not have grown past the first's (a leak grows with the work done).
// After Shutdown, the descriptors and goroutines are those of before the
// Loop.
func TestSoak(t *testing.T) {
	for _, name := range backend.Names() {
		if *only != "" && name != *only {
			continue
		}
		t.Run("backend="+name, func(t *testing.T) { soak(t, name) })
	}
}

func soak(t *testing.T, name string) {
	ignore := goleak.IgnoreCurrent()
	fdsBefore, err := conformance.CountFDs()
	if err != nil {
		t.Fatal(err)
	}
	l := conformance.NewLoop(t, name, 2)
	s := start(t, l)
	fdsServing, err := conformance.CountFDs()
	if err != nil {
		t.Fatal(err)
	}
	// gnet drops output it holds when the peer's FIN arrives (conformance
	// Limits, half-close): its clients close only after the whole answer.
	_, noHalfClose := conformance.Limited(name, conformance.HalfClose)

	tl := &tally{}
	var heap [2]uint64
	for half := range 2 {
		if err := load(s, *duration/2, tl, !noHalfClose); err != nil {
			t.Fatalf("half %d: %v", half+1, err)
		}
		var now int
		if !conformance.Poll(10*time.Second, func() bool { now, _ = conformance.CountFDs(); return now == fdsServing }) {
			t.Fatalf("half %d: %d descriptors open with every client gone, %d before the load:\n%s",
				half+1, now, fdsServing, conformance.FDs())
		}
		if used, waiting := s.budget.Used(), s.budget.Waiting(); used != 0 || waiting != 0 {
			t.Fatalf("half %d: the array budget has %d bytes in use and %d waiters with every client gone", half+1, used, waiting)
		}
		heap[half] = heapLive()
	}
	t.Logf("%s: %d operations, %d bytes checked, %d resets made, %d datagrams resent; live heap %d KiB after the first half, %d KiB after the second",
		name, tl.ops.Load(), tl.bytes.Load(), tl.resets.Load(), tl.resends.Load(), heap[0]>>10, heap[1]>>10)
	if limit := heap[0] + max(heap[0]/8, 1<<20); heap[1] > limit {
		t.Errorf("live heap grew from %d KiB after the first half to %d KiB after the second (limit %d KiB): something is kept per operation",
			heap[0]>>10, heap[1]>>10, limit>>10)
	}
	ctx, cancel := context.WithTimeout(context.Background(), conformance.ShutdownTimeout)
	defer cancel()
	if err := l.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	var now int
	if !conformance.Poll(5*time.Second, func() bool { now, _ = conformance.CountFDs(); return now == fdsBefore }) {
		t.Errorf("%d descriptors open after Shutdown, %d before the Loop:\n%s", now, fdsBefore, conformance.FDs())
	}
	goleak.VerifyNone(t, ignore)
}

// load runs every worker for d and returns the first failure.
func load(s *servers, d time.Duration, tl *tally, halfClose bool) error {
	end := time.Now().Add(d)
	var wg sync.WaitGroup
	errs := make(chan error, len(workers))
	for i, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(i)))
			for time.Now().Before(end) {
				if err := w.run(s, r, tl, halfClose); err != nil {
					errs <- fmt.Errorf("%s: %w", w.name, err)
					return
				}
				tl.ops.Add(1)
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// heapLive returns the bytes of live heap objects after a collection.
func heapLive() uint64 {
	runtime.GC()
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(sample)
	return sample[0].Value.Uint64()
}

// opTimeout bounds one operation: a missing answer fails the soak rather
// than hanging it.
const opTimeout = 20 * time.Second

// echoTCP sends a few messages of random sizes on one connection, each
// checked as it comes back, then ends it one of three ways: a close, a
// half-close that must bring the rest and EOF, or a reset with a message
// still in flight (the server must take that in its stride).
func echoTCP(s *servers, r *rand.Rand, tl *tally, halfClose bool) error {
	c, err := conformance.Dial(s.echo)
	if err != nil {
		return err
	}
	defer c.Close()
	deadline := time.Now().Add(opTimeout)
	for range 1 + r.IntN(6) {
		n := 1 + r.IntN(64<<10)
		if r.IntN(16) == 0 {
			n = 1 + r.IntN(4<<20) // now and then, far more than the socket buffers hold
		}
		p := conformance.Payload(r.Uint64(), n)
		if err := conformance.Exchange(c, p, nil, deadline); err != nil {
			return err
		}
		tl.bytes.Add(int64(n))
	}
	switch r.IntN(4) {
	case 0:
		// Reset mid-message: some of it sent, none of the echo read.
		c.Write(conformance.Payload(r.Uint64(), 1+r.IntN(256<<10)))
		c.SetLinger(0)
		tl.resets.Add(1)
	case 1:
		if !halfClose {
			return nil
		}
		p := conformance.Payload(r.Uint64(), 1+r.IntN(128<<10))
		werr := make(chan error, 1)
		go func() {
			_, err := c.Write(p)
			if err == nil {
				err = c.CloseWrite()
			}
			werr <- err
		}()
		c.SetDeadline(deadline)
		if err := conformance.ReadToEOF(c, p); err != nil {
			return fmt.Errorf("after a half-close: %w", err)
		}
		if err := <-werr; err != nil {
			return err
		}
		tl.bytes.Add(int64(len(p)))
	}
	return nil
}

// arrayRoundTrip sends one array of a random type and shape and checks
// that the same bytes come back with the same header.
func arrayRoundTrip(s *servers, r *rand.Rand, tl *tally, _ bool) error {
	c, err := conformance.Dial(s.array)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(opTimeout))
	for range 1 + r.IntN(3) {
		rows, cols := 1+r.IntN(512), 1+r.IntN(1024)
		src := make([]float64, rows*cols)
		for i := range src {
			src[i] = r.NormFloat64()
		}
		werr := make(chan error, 1)
		go func() { werr <- array.WriteArray(c, []int{rows, cols}, src) }()
		dst := make([]byte, 8*len(src))
		h, data, err := array.ReadArrayInto(c, dst, array.Limits{MaxData: int64(len(dst))})
		if err != nil {
			return err
		}
		if err := <-werr; err != nil {
			return err
		}
		if len(h.Shape) != 2 || h.Shape[0] != rows || h.Shape[1] != cols {
			return fmt.Errorf("sent shape [%d %d], got %v", rows, cols, h.Shape)
		}
		if !bytes.Equal(data, array.BytesOf(src)) {
			return fmt.Errorf("a %dx%d array came back different", rows, cols)
		}
		tl.bytes.Add(int64(len(data)))
	}
	return nil
}

// readAll connects to a TCP time service and reads its answer to EOF.
func readAll(addr string) ([]byte, error) {
	c, err := conformance.Dial(addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(opTimeout))
	return io.ReadAll(c)
}

func daytimeTCP(s *servers, _ *rand.Rand, _ *tally, _ bool) error {
	b, err := readAll(s.daytime)
	if err != nil {
		return err
	}
	return checkDaytime(b)
}

func timeTCP(s *servers, _ *rand.Rand, _ *tally, _ bool) error {
	b, err := readAll(s.timeSvc)
	if err != nil {
		return err
	}
	return checkTime(b)
}

// checkDaytime parses an RFC 867 answer and checks it against the clock.
func checkDaytime(b []byte) error {
	text, ok := bytes.CutSuffix(b, []byte("\r\n"))
	if !ok {
		return fmt.Errorf("daytime %q does not end in CRLF", b)
	}
	got, err := time.ParseInLocation(time.ANSIC, string(text), time.Local)
	if err != nil {
		return fmt.Errorf("daytime %q: %w", b, err)
	}
	return near(got)
}

// checkTime decodes an RFC 868 answer and checks it against the clock.
func checkTime(b []byte) error {
	if len(b) != 4 {
		return fmt.Errorf("time: got %d bytes, want 4", len(b))
	}
	want := timeproto.Seconds1900(time.Now())
	if d := int64(int32(binary.BigEndian.Uint32(b) - want)); d < -int64(clockSlack/time.Second) || d > int64(clockSlack/time.Second) {
		return fmt.Errorf("time: %d s from the client's clock", d)
	}
	return nil
}

func near(got time.Time) error {
	if d := time.Since(got); d < -clockSlack || d > clockSlack {
		return fmt.Errorf("answer %v is %v from the client's clock", got, d)
	}
	return nil
}

// ask sends req over UDP to addr and returns the reply, sending again
// when none comes in a while: loopback may drop a datagram under load,
// and UDP promises nothing more. A reply that never comes fails.
func ask(addr string, req []byte, buf []byte, tl *tally) ([]byte, error) {
	c, err := net.Dial("udp", addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	for try := 0; try < 20; try++ {
		if try > 0 {
			tl.resends.Add(1)
		}
		if _, err := c.Write(req); err != nil {
			return nil, err
		}
		c.SetReadDeadline(time.Now().Add(time.Second))
		n, err := c.Read(buf)
		if err == nil {
			return buf[:n], nil
		}
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			return nil, err
		}
	}
	return nil, fmt.Errorf("no reply from %s after 20 tries", addr)
}

func echoUDP(s *servers, r *rand.Rand, tl *tally, _ bool) error {
	if s.echoU == "" {
		return nil
	}
	p := conformance.Payload(r.Uint64(), 1+r.IntN(1400))
	got, err := ask(s.echoU, p, make([]byte, 2048), tl)
	if err != nil {
		return err
	}
	if !bytes.Equal(got, p) {
		return fmt.Errorf("a %d-byte datagram came back as %d different bytes", len(p), len(got))
	}
	tl.bytes.Add(int64(len(p)))
	return nil
}

func daytimeUDP(s *servers, _ *rand.Rand, tl *tally, _ bool) error {
	if s.daytimeU == "" {
		return nil
	}
	b, err := ask(s.daytimeU, []byte{0}, make([]byte, 512), tl)
	if err != nil {
		return err
	}
	return checkDaytime(b)
}

func timeUDP(s *servers, _ *rand.Rand, tl *tally, _ bool) error {
	if s.timeU == "" {
		return nil
	}
	b, err := ask(s.timeU, nil, make([]byte, 512), tl)
	if err != nil {
		return err
	}
	return checkTime(b)
}

func sntpUDP(s *servers, _ *rand.Rand, tl *tally, _ bool) error {
	if s.sntpU == "" {
		return nil
	}
	sent := time.Now()
	req := timeproto.SNTPRequest(nil, 4, sent)
	b, err := ask(s.sntpU, req, make([]byte, 512), tl)
	if err != nil {
		return err
	}
	p, err := timeproto.ParseSNTPReply(b)
	if err != nil {
		return err
	}
	if p.Originate != binary.BigEndian.Uint64(req[40:48]) {
		return fmt.Errorf("sntp: originate %#x is not the request's transmit time", p.Originate)
	}
	return near(timeproto.FromNTP(p.Transmit, sent))
}

// The framed services' limits: small, so that clients cross them.
const (
	maxQuestion = 512
	maxLine     = 512
)

// framedService describes a framed service for framedTCP: its delimiter,
// what it answers to a message, to the unfinished message the stream ends
// with, and to one over its maximum.
type framedService struct {
	addr    func(s *servers) string
	delim   byte
	answer  func(msg []byte) []byte // msg has its delimiter
	atEOF   func(tail []byte) []byte
	tooLong string
}

var (
	qaService = framedService{
		addr:  func(s *servers) string { return s.qa },
		delim: '?',
		answer: func(q []byte) []byte {
			return append(q[:len(q)-1:len(q)-1], '.') // "Yoyo?" is answered "Yoyo."
		},
		atEOF:   func([]byte) []byte { return nil }, // no '?', no question
		tooLong: fmt.Sprintf("error: question longer than %d bytes\n", maxQuestion),
	}
	linesService = framedService{
		addr:    func(s *servers) string { return s.lines },
		delim:   '\n',
		answer:  func(line []byte) []byte { return line },
		atEOF:   func(tail []byte) []byte { return tail }, // a last line without its newline
		tooLong: fmt.Sprintf("error: line longer than %d bytes\n", maxLine),
	}
)

func qaTCP(s *servers, r *rand.Rand, tl *tally, halfClose bool) error {
	return framedTCP(qaService, maxQuestion, s, r, tl, halfClose)
}

func linesTCP(s *servers, r *rand.Rand, tl *tally, halfClose bool) error {
	return framedTCP(linesService, maxLine, s, r, tl, halfClose)
}

// message returns random bytes, none of them delim, then delim: a whole
// message of at most max bytes, now and then one of exactly max.
func message(r *rand.Rand, delim byte, max int) []byte {
	n := r.IntN(64)
	switch r.IntN(16) {
	case 0:
		n = max - 1
	case 1, 2:
		n = r.IntN(max)
	}
	return append(unfinished(r, delim, n), delim)
}

// unfinished returns n random bytes, none of them delim.
func unfinished(r *rand.Rand, delim byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		if b[i] = byte(r.Uint32()); b[i] == delim {
			b[i] = 'x'
		}
	}
	return b
}

// framedTCP sends batches of messages to a framed service on one
// connection, a random number at a time (pipelined), each batch cut into
// writes at random places while the answers are read and checked. It then
// ends the connection one of five ways: a close; a reset in the middle of
// a message; a half-close after more messages and an unfinished one, which
// must bring their answers, the service's answer to the unfinished one and
// EOF; a message over the maximum, which must bring the answers before it,
// the service's error line and EOF; or a close with answers unread.
//
// gnet does not see a half-close (conformance Limits, half-close): it
// closes the connection itself and sends its output only as far as the
// socket takes it then. There what comes back must still be a prefix of
// the answers to the whole messages, and the connection must end.
func framedTCP(svc framedService, max int, s *servers, r *rand.Rand, tl *tally, halfClose bool) error {
	c, err := conformance.Dial(svc.addr(s))
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(opTimeout))
	batch := func(n int) (in, want []byte) {
		for range n {
			m := message(r, svc.delim, max)
			in = append(in, m...)
			want = append(want, svc.answer(m)...)
		}
		return in, want
	}
	// send writes in cut at random places, from a goroutine: the service
	// answers while it is still being sent.
	send := func(in []byte, then func() error) <-chan error {
		cr := rand.New(rand.NewPCG(r.Uint64(), 1)) // the writer's own
		chunks := frametest.RandomSplit(cr, in, 1+cr.IntN(2*max))
		werr := make(chan error, 1)
		go func() {
			for _, p := range chunks {
				if _, err := c.Write(p); err != nil {
					werr <- err
					return
				}
			}
			if then != nil {
				werr <- then()
				return
			}
			werr <- nil
		}()
		return werr
	}
	for range 1 + r.IntN(4) {
		in, want := batch(1 + r.IntN(16))
		werr := send(in, nil)
		if err := conformance.ReadExactly(c, want); err != nil {
			return fmt.Errorf("%d answers to %d bytes of messages: %w", bytes.Count(in, []byte{svc.delim}), len(in), err)
		}
		if err := <-werr; err != nil {
			return err
		}
		tl.bytes.Add(int64(len(want)))
	}
	in, want := batch(r.IntN(8))
	switch r.IntN(5) {
	case 0:
		// A reset in the middle of a message, answers unread.
		c.Write(append(in, unfinished(r, svc.delim, 1+r.IntN(max-1))...))
		c.SetLinger(0)
		tl.resets.Add(1)
	case 1:
		// A half-close after an unfinished message.
		tail := unfinished(r, svc.delim, 1+r.IntN(max-1))
		werr := send(append(in, tail...), c.CloseWrite)
		if !halfClose {
			// gnet: a prefix of the answers to the whole messages, then
			// the end, whatever it is.
			got, _ := io.ReadAll(c)
			<-werr
			if !bytes.HasPrefix(want, got) {
				return fmt.Errorf("after a half-close gnet does not see: got %q, not a prefix of %q", got, want)
			}
			return nil
		}
		want = append(want, svc.atEOF(tail)...)
		if err := conformance.ReadToEOF(c, want); err != nil {
			return fmt.Errorf("after %d bytes of messages and an unfinished %d-byte one, then a half-close: %w", len(in), len(tail), err)
		}
		if err := <-werr; err != nil {
			return err
		}
		tl.bytes.Add(int64(len(want)))
	case 2:
		// A message over the maximum: the answers before it, the error
		// line, and EOF. The server closes gracefully: what we still
		// send is read and dropped, no reset destroys the error line.
		long := unfinished(r, svc.delim, max+r.IntN(2*max))
		werr := send(append(append(in, long...), svc.delim), nil)
		want = append(want, svc.tooLong...)
		if err := conformance.ReadToEOF(c, want); err != nil {
			return fmt.Errorf("after %d bytes of messages and one of %d: %w", len(in), len(long)+1, err)
		}
		<-werr // the server may be gone before the last bytes: any end will do
		tl.bytes.Add(int64(len(want)))
	case 3:
		// A close with answers unread.
		c.Write(in)
	}
	return nil
}
