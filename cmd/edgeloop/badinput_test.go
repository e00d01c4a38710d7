package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/edgeloop/edgeloop/backend"
	"github.com/edgeloop/edgeloop/internal/conformance"
	"github.com/edgeloop/edgeloop/internal/frametest"
	"github.com/edgeloop/edgeloop/protocols/array"
	"github.com/edgeloop/edgeloop/protocols/timeproto"
)

// badRounds is how many bad inputs each service gets per backend; between
// every badEvery of them, and after them all, another client checks that
// the service still serves it.
const (
	badRounds = 40
	badEvery  = 10
)

// badTimeout bounds every exchange of these tests.
const badTimeout = 10 * time.Second

// TestServeRandomBytes throws seeded random bytes (the seed is logged) at
// every service of `edgeloop serve`, on every backend: echo over TCP
// echoes them exactly and over UDP returns each datagram whole (one over
// --datagram-size is dropped or echoed whole, never cut short); daytime and time answer
// whatever they get, over TCP and UDP; SNTP answers nothing that is not a
// valid client request (too short, wrong mode, wrong version, random) and
// answers the valid ones (RFC 4330); the array service answers input it
// cannot take with one "error: ..." line and closes; qa and lines answer
// random bytes, '?' and newlines sprinkled in, exactly as their framing
// says (every question or line, an error line for one over the maximum,
// then EOF), and on gnet, which does not see the half-close, a prefix of
// that. All the while and afterwards a well-behaved client of the same
// service is served, and the server then exits cleanly on SIGTERM, having
// logged no panic.
func TestServeRandomBytes(t *testing.T) {
	for _, b := range backend.Names() {
		t.Run("backend="+b, func(t *testing.T) {
			seed := uint64(time.Now().UnixNano())
			t.Logf("seed %d", seed)
			s := startServe(t, 10, "--backend", b, "--loops", "1",
				"--echo", "127.0.0.1:0", "--daytime", "127.0.0.1:0", "--time", "127.0.0.1:0",
				"--sntp", "127.0.0.1:0", "--array", "127.0.0.1:0",
				"--qa", "127.0.0.1:0", "--lines", "127.0.0.1:0",
				"--max-question", fmt.Sprint(badMaxFramed), "--max-line", fmt.Sprint(badMaxFramed))
			// gnet does not see the client's half-close (conformance
			// Limits): it closes and may drop answers it still holds.
			_, noHalfClose := conformance.Limited(b, conformance.HalfClose)
			for i, tc := range []struct {
				name string
				bad  func(t *testing.T, addr string, r *rand.Rand) // one bad input, checked
				good func(t *testing.T, addr string, r *rand.Rand) // one good client, checked
			}{
				{"echo", badEcho, goodEcho},
				{"echo/udp", badEchoUDP, goodEchoUDP},
				{"daytime", badDaytime, goodDaytime},
				{"daytime/udp", badDaytimeUDP, goodDaytimeUDP},
				{"time", badTime, goodTime},
				{"time/udp", badTimeUDP, goodTimeUDP},
				{"sntp/udp", badSNTP, goodSNTP},
				{"array", badArray, goodArray},
				{"qa", badFramed(qaModel, noHalfClose), goodQA},
				{"lines", badFramed(linesModel, noHalfClose), goodLines},
			} {
				t.Run(tc.name, func(t *testing.T) {
					addr := s.addrs[tc.name]
					if addr == "" {
						t.Fatalf("serve did not say where %s listens: %v", tc.name, s.addrs)
					}
					r := rand.New(rand.NewPCG(seed, uint64(i)))
					tc.good(t, addr, r)
					for n := 1; n <= badRounds; n++ {
						tc.bad(t, addr, r)
						if n%badEvery == 0 {
							tc.good(t, addr, r)
						}
					}
				})
			}
			if code, _ := s.stop(t, syscall.SIGTERM); code != 0 {
				t.Errorf("exit code %d after SIGTERM; stderr:\n%s", code, s.stderr)
			}
			if log := s.stderr.String(); strings.Contains(log, "panic") {
				t.Errorf("the server logged a panic:\n%s", log)
			}
		})
	}
}

// randomBytesOf returns n bytes from r.
func randomBytesOf(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// dialTCP connects to addr with every operation bounded by badTimeout.
func dialTCP(t *testing.T, addr string) *net.TCPConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, badTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(badTimeout))
	return c.(*net.TCPConn)
}

// sendAndReadAll writes in (from a goroutine: the server may answer before
// it has read it all), shuts the write side, and reads to EOF.
func sendAndReadAll(t *testing.T, addr string, in []byte) ([]byte, error) {
	t.Helper()
	c := dialTCP(t, addr)
	werr := make(chan error, 1)
	go func() {
		_, err := c.Write(in)
		if err == nil {
			err = c.CloseWrite()
		}
		werr <- err
	}()
	got, err := io.ReadAll(c)
	if werr := <-werr; werr != nil && err == nil {
		t.Logf("the write ended with %v after the server's answer", werr)
	}
	return got, err
}

// udpConn is a connected UDP socket to addr.
func udpConn(t *testing.T, addr string) *net.UDPConn {
	t.Helper()
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.UDPConn)
}

// udpRead reads one datagram within badTimeout.
func udpRead(t *testing.T, c *net.UDPConn, what string) []byte {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(badTimeout))
	buf := make([]byte, 65536)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("%s: no reply: %v", what, err)
	}
	return buf[:n]
}

// Echo over TCP: any bytes, of any length up to 256 KiB, in random
// chunks, come back exactly.

func badEcho(t *testing.T, addr string, r *rand.Rand) {
	t.Helper()
	c := dialTCP(t, addr)
	in := randomBytesOf(r, 1+r.IntN(256<<10))
	cr := rand.New(rand.NewPCG(r.Uint64(), 0)) // the writer's own
	if err := conformance.Exchange(c, in, func() int { return 1 + cr.IntN(16<<10) }, time.Now().Add(badTimeout)); err != nil {
		t.Fatalf("echo of %d random bytes: %v", len(in), err)
	}
	c.Close()
}

func goodEcho(t *testing.T, addr string, r *rand.Rand) {
	t.Helper()
	c := dialTCP(t, addr)
	if err := conformance.Exchange(c, []byte("hello, echo\n"), nil, time.Now().Add(badTimeout)); err != nil {
		t.Fatalf("a good echo client: %v", err)
	}
}

// Echo over UDP: each datagram of 1 to 2048 bytes (--datagram-size) comes
// back whole; one larger is dropped, or on the backends that receive into
// 64 KiB regardless (gnet, net) echoed whole, never cut short.

func badEchoUDP(t *testing.T, addr string, r *rand.Rand) {
	t.Helper()
	c := udpConn(t, addr)
	var big []byte
	if r.IntN(4) == 0 {
		big = randomBytesOf(r, 2049+r.IntN(6000))
		if _, err := c.Write(big); err != nil {
			t.Fatal(err)
		}
	}
	in := randomBytesOf(r, 1+r.IntN(2048))
	if _, err := c.Write(in); err != nil {
		t.Fatal(err)
	}
	got := udpRead(t, c, "udp echo")
	if big != nil && bytes.Equal(got, big) {
		// gnet and net receive into 64 KiB whatever --datagram-size says
		// (README's backend table): echoed whole, never cut short.
		got = udpRead(t, c, "udp echo")
	}
	if !bytes.Equal(got, in) {
		t.Fatalf("udp echo of %d random bytes (after one of %d) returned %d bytes, not the same", len(in), len(big), len(got))
	}
}

func goodEchoUDP(t *testing.T, addr string, r *rand.Rand) {
	t.Helper()
	c := udpConn(t, addr)
	c.Write([]byte("ping"))
	if got := udpRead(t, c, "a good udp echo client"); string(got) != "ping" {
		t.Fatalf("a good udp echo client got %q, want \"ping\"", got)
	}
}

// Daytime: whatever the client sends, it gets the time as one line.

// checkDaytime checks that got is one daytime line near the clock.
func checkDaytime(t *testing.T, got []byte, what string) {
	t.Helper()
	line, ok := strings.CutSuffix(string(got), "\r\n")
	if !ok {
		t.Fatalf("%s: got %q, want one line ending in CR LF", what, got)
	}
	when, err := time.ParseInLocation(time.ANSIC, line, time.Local)
	if err != nil {
		t.Fatalf("%s: got %q: %v", what, got, err)
	}
	if d := time.Since(when); d < -2*time.Second || d > badTimeout+2*time.Second {
		t.Errorf("%s: got %q, %v from the clock", what, got, d)
	}
}

func badDaytime(t *testing.T, addr string, r *rand.Rand) {
	t.Helper()
	got, err := sendAndReadAll(t, addr, randomBytesOf(r, r.IntN(64<<10)))
	if err != nil {
		t.Fatalf("daytime after random bytes: %q, %v; want the line and EOF", got, err)
	}
	checkDaytime(t, got, "daytime after random bytes")
}

func goodDaytime(t *testing.T, addr string, r *rand.Rand) {
	t.Helper()
	got, err := io.ReadAll(dialTCP(t, addr))
	if err != nil {
		t.Fatalf("a good daytime client: %q, %v", got, err)
	}
	checkDaytime(t, got, "a good daytime client")
}

func badDaytimeUDP(t *testing.T, addr string, r *rand.Rand) {
	t.Helper()
	c := udpConn(t, addr)
	c.Write(randomBytesOf(r, r.IntN(2049)))
	checkDaytime(t, udpRead(t, c, "udp daytime"), "udp daytime after a random datagram")
}

func goodDaytimeUDP(t *testing.T, addr string, r *rand.Rand) {
	t.Helper()
	c := udpConn(t, addr)
	c.Write(nil)
	checkDaytime(t, udpRead(t, c, "a good udp daytime client"), "a good udp daytime client")
}

// Time (RFC 868): whatever the client sends, it gets 4 bytes, the seconds
// since 1900.

func checkTime(t *testing.T, got []byte, what string) {
	t.Helper()
	if len(got) != 4 {
		t.Fatalf("%s: got %d bytes (% x), want 4", what, len(got), got)
	}
	now := int64(timeproto.Seconds1900(time.Now()))
	if d := now - int64(binary.BigEndian.Uint32(got)); d < -2 || d > int64(badTimeout/time.Second)+2 {
		t.Errorf("%s: %d s from the clock", what, d)
	}
}

func badTime(t *testing.T, addr string, r *rand.Rand) {
	t.Helper()
	got, err := sendAndReadAll(t, addr, randomBytesOf(r, r.IntN(64<<10)))
	if err != nil {
		t.Fatalf("time after random bytes: % x, %v; want 4 bytes and EOF", got, err)
	}
	checkTime(t, got, "time after random bytes")
}

func goodTime(t *testing.T, addr string, r *rand.Rand) {
	t.Helper()
	got, err := io.ReadAll(dialTCP(t, addr))
	if err != nil {
		t.Fatalf("a good time client: % x, %v", got, err)
	}
	checkTime(t, got, "a good time client")
}

func badTimeUDP(t *testing.T, addr string, r *rand.Rand) {
	t.Helper()
	c := udpConn(t, addr)
	c.Write(randomBytesOf(r, r.IntN(2049)))
	checkTime(t, udpRead(t, c, "udp time"), "udp time after a random datagram")
}

func goodTimeUDP(t *testing.T, addr string, r *rand.Rand) {
	t.Helper()
	c := udpConn(t, addr)
	c.Write(nil)
	checkTime(t, udpRead(t, c, "a good udp time client"), "a good udp time client")
}

// SNTP: a malformed request (too short, wrong mode, wrong version, random
// bytes) gets no reply; one that happens to be a valid client request
// gets a valid reply, as RFC 4330 asks. Each bad datagram is followed by a
// good request on the same socket, so the next reply tells, without a
// wait, whether the bad one was answered.

// sntpRequest is whether b is what RFC 4330 answers: 48 bytes or more,
// version 1 to 4, mode 3 (client).
func sntpRequest(b []byte) bool {
	return len(b) >= timeproto.SNTPPacketLen && b[0]&7 == 3 && b[0]>>3&7 >= 1 && b[0]>>3&7 <= 4
}

// malformedSNTP returns a datagram of one of the malformed kinds, and the
// kind's name.
func malformedSNTP(r *rand.Rand) ([]byte, string) {
	req := timeproto.SNTPRequest(nil, uint8(1+r.IntN(4)), time.Now())
	copy(req[1:40], randomBytesOf(r, 39)) // the fields a server ignores
	switch r.IntN(4) {
	case 0:
		return req[:r.IntN(timeproto.SNTPPacketLen)], "too short"
	case 1:
		req[0] = req[0]&^7 | []byte{0, 1, 2, 4, 5, 6, 7}[r.IntN(7)]
		return req, "wrong mode"
	case 2:
		req[0] = req[0]&^0x38 | []byte{0, 5, 6, 7}[r.IntN(4)]<<3
		return req, "wrong version"
	}
	return randomBytesOf(r, r.IntN(100)), "random"
}

// checkSNTPReply checks that got is a server reply to req.
func checkSNTPReply(t *testing.T, got, req []byte, what string) {
	t.Helper()
	p, err := timeproto.ParseSNTPReply(got)
	if err != nil {
		t.Fatalf("%s: reply % x: %v", what, got, err)
	}
	if want := binary.BigEndian.Uint64(req[40:48]); p.Originate != want {
		t.Fatalf("%s: the reply's originate timestamp is %x, want the request's %x: another datagram was answered", what, p.Originate, want)
	}
	if p.Mode != 4 || p.VN != req[0]>>3&7 || len(got) != timeproto.SNTPPacketLen {
		t.Fatalf("%s: reply mode %d version %d length %d, want 4, %d and 48", what, p.Mode, p.VN, len(got), req[0]>>3&7)
	}
}

func badSNTP(t *testing.T, addr string, r *rand.Rand) {
	t.Helper()
	c := udpConn(t, addr)
	bad, kind := malformedSNTP(r)
	good := timeproto.SNTPRequest(nil, 4, time.Now())
	c.Write(bad)
	c.Write(good)
	if sntpRequest(bad) {
		// Random bytes that form a valid request: answered, first.
		checkSNTPReply(t, udpRead(t, c, "sntp"), bad, fmt.Sprintf("a valid request among %s datagrams", kind))
	}
	checkSNTPReply(t, udpRead(t, c, "sntp"), good, fmt.Sprintf("the good request after a %s datagram (% x)", kind, bad))
}

func goodSNTP(t *testing.T, addr string, r *rand.Rand) {
	t.Helper()
	c := udpConn(t, addr)
	req := timeproto.SNTPRequest(nil, 4, time.Now())
	c.Write(req)
	checkSNTPReply(t, udpRead(t, c, "a good sntp client"), req, "a good sntp client")
}

// Array: input the service cannot take gets one line, "error: ...", then
// EOF. The bad inputs: random bytes (no magic), the magic with a random
// version and the rest random, and a version 1.0 preamble with a random
// dict of the length it announces.

func badArray(t *testing.T, addr string, r *rand.Rand) {
	t.Helper()
	var in []byte
	kind := []string{"random", "bad version", "random dict"}[r.IntN(3)]
	switch kind {
	case "random":
		in = randomBytesOf(r, 8+r.IntN(4096))
		in[0] = byte(r.IntN(0x93)) // not the magic's first byte
	case "bad version":
		v := []byte{byte(4 + r.IntN(252)), byte(r.IntN(256))} // major 1 to 3 are NPY's
		in = append(append([]byte("\x93NUMPY"), v...), randomBytesOf(r, 4+r.IntN(4096))...)
	default:
		dict := randomBytesOf(r, 64*(1+r.IntN(8))-10)
		in = binary.LittleEndian.AppendUint16([]byte("\x93NUMPY\x01\x00"), uint16(len(dict)))
		in = append(in, dict...)
	}
	got, err := sendAndReadAll(t, addr, in)
	line := string(got)
	if err != nil || !strings.HasPrefix(line, "error: ") || strings.Index(line, "\n") != len(line)-1 {
		t.Fatalf("array, %s input of %d bytes: got %q, %v; want one line \"error: ...\" and EOF", kind, len(in), got, err)
	}
}

func goodArray(t *testing.T, addr string, r *rand.Rand) {
	t.Helper()
	c := dialTCP(t, addr)
	xs := make([]float64, 1+r.IntN(1000))
	for i := range xs {
		xs[i] = r.NormFloat64()
	}
	errc := make(chan error, 1)
	go func() { errc <- array.WriteArray(c, nil, xs) }()
	h, data, err := array.ReadArrayInto(c, make([]byte, 8*len(xs)), array.Limits{})
	if err := errors.Join(err, <-errc); err != nil {
		t.Fatalf("a good array client: %v", err)
	}
	back, err := array.Float64s(data, h)
	if err != nil {
		t.Fatal(err)
	}
	for i := range xs {
		if back[i] != xs[i] {
			t.Fatalf("a good array client: element %d came back %v, want %v", i, back[i], xs[i])
		}
	}
}

// Questions and answers, line echo: random bytes, with the delimiter now
// and then sprinkled in, written whole and then the write side shut. The
// answer is computed from the framing's rules: every message up to its
// delimiter answered, in order; input with no delimiter within the
// maximum ends with the error line; a last unfinished message is answered
// as the service does at EOF; then the server closes.

// badMaxFramed is serve's --max-question and --max-line here: small, so
// random bytes cross it often.
const badMaxFramed = 256

// framedModel is what a framed service answers.
type framedModel struct {
	name    string
	delim   byte
	answer  func(msg []byte) []byte // msg ends with delim
	atEOF   func(tail []byte) []byte
	tooLong string
}

var (
	qaModel = framedModel{
		name:    "qa",
		delim:   '?',
		answer:  func(q []byte) []byte { return append(q[:len(q)-1:len(q)-1], '.') },
		atEOF:   func([]byte) []byte { return nil },
		tooLong: fmt.Sprintf("error: question longer than %d bytes\n", badMaxFramed),
	}
	linesModel = framedModel{
		name:    "lines",
		delim:   '\n',
		answer:  func(line []byte) []byte { return line },
		atEOF:   func(tail []byte) []byte { return tail },
		tooLong: fmt.Sprintf("error: line longer than %d bytes\n", badMaxFramed),
	}
)

// expect returns m's whole answer to in followed by the end of input.
func (m framedModel) expect(in []byte) []byte {
	var out []byte
	for len(in) > 0 {
		i := bytes.IndexByte(in[:min(len(in), badMaxFramed)], m.delim)
		switch {
		case i >= 0:
			out = append(out, m.answer(in[:i+1])...)
			in = in[i+1:]
			continue
		case len(in) >= badMaxFramed:
			out = append(out, m.tooLong...)
		default:
			out = append(out, m.atEOF(in)...)
		}
		break
	}
	return out
}

func badFramed(m framedModel, noHalfClose bool) func(t *testing.T, addr string, r *rand.Rand) {
	return func(t *testing.T, addr string, r *rand.Rand) {
		t.Helper()
		in := randomBytesOf(r, r.IntN(8<<10))
		if every := []int{0, 4, 32, 200}[r.IntN(4)]; every > 0 {
			for i := range in {
				if r.IntN(every) == 0 {
					in[i] = m.delim
				}
			}
		}
		want := m.expect(in)
		got, err := sendAndReadAll(t, addr, in)
		how := fmt.Sprintf("%s, %d random bytes (%d delimiters)", m.name, len(in), bytes.Count(in, []byte{m.delim}))
		if noHalfClose {
			if !bytes.HasPrefix(want, got) {
				t.Fatalf("%s: got %d bytes, not a prefix of the %d of the answer: %s", how, len(got), len(want), diff(got, want))
			}
			return
		}
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s: got %d bytes and %v, want %d and EOF: %s", how, len(got), err, len(want), diff(got, want))
		}
	}
}

func goodQA(t *testing.T, addr string, r *rand.Rand) {
	t.Helper()
	q := []byte("Yoyo?How are you?")
	if err := frametest.Exchange(addr, frametest.SplitAt(q, r.IntN(len(q)+1)), []byte("Yoyo.How are you.")); err != nil {
		t.Fatalf("a good qa client: %v", err)
	}
}

func goodLines(t *testing.T, addr string, r *rand.Rand) {
	t.Helper()
	lines := []byte("first line\nsecond\r\n\n")
	if err := frametest.Exchange(addr, frametest.SplitAt(lines, r.IntN(len(lines)+1)), lines); err != nil {
		t.Fatalf("a good lines client: %v", err)
	}
}

// diff says where got and want part, with a little of each from there.
func diff(got, want []byte) string {
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	return fmt.Sprintf("from byte %d got %q, want %q", i, got[i:min(len(got), i+40)], want[i:min(len(want), i+40)])
}
