package timeproto_test

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"github.com/edgeloop/edgeloop/backend"
	"github.com/edgeloop/edgeloop/protocols/timeproto"
)

const deadline = 10 * time.Second

// TestTCPServices: daytime and time over TCP send their answer and close,
// with EOF and never a reset, even when the client has sent bytes that
// nobody reads; on every backend.
func TestTCPServices(t *testing.T) {
	for _, b := range backend.Names() {
		t.Run("backend="+b, func(t *testing.T) {
			sv := serveTime(t, b)
			for _, tc := range []struct {
				name, addr string
				want       []byte
			}{
				{"daytime", sv.daytime, []byte(fixedTime.Format(time.ANSIC) + "\r\n")},
				{"time", sv.time, binary.BigEndian.AppendUint32(nil, timeproto.Seconds1900(fixedTime))},
			} {
				for _, chatty := range []bool{false, true} {
					nc, err := net.DialTimeout("tcp", tc.addr, deadline)
					if err != nil {
						t.Fatal(err)
					}
					nc.SetDeadline(time.Now().Add(deadline))
					if chatty {
						nc.Write(bytes.Repeat([]byte("unread "), 1000))
					}
					got, err := io.ReadAll(nc)
					nc.Close()
					if err != nil || !bytes.Equal(got, tc.want) {
						t.Errorf("%s (client sent input: %v): got %q, %v; want %q and EOF", tc.name, chatty, got, err, tc.want)
					}
				}
			}
		})
	}
}

// udpAsk sends each of reqs to addr and returns the first reply.
func udpAsk(t *testing.T, addr string, reqs ...[]byte) []byte {
	t.Helper()
	uc, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	uc.SetDeadline(time.Now().Add(deadline))
	for _, r := range reqs {
		if _, err := uc.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	buf := make([]byte, 1500)
	n, err := uc.Read(buf)
	if err != nil {
		t.Fatalf("no reply from %s: %v", addr, err)
	}
	return buf[:n]
}

// TestUDPServices: daytime and time answer any datagram, the empty one
// included.
func TestUDPServices(t *testing.T) {
	for _, b := range backend.Names() {
		t.Run("backend="+b, func(t *testing.T) {
			sv := serveTime(t, b)
			if !sv.udp {
				t.Skipf("%s serves no datagrams (see README's backend table)", b)
			}
			if got, want := string(udpAsk(t, sv.daytime, nil)), fixedTime.Format(time.ANSIC)+"\r\n"; got != want {
				t.Errorf("daytime: %q, want %q", got, want)
			}
			got := udpAsk(t, sv.time, []byte("x"))
			if len(got) != 4 || binary.BigEndian.Uint32(got) != timeproto.Seconds1900(fixedTime) {
				t.Errorf("time: %x, want %d big-endian", got, timeproto.Seconds1900(fixedTime))
			}
		})
	}
}

// TestSNTPIgnoresWhatIsNotARequest: packets that are short, of another
// mode or version get no reply. Each bad packet goes out before one good
// request, and the first reply must answer the good one (its originate
// timestamp is that request's transmit timestamp), so no wait is needed to
// see that the bad ones got nothing.
func TestSNTPIgnoresWhatIsNotARequest(t *testing.T) {
	good := timeproto.SNTPRequest(nil, 4, time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC))
	mode := func(m byte) []byte {
		p := timeproto.SNTPRequest(nil, 4, time.Now())
		p[0] = p[0]&^7 | m
		return p
	}
	version := func(v byte) []byte {
		p := timeproto.SNTPRequest(nil, 4, time.Now())
		p[0] = p[0]&^0x38 | v<<3
		return p
	}
	bad := map[string][]byte{
		"empty":     {},
		"47 bytes":  good[:47],
		"mode 4":    mode(4),
		"mode 1":    mode(1),
		"mode 0":    mode(0),
		"version 0": version(0),
		"version 7": version(7),
	}
	for _, b := range backend.Names() {
		t.Run("backend="+b, func(t *testing.T) {
			sv := serveTime(t, b)
			if !sv.udp {
				t.Skipf("%s serves no datagrams (see README's backend table)", b)
			}
			for name, p := range bad {
				reply, err := timeproto.ParseSNTPReply(udpAsk(t, sv.sntp, p, good))
				if err != nil {
					t.Fatalf("%s: reply to the good request: %v", name, err)
				}
				if want := binary.BigEndian.Uint64(good[40:]); reply.Originate != want {
					t.Errorf("%s got a reply (originate %x, want the good request's %x)", name, reply.Originate, want)
				}
			}
		})
	}
}

// TestSNTPKernelReceiveTime: with the real clock, the reply's receive
// timestamp is when the request arrived, and the fields are a server's.
func TestSNTPKernelReceiveTime(t *testing.T) {
	for _, b := range backend.Names() {
		t.Run("backend="+b, func(t *testing.T) {
			l := serveReal(t, b)
			if l == "" {
				t.Skipf("%s serves no datagrams (see README's backend table)", b)
			}
			before := time.Now()
			reply, err := timeproto.ParseSNTPReply(udpAsk(t, l, timeproto.SNTPRequest(nil, 3, before)))
			after := time.Now()
			if err != nil {
				t.Fatal(err)
			}
			if reply.Mode != 4 || reply.VN != 3 || reply.LI != 0 || reply.Stratum != 1 {
				t.Errorf("mode %d version %d LI %d stratum %d, want 4, 3 (copied), 0, 1", reply.Mode, reply.VN, reply.LI, reply.Stratum)
			}
			recv := timeproto.FromNTP(reply.Receive, before)
			xmit := timeproto.FromNTP(reply.Transmit, before)
			slack := time.Millisecond // NTP rounding, clock reads
			if recv.Before(before.Add(-slack)) || recv.After(after.Add(slack)) || xmit.Before(recv) {
				t.Errorf("receive %v transmit %v, want receive within [%v, %v] and transmit after it", recv, xmit, before, after)
			}
		})
	}
}
