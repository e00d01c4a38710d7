package timeproto

import (
	"encoding/binary"
	"time"
)

// ntpUnixOffset is the number of seconds from 1900-01-01 00:00 UTC, the NTP
// and RFC 868 epoch, to 1970-01-01 00:00 UTC, the Unix epoch.
const ntpUnixOffset = 2208988800

// Seconds1900 is RFC 868's value for t: the whole seconds (fraction dropped)
// since 1900-01-01 00:00 UTC, modulo 2^32. The 32-bit value wraps to 0 at
// 2036-02-07 06:28:16 UTC. Times before 1900 are not representable in RFC 868
// and wrap the same way, modulo 2^32: 1899-12-31 23:59:59 UTC gives
// 4294967295, the value of 2036-02-07 06:28:15 UTC. A reader that knows the
// time roughly resolves the ambiguity, as FromNTP does.
func Seconds1900(t time.Time) uint32 {
	// Unix rounds toward the past, and the conversion keeps the low 32 bits
	// of the two's complement value: both are correct modulo 2^32.
	return uint32(t.Unix() + ntpUnixOffset)
}

// AppendTime appends the RFC 868 reply for t: Seconds1900(t) as 4 bytes, big
// endian.
func AppendTime(dst []byte, t time.Time) []byte {
	return binary.BigEndian.AppendUint32(dst, Seconds1900(t))
}
