package acceptfail_test

import (
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/edgeloop/edgeloop/internal/acceptfail"
	"github.com/edgeloop/edgeloop/internal/logtest"
	"golang.org/x/sys/unix"
)

// TestEpisodeLogsStartAndEnd: a run of failures logs once when it starts,
// with the error and the caller's attributes, and once when accept works
// again, with the count; a second run logs anew.
func TestEpisodeLogsStartAndEnd(t *testing.T) {
	tests := []struct {
		name  string
		err   error
		level slog.Level
	}{
		{"resources", os.NewSyscallError("accept4", unix.EMFILE), slog.LevelWarn},
		{"broken", os.NewSyscallError("accept4", unix.EBADF), slog.LevelError},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := &logtest.Recorder{}
			log := slog.New(h)
			var e acceptfail.Episode
			e.End(log, "test") // no episode: nothing to say
			for range 2 {
				seen := h.Count()
				for range 7 {
					e.Fail(log, "test", tc.err, "addr", "127.0.0.1:1")
				}
				recs := h.Records()[seen:]
				if len(recs) != 1 {
					t.Fatalf("%d records for 7 failures, want 1: an episode is logged once, not per attempt", len(recs))
				}
				r := recs[0]
				if r.Level != tc.level || !strings.HasPrefix(r.Msg, "test: accept failed") || r.Attrs["err"] != tc.err || r.Attrs["addr"] != "127.0.0.1:1" {
					t.Errorf("start record %+v, want level %v, \"test: accept failed...\", err %v, addr", r, tc.level, tc.err)
				}
				e.End(log, "test", "addr", "127.0.0.1:1")
				e.End(log, "test") // already over
				recs = h.Records()[seen:]
				if len(recs) != 2 {
					t.Fatalf("%d records after the episode ended, want 2 (start, end)", len(recs))
				}
				r = recs[1]
				if r.Level != slog.LevelInfo || r.Msg != "test: accept works again" || r.Attrs["failures"] != int64(7) || r.Attrs["lasted"] == nil || r.Attrs["addr"] != "127.0.0.1:1" {
					t.Errorf("end record %+v, want INFO \"test: accept works again\" with failures=7, lasted, addr", r)
				}
			}
		})
	}
}
