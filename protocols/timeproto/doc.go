// Package timeproto implements three time services: Daytime (RFC 867, port
// 13), Time (RFC 868, port 37) and SNTP (RFC 4330, port 123, with the NTPv4
// packet format of RFC 5905).
//
// The codec is pure and allocation-free: each Append function appends one
// reply to a caller-owned buffer and reads the time from its argument, never
// from the clock, so tests pass fixed times. A Daytime reply is the time as
// ctime text and a line end; a Time reply is 4 bytes, the seconds since 1900
// modulo 2^32; an SNTP reply is one 48-byte NTP header answering a client
// request, or an error saying why the request gets no reply. ToNTP and
// FromNTP convert between time.Time and 64-bit NTP timestamps, FromNTP
// resolving the 136-year era from a nearby time. The network handlers, which
// call the codec with a Clock, live beside it in this package.
//
// Usage:
//
//	buf = timeproto.AppendDaytime(buf[:0], time.Now())
//	buf = timeproto.AppendTime(buf[:0], time.Now())
//	out, err := timeproto.SNTPReply(buf[:0], req, recv, time.Now(), timeproto.SNTPConfig{})
//	if err != nil {
//		// drop req: it is not an SNTP client request
//	}
package timeproto
