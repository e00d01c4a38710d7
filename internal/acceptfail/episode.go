package acceptfail

import (
	"log/slog"
	"time"
)

// Episode is a run of failed accepts on one listener, from the first
// failure until accept has taken every connection that waited (the backlog
// is empty); its zero value is no run. It logs the run once when it starts
// and once when it ends, never once per attempt: a listener out of
// descriptors may fail ten times a second for hours. The first accept that
// works does not end it: at its descriptor limit, a server under load
// accepts one connection per close and fails on the next. (The net backend,
// which cannot see EAGAIN, also ends a run once accepts have worked for a
// while without a failure.) It is not safe for concurrent use: one
// listener's accepts are serial.
type Episode struct {
	failures int
	start    time.Time
}

// Failing reports whether an episode is under way: a caller whose log
// attributes cost something (a getsockname) builds them only then.
func (e *Episode) Failing() bool { return e.failures > 0 }

// Fail records one failed accept whose Kind is not Retry. The first of an
// episode logs err on log, prefixed by who ("reactor", "stdnet"): a warning
// for Resources, an error for Broken. attrs are added to the record (the
// listener's address, how long the listener rests).
func (e *Episode) Fail(log *slog.Logger, who string, err error, attrs ...any) {
	e.failures++
	if e.failures > 1 {
		return
	}
	e.start = time.Now()
	args := append([]any{"err", err}, attrs...)
	if Classify(err) == Broken {
		log.Error(who+": accept failed: the listening socket itself fails; retrying after a pause "+
			"(not logged again: \"accept works again\" follows, with the count of failures)", args...)
		return
	}
	log.Warn(who+": accept failed for want of a resource; new connections wait in the backlog "+
		"(not logged again: \"accept works again\" follows once it is empty, with the count of failures)", args...)
}

// End ends the episode, if one is under way, once the backlog is empty: an
// accept found nothing to take (EAGAIN), so it had the descriptor it needs
// and nothing waits. It logs how many accepts failed and for how long;
// attrs as for Fail.
func (e *Episode) End(log *slog.Logger, who string, attrs ...any) {
	if e.failures == 0 {
		return
	}
	args := append([]any{"failures", e.failures, "lasted", time.Since(e.start).Round(time.Millisecond)}, attrs...)
	log.Info(who+": accept works again", args...)
	*e = Episode{}
}
