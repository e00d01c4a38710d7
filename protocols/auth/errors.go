package auth

import "errors"

var (
	// ErrEmptyKey is returned by Wrap and Handshake for an empty key: an
	// HMAC with an empty key is no secret at all.
	ErrEmptyKey = errors.New("auth: empty key")
	// ErrMismatch closes a connection whose answer to the challenge was
	// not the HMAC of the key: the wrapper's HandleClose, and a
	// CloseHandler's, sees it.
	ErrMismatch = errors.New("auth: wrong answer to the challenge")
	// ErrTruncated closes a connection whose peer closed its side before
	// it had answered the challenge in full.
	ErrTruncated = errors.New("auth: connection ended before the answer was complete")
)
