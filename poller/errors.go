package poller

import "errors"

var (
	// ErrClosed is returned by every method of a Poller after Close.
	ErrClosed = errors.New("poller: closed")
	// ErrRegistered is returned by Register for a fd that is registered already.
	ErrRegistered = errors.New("poller: fd already registered")
	// ErrNotRegistered is returned by Deregister for a fd that is not registered.
	ErrNotRegistered = errors.New("poller: fd not registered")
	// ErrReservedToken is returned by Register for ^Token(0), the token of the
	// poller's own wake-up.
	ErrReservedToken = errors.New("poller: token reserved for wake-up")
	// ErrUnknownBackend is returned by Open for a name no backend has on this OS.
	ErrUnknownBackend = errors.New("poller: unknown backend")
)
