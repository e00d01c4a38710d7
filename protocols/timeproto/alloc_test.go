package timeproto_test

import (
	"errors"
	"testing"
	"time"

	"github.com/edgeloop/edgeloop/protocols/timeproto"
)

// TestAppendNoAlloc checks that no Append function allocates when dst has
// room, so handlers can reuse one buffer per loop.
func TestAppendNoAlloc(t *testing.T) {
	req := request(4)
	local := time.Date(2026, 11, 4, 1, 2, 3, 0, time.FixedZone("UTC-5", -5*3600))
	dst := make([]byte, 0, 64)
	tests := []struct {
		name string
		f    func() error
	}{
		{"AppendDaytime", func() error { dst = timeproto.AppendDaytime(dst[:0], serverRecv); return nil }},
		{"AppendDaytime/zone", func() error { dst = timeproto.AppendDaytime(dst[:0], local); return nil }},
		{"AppendTime", func() error { dst = timeproto.AppendTime(dst[:0], serverRecv); return nil }},
		{"SNTPReply", func() (err error) {
			dst, err = timeproto.SNTPReply(dst[:0], req, serverRecv, serverXmit, timeproto.SNTPConfig{})
			return err
		}},
		{"SNTPReply/no reply", func() error {
			if _, err := timeproto.SNTPReply(dst[:0], req[:47], serverRecv, serverXmit, timeproto.SNTPConfig{}); err == nil {
				return errors.New("replied to 47 bytes")
			}
			return nil
		}},
		{"SNTPRequest", func() error { dst = timeproto.SNTPRequest(dst[:0], 4, serverXmit); return nil }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if n := testing.AllocsPerRun(100, func() { err = tc.f() }); n != 0 {
				t.Errorf("%s allocates %v times per call, want 0", tc.name, n)
			}
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			if cap(dst) != 64 {
				t.Errorf("%s grew dst to cap %d", tc.name, cap(dst))
			}
		})
	}
}
