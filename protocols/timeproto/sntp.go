package timeproto

import (
	"encoding/binary"
	"time"
)

// SNTPPacketLen is the length of an NTP header without extension fields or
// MAC: 48 bytes.
const SNTPPacketLen = 48

// NTP modes (RFC 5905 figure 10).
const (
	modeClient = 3
	modeServer = 4
)

// rootDispersion is the root dispersion of every reply, in NTP short format
// (16.16 fixed point seconds): 2^-10 s, about 1 ms. It is nonzero because
// the server makes no claim that its clock is exact, and small so that
// clients accept the server (RFC 5905 rejects a root distance above 1.5 s).
const rootDispersion = 1 << 6

// SNTPConfig is what an SNTP server says about itself in its replies. The
// zero value is a stratum 1 server with reference ID "LOCL" (undisciplined
// local clock) and a precision of 2^-20 s (about 1 µs).
type SNTPConfig struct {
	Stratum   uint8   // 1 to 15; 0 means the default, 1
	RefID     [4]byte // zero means the default "LOCL"
	Precision int8    // log2 seconds; 0 means the default, -20
}

// SNTPPacket is an NTP header as ParseSNTPReply decodes it. Timestamps are
// raw 64-bit NTP timestamps (convert them with FromNTP); RootDelay and
// RootDispersion are raw NTP short format, 16.16 fixed point seconds.
type SNTPPacket struct {
	LI             uint8 // leap indicator, 0 to 3
	VN             uint8 // version number, 1 to 4
	Mode           uint8 // 4 (server) in a reply
	Stratum        uint8
	Poll           int8 // log2 seconds
	Precision      int8 // log2 seconds
	RootDelay      uint32
	RootDispersion uint32
	RefID          [4]byte
	Reference      uint64 // when the server's clock was last set
	Originate      uint64 // the request's transmit timestamp, echoed
	Receive        uint64 // when the request reached the server
	Transmit       uint64 // when the reply left the server
}

// checkHeader returns why b is not an NTP header of version 1 to 4.
func checkHeader(b []byte) error {
	if len(b) < SNTPPacketLen {
		return ErrShortPacket
	}
	if vn := b[0] >> 3 & 7; vn < 1 || vn > 4 {
		return ErrVersion
	}
	return nil
}

// SNTPReply appends the 48-byte reply to the client request req (RFC 4330
// section 5, packet format of RFC 5905 section 7.3). recv is when req
// arrived, xmit when the reply leaves. It returns dst unchanged and an error
// when req gets no reply: ErrShortPacket if it is shorter than 48 bytes,
// ErrVersion if its version is not 1 to 4, ErrNotRequest if its mode is not
// 3 (client). RFC 4330 also answers mode 1 (symmetric active) with mode 2;
// this server does not, as it keeps no peer state. Extension fields and MAC
// after the header are ignored, so a reply is never longer than its request.
// ErrStratum reports a cfg.Stratum above 15.
//
// The reply has leap indicator 0; the request's version and poll; mode 4;
// stratum, precision and reference ID from cfg; root delay 0; root
// dispersion 2^-10 s; as reference timestamp recv truncated to the second,
// never zero, as clients take zero for an unsynchronized server (in the one
// second of each era where it would be zero, it is 2^-32 s before the era
// ends); as originate timestamp the request's transmit timestamp, bytes 40 to
// 47 copied verbatim; receive timestamp ToNTP(recv) and transmit timestamp
// ToNTP(xmit).
func SNTPReply(dst, req []byte, recv, xmit time.Time, cfg SNTPConfig) ([]byte, error) {
	if err := checkHeader(req); err != nil {
		return dst, err
	}
	if req[0]&7 != modeClient {
		return dst, ErrNotRequest
	}
	if cfg.Stratum > 15 {
		return dst, ErrStratum
	}
	if cfg.Stratum == 0 {
		cfg.Stratum = 1
	}
	if cfg.RefID == [4]byte{} {
		cfg.RefID = [4]byte{'L', 'O', 'C', 'L'}
	}
	if cfg.Precision == 0 {
		cfg.Precision = -20
	}
	ref := ToNTP(recv) &^ (1<<32 - 1)
	if ref == 0 {
		ref-- // 2^-32 s before the era ends: still not after recv
	}
	vn := req[0] >> 3 & 7
	dst = append(dst, vn<<3|modeServer, cfg.Stratum, req[2], byte(cfg.Precision))
	dst = binary.BigEndian.AppendUint32(dst, 0) // root delay
	dst = binary.BigEndian.AppendUint32(dst, rootDispersion)
	dst = append(dst, cfg.RefID[:]...)
	dst = binary.BigEndian.AppendUint64(dst, ref)
	dst = append(dst, req[40:48]...) // originate: the client matches it bit for bit
	dst = binary.BigEndian.AppendUint64(dst, ToNTP(recv))
	dst = binary.BigEndian.AppendUint64(dst, ToNTP(xmit))
	return dst, nil
}

// SNTPRequest appends a 48-byte client request (mode 3, leap indicator 0)
// of version vn, whose low 3 bits only are used, with transmit timestamp
// ToNTP(xmit) and every other field zero, as RFC 4330 section 5 asks of
// clients.
func SNTPRequest(dst []byte, vn uint8, xmit time.Time) []byte {
	dst = append(dst, (vn&7)<<3|modeClient)
	dst = append(dst, make([]byte, 39)...) // the compiler appends zeros without allocating
	return binary.BigEndian.AppendUint64(dst, ToNTP(xmit))
}

// ParseSNTPReply decodes the NTP header at the start of the server reply b,
// ignoring anything after it. It returns ErrShortPacket if b is shorter than
// 48 bytes, ErrVersion if the version is not 1 to 4 and ErrNotReply if the
// mode is not 4 (server). It does not check the reply against a request:
// the caller compares Originate with the transmit timestamp it sent.
func ParseSNTPReply(b []byte) (SNTPPacket, error) {
	if err := checkHeader(b); err != nil {
		return SNTPPacket{}, err
	}
	if b[0]&7 != modeServer {
		return SNTPPacket{}, ErrNotReply
	}
	be := binary.BigEndian
	return SNTPPacket{
		LI:             b[0] >> 6,
		VN:             b[0] >> 3 & 7,
		Mode:           b[0] & 7,
		Stratum:        b[1],
		Poll:           int8(b[2]),
		Precision:      int8(b[3]),
		RootDelay:      be.Uint32(b[4:]),
		RootDispersion: be.Uint32(b[8:]),
		RefID:          [4]byte(b[12:16]),
		Reference:      be.Uint64(b[16:]),
		Originate:      be.Uint64(b[24:]),
		Receive:        be.Uint64(b[32:]),
		Transmit:       be.Uint64(b[40:]),
	}, nil
}
