package timeproto_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/edgeloop/edgeloop/protocols/timeproto"
)

func utc(year int, month time.Month, day, hour, min, sec, nsec int) time.Time {
	return time.Date(year, month, day, hour, min, sec, nsec, time.UTC)
}

func TestSeconds1900(t *testing.T) {
	tests := []struct {
		name string
		t    time.Time
		want uint32
	}{
		// The examples of RFC 868.
		{"rfc868 1970", utc(1970, 1, 1, 0, 0, 0, 0), 2208988800},
		{"rfc868 1976", utc(1976, 1, 1, 0, 0, 0, 0), 2398291200},
		{"rfc868 1980", utc(1980, 1, 1, 0, 0, 0, 0), 2524521600},
		{"rfc868 1983", utc(1983, 5, 1, 0, 0, 0, 0), 2629584000},
		{"epoch 1900", utc(1900, 1, 1, 0, 0, 0, 0), 0},
		{"fraction dropped", utc(1970, 1, 1, 0, 0, 0, 999999999), 2208988800},
		{"other location", time.Date(1970, 1, 1, 2, 0, 0, 0, time.FixedZone("UTC+2", 2*3600)), 2208988800},
		{"last second of era 0", utc(2036, 2, 7, 6, 28, 15, 0), 4294967295},
		{"wrap", utc(2036, 2, 7, 6, 28, 16, 0), 0},
		{"after wrap", utc(2036, 2, 7, 6, 28, 17, 0), 1},
		{"before 1900 wraps", utc(1899, 12, 31, 23, 59, 59, 0), 4294967295},
		{"before 1900 fraction", utc(1899, 12, 31, 23, 59, 59, 500000000), 4294967295},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := timeproto.Seconds1900(tc.t); got != tc.want {
				t.Errorf("Seconds1900(%v) = %d, want %d", tc.t, got, tc.want)
			}
		})
	}
}

func TestAppendTime(t *testing.T) {
	tests := []struct {
		name string
		t    time.Time
		want []byte
	}{
		{"1970", utc(1970, 1, 1, 0, 0, 0, 0), []byte{0x83, 0xaa, 0x7e, 0x80}},
		{"1900", utc(1900, 1, 1, 0, 0, 0, 0), []byte{0, 0, 0, 0}},
		{"last second of era 0", utc(2036, 2, 7, 6, 28, 15, 0), []byte{0xff, 0xff, 0xff, 0xff}},
		{"after wrap", utc(2036, 2, 7, 6, 28, 17, 0), []byte{0, 0, 0, 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := timeproto.AppendTime([]byte("x"), tc.t)
			if want := append([]byte("x"), tc.want...); !bytes.Equal(got, want) {
				t.Errorf("AppendTime(\"x\", %v) = % x, want % x", tc.t, got, want)
			}
		})
	}
}
