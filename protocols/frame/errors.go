package frame

import "errors"

// Errors a Framing reports; the Handler closes the connection after them,
// once the replies queued before have been sent.
var (
	// ErrTooLong is a message over the framing's maximum size.
	ErrTooLong = errors.New("frame: message too long")
	// ErrTruncated is a stream that ended inside a message.
	ErrTruncated = errors.New("frame: stream ended inside a message")
	// ErrBadFraming is a Framing made with a size it cannot use.
	ErrBadFraming = errors.New("frame: bad framing")
)
