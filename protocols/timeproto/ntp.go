package timeproto

import "time"

// ToNTP returns t as a 64-bit NTP timestamp (RFC 5905 section 6): the high
// 32 bits are Seconds1900(t), wrapping every 2^32 seconds (era 0 ends on
// 2036-02-07 06:28:16 UTC), the low 32 bits the fraction of a second in units
// of 2^-32 s, rounded to the nearest unit.
func ToNTP(t time.Time) uint64 {
	frac := (uint64(t.Nanosecond())<<32 + 5e8) / 1e9 // at most 2^32-4: no carry
	return uint64(Seconds1900(t))<<32 | frac
}

// FromNTP returns the time, in UTC and rounded to the nanosecond, of the NTP
// timestamp ts in the era that puts it nearest to near: the time is right
// when near is within 68 years (2^31 s) of it. This is RFC 5905's era
// arithmetic, and generalizes RFC 4330 section 3, which takes timestamps with
// the high bit set as 1968 to 2036 and the others as 2036 to 2104, to any
// reference time. A zero ts, which NTP uses for "unknown", is not special
// here.
func FromNTP(ts uint64, near time.Time) time.Time {
	nearSec := near.Unix() + ntpUnixOffset
	// The signed 32-bit difference picks the era closest to near.
	sec := nearSec + int64(int32(uint32(ts>>32)-uint32(nearSec)))
	ns := (ts&(1<<32-1)*1e9 + 1<<31) >> 32 // may round up to 1e9; time.Unix carries it
	return time.Unix(sec-ntpUnixOffset, int64(ns)).UTC()
}
