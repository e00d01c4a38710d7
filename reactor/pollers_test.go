package reactor_test

import (
	"testing"

	"github.com/edgeloop/edgeloop/backend"
	"github.com/edgeloop/edgeloop/poller"
	"github.com/edgeloop/edgeloop/reactor"
)

// Tests wrap the poller of a backend to watch or steer what the loop gets
// from it: the events Wait returns (dup_test.go), the moment Wake wakes
// (tasks_test.go).

// ltWrapper is a wrapped level-triggered poller: the loop finds
// SetInterest on it as on the poller it wraps.
type ltWrapper struct {
	poller.Poller
	lt poller.LevelTriggered
}

func (w ltWrapper) SetInterest(fd int, tok poller.Token, in poller.Interest) error {
	return w.lt.SetInterest(fd, tok, in)
}

// wrappedLoop starts a one-loop Loop over the poller of backend name as
// wrap wraps it.
func wrappedLoop(t *testing.T, name string, wrap func(poller.Poller) poller.Poller) *reactor.Loop {
	t.Helper()
	return newLoop(t, name, reactor.WithPoller(func() (poller.Poller, error) {
		p, err := backend.OpenPoller(name)
		if err != nil {
			return nil, err
		}
		w := wrap(p)
		if lt, ok := p.(poller.LevelTriggered); ok {
			return ltWrapper{w, lt}, nil
		}
		return w, nil
	}))
}
