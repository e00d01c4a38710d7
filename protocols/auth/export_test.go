package auth

import "github.com/edgeloop/edgeloop/reactor"

// TimerPending stops h's handshake timer and reports whether it was still
// pending: false once a match or a close has stopped it (or it fired). h
// is a handler Wrap's Factory made.
func TimerPending(h reactor.Handler) bool {
	hh := h.(*handler)
	return hh.timer != nil && hh.timer.Stop()
}
