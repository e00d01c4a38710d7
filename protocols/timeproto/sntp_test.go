package timeproto_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/edgeloop/edgeloop/protocols/timeproto"
)

var (
	clientXmit = utc(2026, 11, 24, 18, 44, 6, 123456789)
	serverRecv = utc(2026, 11, 24, 18, 44, 7, 250000000)
	serverXmit = utc(2026, 11, 24, 18, 44, 7, 250001000)
)

// request returns a client request of version vn with poll 6 and a transmit
// timestamp whose every byte differs, so a misplaced copy shows.
func request(vn uint8) []byte {
	req := timeproto.SNTPRequest(nil, vn, clientXmit)
	req[2] = 6
	copy(req[40:], []byte{1, 2, 3, 4, 5, 6, 7, 8})
	return req
}

func TestSNTPReply(t *testing.T) {
	tests := []struct {
		name      string
		vn        uint8
		cfg       timeproto.SNTPConfig
		stratum   uint8
		refID     string
		precision int8
	}{
		{"v3 defaults", 3, timeproto.SNTPConfig{}, 1, "LOCL", -20},
		{"v4 defaults", 4, timeproto.SNTPConfig{}, 1, "LOCL", -20},
		{"v1", 1, timeproto.SNTPConfig{}, 1, "LOCL", -20},
		{"v2", 2, timeproto.SNTPConfig{}, 1, "LOCL", -20},
		{"v4 overrides", 4, timeproto.SNTPConfig{Stratum: 2, RefID: [4]byte{192, 0, 2, 1}, Precision: -23}, 2, "\xc0\x00\x02\x01", -23},
		{"stratum 15", 3, timeproto.SNTPConfig{Stratum: 15, RefID: [4]byte{'G', 'P', 'S'}, Precision: 1}, 15, "GPS\x00", 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := request(tc.vn)
			out, err := timeproto.SNTPReply([]byte("x"), req, serverRecv, serverXmit, tc.cfg)
			if err != nil {
				t.Fatalf("SNTPReply: %v", err)
			}
			if len(out) != 1+timeproto.SNTPPacketLen || out[0] != 'x' {
				t.Fatalf("SNTPReply appended %d bytes to %q, want 48 after \"x\"", len(out)-1, out[:1])
			}
			reply := out[1:]
			if !bytes.Equal(reply[24:32], req[40:48]) {
				t.Errorf("originate = % x, want the request's transmit % x", reply[24:32], req[40:48])
			}
			p, err := timeproto.ParseSNTPReply(reply)
			if err != nil {
				t.Fatalf("ParseSNTPReply: %v", err)
			}
			want := timeproto.SNTPPacket{
				LI: 0, VN: tc.vn, Mode: 4, Stratum: tc.stratum, Poll: 6, Precision: tc.precision,
				RootDelay: 0, RootDispersion: p.RootDispersion, RefID: [4]byte([]byte(tc.refID)),
				Reference: timeproto.ToNTP(serverRecv.Truncate(time.Second)),
				Originate: 0x0102030405060708,
				Receive:   timeproto.ToNTP(serverRecv),
				Transmit:  timeproto.ToNTP(serverXmit),
			}
			if p != want {
				t.Errorf("reply\n got %+v\nwant %+v", p, want)
			}
			// Root dispersion is in 16.16 seconds: nonzero, under 10 ms.
			if p.RootDispersion == 0 || p.RootDispersion > 65536/100 {
				t.Errorf("root dispersion = %#x, want nonzero and under 10 ms", p.RootDispersion)
			}
		})
	}
}

// TestSNTPReplyReferenceNeverZero covers the second at each era's end, where
// recv truncated to the second is timestamp 0, which clients reject.
func TestSNTPReplyReferenceNeverZero(t *testing.T) {
	for _, recv := range []time.Time{
		utc(2036, 2, 7, 6, 28, 16, 0),
		utc(2036, 2, 7, 6, 28, 16, 999999999),
		utc(1900, 1, 1, 0, 0, 0, 500000000),
		utc(2036, 2, 7, 6, 28, 15, 999999999),
		utc(2036, 2, 7, 6, 28, 17, 0),
		serverRecv,
	} {
		t.Run(recv.Format(time.RFC3339Nano), func(t *testing.T) {
			out, err := timeproto.SNTPReply(nil, request(4), recv, recv, timeproto.SNTPConfig{})
			if err != nil {
				t.Fatalf("SNTPReply: %v", err)
			}
			ref := binary.BigEndian.Uint64(out[16:24])
			if ref == 0 {
				t.Fatalf("reference timestamp is zero")
			}
			refTime := timeproto.FromNTP(ref, recv)
			if refTime.After(recv) || recv.Sub(refTime) > time.Second {
				t.Errorf("reference %v, want within the second up to recv %v", refTime, recv)
			}
		})
	}
}

func TestSNTPReplyIgnoresExtensions(t *testing.T) {
	// A 4-byte key ID and a 16-byte MD5 digest, as NTPv3 clients with
	// authentication send them.
	req := append(request(3), bytes.Repeat([]byte{0xAA}, 20)...)
	out, err := timeproto.SNTPReply(nil, req, serverRecv, serverXmit, timeproto.SNTPConfig{})
	if err != nil {
		t.Fatalf("SNTPReply: %v", err)
	}
	if len(out) != timeproto.SNTPPacketLen {
		t.Errorf("reply is %d bytes, want 48", len(out))
	}
	if !bytes.Equal(out[24:32], req[40:48]) {
		t.Errorf("originate = % x, want % x", out[24:32], req[40:48])
	}
}

func TestSNTPReplyNoReply(t *testing.T) {
	withByte0 := func(b byte) []byte {
		req := request(4)
		req[0] = b
		return req
	}
	tests := []struct {
		name string
		req  []byte
		cfg  timeproto.SNTPConfig
		want error
	}{
		{"empty", nil, timeproto.SNTPConfig{}, timeproto.ErrShortPacket},
		{"47 bytes", request(4)[:47], timeproto.SNTPConfig{}, timeproto.ErrShortPacket},
		{"version 0", withByte0(0<<3 | 3), timeproto.SNTPConfig{}, timeproto.ErrVersion},
		{"version 5", withByte0(5<<3 | 3), timeproto.SNTPConfig{}, timeproto.ErrVersion},
		{"version 7", withByte0(7<<3 | 3), timeproto.SNTPConfig{}, timeproto.ErrVersion},
		{"mode 0 reserved", withByte0(4 << 3), timeproto.SNTPConfig{}, timeproto.ErrNotRequest}, // mode 0
		{"mode 1 symmetric active", withByte0(4<<3 | 1), timeproto.SNTPConfig{}, timeproto.ErrNotRequest},
		{"mode 2 symmetric passive", withByte0(4<<3 | 2), timeproto.SNTPConfig{}, timeproto.ErrNotRequest},
		{"mode 4 server", withByte0(4<<3 | 4), timeproto.SNTPConfig{}, timeproto.ErrNotRequest},
		{"mode 5 broadcast", withByte0(4<<3 | 5), timeproto.SNTPConfig{}, timeproto.ErrNotRequest},
		{"mode 6 control", withByte0(2<<3 | 6), timeproto.SNTPConfig{}, timeproto.ErrNotRequest},
		{"mode 7 private", withByte0(2<<3 | 7), timeproto.SNTPConfig{}, timeproto.ErrNotRequest},
		{"own reply", mustReply(t, request(4)), timeproto.SNTPConfig{}, timeproto.ErrNotRequest},
		{"config stratum 16", request(4), timeproto.SNTPConfig{Stratum: 16}, timeproto.ErrStratum},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dst := make([]byte, 1, 64)
			out, err := timeproto.SNTPReply(dst, tc.req, serverRecv, serverXmit, tc.cfg)
			if !errors.Is(err, tc.want) {
				t.Errorf("SNTPReply error = %v, want %v", err, tc.want)
			}
			if len(out) != 1 || &out[0] != &dst[0] {
				t.Errorf("SNTPReply returned %d bytes, want dst unchanged", len(out))
			}
		})
	}
}

func mustReply(t testing.TB, req []byte) []byte {
	t.Helper()
	out, err := timeproto.SNTPReply(nil, req, serverRecv, serverXmit, timeproto.SNTPConfig{})
	if err != nil {
		t.Fatalf("SNTPReply: %v", err)
	}
	return out
}

func TestSNTPRequest(t *testing.T) {
	for _, vn := range []uint8{1, 3, 4} {
		req := timeproto.SNTPRequest([]byte("x"), vn, clientXmit)
		if len(req) != 1+timeproto.SNTPPacketLen || req[0] != 'x' {
			t.Fatalf("SNTPRequest appended %d bytes to %q, want 48 after \"x\"", len(req)-1, req[:1])
		}
		req = req[1:]
		want := make([]byte, timeproto.SNTPPacketLen)
		want[0] = vn<<3 | 3
		binary.BigEndian.PutUint64(want[40:], timeproto.ToNTP(clientXmit))
		if !bytes.Equal(req, want) {
			t.Errorf("SNTPRequest(v%d) =\n% x\nwant\n% x", vn, req, want)
		}
	}
}

func TestParseSNTPReplyRejects(t *testing.T) {
	reply := mustReply(t, request(4))
	withByte0 := func(b byte) []byte {
		r := bytes.Clone(reply)
		r[0] = b
		return r
	}
	tests := []struct {
		name string
		b    []byte
		want error
	}{
		{"47 bytes", reply[:47], timeproto.ErrShortPacket},
		{"version 0", withByte0(0<<3 | 4), timeproto.ErrVersion},
		{"version 5", withByte0(5<<3 | 4), timeproto.ErrVersion},
		{"client request", request(4), timeproto.ErrNotReply},
		{"mode 2 symmetric passive", withByte0(4<<3 | 2), timeproto.ErrNotReply},
		{"mode 5 broadcast", withByte0(4<<3 | 5), timeproto.ErrNotReply},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := timeproto.ParseSNTPReply(tc.b)
			if !errors.Is(err, tc.want) || p != (timeproto.SNTPPacket{}) {
				t.Errorf("ParseSNTPReply = %+v, %v; want zero packet, %v", p, err, tc.want)
			}
		})
	}
}

func TestParseSNTPReplyLeap(t *testing.T) {
	reply := mustReply(t, request(4))
	reply[0] |= 3 << 6 // leap indicator 3: unsynchronized
	p, err := timeproto.ParseSNTPReply(reply)
	if err != nil || p.LI != 3 || p.VN != 4 || p.Mode != 4 {
		t.Errorf("ParseSNTPReply = LI %d VN %d mode %d, %v; want 3 4 4, nil", p.LI, p.VN, p.Mode, err)
	}
}

// FuzzSNTPReply fuzzes the server's request path: SNTPReply with any
// datagram as the request, as the SNTP service calls it for each datagram
// it receives. It must answer exactly the valid client requests (48 bytes
// or more, version 1 to 4, mode 3) with a 48-byte reply that the client
// parser accepts, echoing the request's version and transmit timestamp,
// and leave dst unchanged for everything else.
func FuzzSNTPReply(f *testing.F) {
	f.Add(request(3))
	f.Add(request(4))
	f.Add(request(1))
	f.Add(request(4)[:47])
	f.Add(append(request(3), make([]byte, 20)...))
	f.Add(mustReply(f, request(4)))
	f.Add([]byte{})
	f.Add(bytes.Repeat([]byte{0xFF}, 48))
	f.Add(bytes.Repeat([]byte{0x23}, 48)) // v4 mode 3, every other byte 0x23
	f.Fuzz(func(t *testing.T, req []byte) {
		dst := []byte("x")
		out, err := timeproto.SNTPReply(dst, req, serverRecv, serverXmit, timeproto.SNTPConfig{})
		valid := len(req) >= 48 && req[0]&7 == 3 && req[0]>>3&7 >= 1 && req[0]>>3&7 <= 4
		if err != nil {
			if valid {
				t.Fatalf("no reply to a valid request: %v", err)
			}
			if len(out) != 1 || out[0] != 'x' {
				t.Fatalf("dst changed on error %v: %q", err, out)
			}
			return
		}
		if !valid {
			t.Fatalf("replied to % x", req)
		}
		if len(out) != 1+timeproto.SNTPPacketLen {
			t.Fatalf("reply is %d bytes, want 48", len(out)-1)
		}
		p, err := timeproto.ParseSNTPReply(out[1:])
		if err != nil {
			t.Fatalf("ParseSNTPReply of our reply: %v", err)
		}
		if p.VN != req[0]>>3&7 || p.Originate != binary.BigEndian.Uint64(req[40:]) || p.Reference == 0 {
			t.Fatalf("reply %+v to request % x", p, req)
		}
	})
}

// FuzzParseSNTPReply fuzzes the client parser with any datagram as the
// reply: it must accept exactly the 48-byte-or-longer headers of version 1
// to 4 and mode 4, decode every field from its place, and reject the rest
// with one of its errors, never panicking.
func FuzzParseSNTPReply(f *testing.F) {
	f.Add(mustReply(f, request(4)))
	f.Add(mustReply(f, request(1)))
	f.Add(request(4))
	f.Add(mustReply(f, request(3))[:47])
	f.Add(append(mustReply(f, request(4)), 0xAA, 0xBB))
	f.Add([]byte{})
	f.Add(bytes.Repeat([]byte{0xFF}, 48))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := timeproto.ParseSNTPReply(b)
		valid := len(b) >= 48 && b[0]&7 == 4 && b[0]>>3&7 >= 1 && b[0]>>3&7 <= 4
		if err != nil {
			if valid {
				t.Fatalf("rejected a valid reply % x: %v", b, err)
			}
			if !errors.Is(err, timeproto.ErrShortPacket) && !errors.Is(err, timeproto.ErrVersion) && !errors.Is(err, timeproto.ErrNotReply) {
				t.Fatalf("error %v is none of the parser's", err)
			}
			if p != (timeproto.SNTPPacket{}) {
				t.Fatalf("error %v with a non-zero packet %+v", err, p)
			}
			return
		}
		if !valid {
			t.Fatalf("accepted % x as a reply: %+v", b, p)
		}
		be := binary.BigEndian
		want := timeproto.SNTPPacket{
			LI: b[0] >> 6, VN: b[0] >> 3 & 7, Mode: 4, Stratum: b[1], Poll: int8(b[2]), Precision: int8(b[3]),
			RootDelay: be.Uint32(b[4:]), RootDispersion: be.Uint32(b[8:]), RefID: [4]byte(b[12:16]),
			Reference: be.Uint64(b[16:]), Originate: be.Uint64(b[24:]), Receive: be.Uint64(b[32:]), Transmit: be.Uint64(b[40:]),
		}
		if p != want {
			t.Fatalf("ParseSNTPReply(% x) = %+v, want %+v", b, p, want)
		}
	})
}
