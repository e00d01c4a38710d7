// Package logtest keeps what a component logs, for tests that check what it
// says and how often: that a run of failed accepts is logged once, not once
// per attempt.
//
// A Recorder is a slog.Handler that keeps every record it is given,
// flattened into a Record. Hand it to the component as its logger and read
// the records back, from any goroutine:
//
//	logs := &logtest.Recorder{}
//	l := reactor.New(reactor.WithLogger(slog.New(logs)))
//	// ... make accept fail ...
//	if n := logs.Count(); n != 1 {
//		t.Errorf("%d log records, want 1", n)
//	}
package logtest
