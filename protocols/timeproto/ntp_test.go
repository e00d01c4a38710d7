package timeproto_test

import (
	"testing"
	"time"

	"github.com/edgeloop/edgeloop/protocols/timeproto"
)

func TestToNTP(t *testing.T) {
	tests := []struct {
		name string
		t    time.Time
		want uint64
	}{
		{"ntp epoch", utc(1900, 1, 1, 0, 0, 0, 0), 0},
		{"unix epoch", time.Unix(0, 0), 0x83AA7E80 << 32},
		{"half second", utc(1970, 1, 1, 0, 0, 0, 500000000), 0x83AA7E80<<32 | 1<<31},
		{"one nanosecond rounds to 4 units", utc(1970, 1, 1, 0, 0, 0, 1), 0x83AA7E80<<32 | 4},
		{"last nanosecond does not carry", utc(1970, 1, 1, 0, 0, 0, 999999999), 0x83AA7E80<<32 | 0xFFFFFFFC},
		{"last second of era 0", utc(2036, 2, 7, 6, 28, 15, 0), 0xFFFFFFFF << 32},
		{"era 1 wraps", utc(2036, 2, 7, 6, 28, 17, 250000000), 1<<32 | 1<<30},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := timeproto.ToNTP(tc.t); got != tc.want {
				t.Errorf("ToNTP(%v) = %#016x, want %#016x", tc.t, got, tc.want)
			}
		})
	}
}

func TestFromNTP(t *testing.T) {
	tests := []struct {
		name string
		ts   uint64
		near time.Time
		want time.Time
	}{
		{"unix epoch", 0x83AA7E80 << 32, utc(2000, 1, 1, 0, 0, 0, 0), utc(1970, 1, 1, 0, 0, 0, 0)},
		{"ntp epoch", 0, utc(1950, 1, 1, 0, 0, 0, 0), utc(1900, 1, 1, 0, 0, 0, 0)},
		{"zero near the wrap is era 1", 0, utc(2036, 1, 1, 0, 0, 0, 0), utc(2036, 2, 7, 6, 28, 16, 0)},
		{"era 1 from before the wrap", 1<<32 | 1<<31, utc(2036, 2, 7, 6, 0, 0, 0), utc(2036, 2, 7, 6, 28, 17, 500000000)},
		{"era 1 from 2020", 1 << 32, utc(2020, 6, 1, 0, 0, 0, 0), utc(2036, 2, 7, 6, 28, 17, 0)},
		{"era 0 from after the wrap", 0xFFFFFFFF << 32, utc(2036, 3, 1, 0, 0, 0, 0), utc(2036, 2, 7, 6, 28, 15, 0)},
		{"era 1 far out", 0x83AA7E80 << 32, utc(2100, 1, 1, 0, 0, 0, 0), utc(2106, 2, 7, 6, 28, 16, 0)},
		{"era -1", 0xFFFFFFFF << 32, utc(1900, 6, 1, 0, 0, 0, 0), utc(1899, 12, 31, 23, 59, 59, 0)},
		{"fraction rounds up into the next second", 0x83AA7E80<<32 | 0xFFFFFFFF, utc(1970, 1, 1, 0, 0, 0, 0), utc(1970, 1, 1, 0, 0, 1, 0)},
		{"near in another location", 0x83AA7E80 << 32, time.Date(1970, 1, 1, 0, 0, 0, 0, time.FixedZone("UTC+9", 9*3600)), utc(1970, 1, 1, 0, 0, 0, 0)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := timeproto.FromNTP(tc.ts, tc.near)
			if !got.Equal(tc.want) || got.Location() != time.UTC {
				t.Errorf("FromNTP(%#016x, %v) = %v, want %v", tc.ts, tc.near, got, tc.want)
			}
		})
	}
}

// TestNTPRoundTrip checks that the 2^-32 s quantum (about 0.23 ns) keeps every
// nanosecond: time to timestamp and back is exact, and timestamp to time and
// back moves the timestamp by less than 1 ns.
func TestNTPRoundTrip(t *testing.T) {
	bases := []time.Time{
		utc(1900, 1, 1, 0, 0, 0, 0),
		time.Unix(0, 0),
		utc(2026, 11, 24, 18, 44, 7, 0),
		utc(2036, 2, 7, 6, 28, 15, 0),
		utc(2036, 2, 7, 6, 28, 16, 0),
		utc(2090, 7, 1, 12, 0, 0, 0),
	}
	// Nanoseconds spread over the second, both ends included.
	var nanos []int
	for ns := 0; ns < 1e9; ns += 7919 * 1009 {
		nanos = append(nanos, ns, ns+1, 1e9-1-ns)
	}
	for _, base := range bases {
		for _, ns := range nanos {
			tm := base.Add(time.Duration(ns))
			ts := timeproto.ToNTP(tm)
			if back := timeproto.FromNTP(ts, base); !back.Equal(tm) {
				t.Fatalf("FromNTP(ToNTP(%v)) = %v, off by %v", tm, back, back.Sub(tm))
			}
			// A timestamp between two nanoseconds comes back at most 2 units
			// (0.47 ns) off: half a nanosecond, then half a unit, of rounding.
			odd := ts + 2
			again := timeproto.ToNTP(timeproto.FromNTP(odd, base))
			if d := int64(again - odd); d < -2 || d > 2 {
				t.Fatalf("ToNTP(FromNTP(%#016x)) = %#016x, %d units off", odd, again, d)
			}
		}
	}
}
