package acceptfail_test

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/edgeloop/edgeloop/internal/acceptfail"
	"golang.org/x/sys/unix"
)

// record is one log record, flattened.
type record struct {
	level slog.Level
	msg   string
	attrs map[string]any
}

// recorder is a slog.Handler that keeps its records.
type recorder struct {
	mu   sync.Mutex
	recs []record
}

func (h *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (h *recorder) Handle(_ context.Context, r slog.Record) error {
	rec := record{level: r.Level, msg: r.Message, attrs: map[string]any{}}
	r.Attrs(func(a slog.Attr) bool { rec.attrs[a.Key] = a.Value.Any(); return true })
	h.mu.Lock()
	h.recs = append(h.recs, rec)
	h.mu.Unlock()
	return nil
}
func (h *recorder) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recorder) WithGroup(string) slog.Handler      { return h }

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
			h := &recorder{}
			log := slog.New(h)
			var e acceptfail.Episode
			e.End(log, "test") // no episode: nothing to say
			for range 2 {
				h.recs = nil
				for range 7 {
					e.Fail(log, "test", tc.err, "addr", "127.0.0.1:1")
				}
				if len(h.recs) != 1 {
					t.Fatalf("%d records for 7 failures, want 1: an episode is logged once, not per attempt", len(h.recs))
				}
				r := h.recs[0]
				if r.level != tc.level || !strings.HasPrefix(r.msg, "test: accept failed") || r.attrs["err"] != tc.err || r.attrs["addr"] != "127.0.0.1:1" {
					t.Errorf("start record %+v, want level %v, \"test: accept failed...\", err %v, addr", r, tc.level, tc.err)
				}
				e.End(log, "test", "addr", "127.0.0.1:1")
				e.End(log, "test") // already over
				if len(h.recs) != 2 {
					t.Fatalf("%d records after the episode ended, want 2 (start, end)", len(h.recs))
				}
				r = h.recs[1]
				if r.level != slog.LevelInfo || r.msg != "test: accept works again" || r.attrs["failures"] != int64(7) || r.attrs["lasted"] == nil || r.attrs["addr"] != "127.0.0.1:1" {
					t.Errorf("end record %+v, want INFO \"test: accept works again\" with failures=7, lasted, addr", r)
				}
			}
		})
	}
}
