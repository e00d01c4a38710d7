package logtest

import (
	"context"
	"log/slog"
	"sync"
)

// Record is one log record, flattened: its level, its message and its
// attributes by key, each as slog.Value.Any returns it.
type Record struct {
	Level slog.Level
	Msg   string
	Attrs map[string]any
}

// Recorder is a slog.Handler that keeps every record it is given, at every
// level. It is safe for concurrent use: the component logs from its own
// goroutines while the test reads. Its zero value is ready to use.
//
// WithAttrs and WithGroup return the Recorder itself, so attributes and
// groups added that way are not kept; the components under test pass their
// attributes with each call.
type Recorder struct {
	mu   sync.Mutex
	recs []Record
}

// Enabled implements slog.Handler: every level is kept.
func (h *Recorder) Enabled(context.Context, slog.Level) bool { return true }

// Handle implements slog.Handler: it keeps r.
func (h *Recorder) Handle(_ context.Context, r slog.Record) error {
	rec := Record{Level: r.Level, Msg: r.Message, Attrs: make(map[string]any, r.NumAttrs())}
	r.Attrs(func(a slog.Attr) bool { rec.Attrs[a.Key] = a.Value.Any(); return true })
	h.mu.Lock()
	h.recs = append(h.recs, rec)
	h.mu.Unlock()
	return nil
}

// WithAttrs implements slog.Handler; attrs are dropped (see Recorder).
func (h *Recorder) WithAttrs([]slog.Attr) slog.Handler { return h }

// WithGroup implements slog.Handler; the group is dropped (see Recorder).
func (h *Recorder) WithGroup(string) slog.Handler { return h }

// Records returns a copy of the records kept so far, oldest first.
func (h *Recorder) Records() []Record {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Record(nil), h.recs...)
}

// Count returns how many records were kept so far.
func (h *Recorder) Count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.recs)
}
