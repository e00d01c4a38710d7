package reactor

import "errors"

var (
	// ErrWouldBlock is returned, unwrapped, by Conn.Read when no input is
	// waiting and by Conn.Write when the socket buffer is full (with the count
	// written so far). The loop calls the handler again when that changes.
	ErrWouldBlock = errors.New("reactor: operation would block")
	// ErrClosed is returned by Conn methods after the connection is closed,
	// and by Loop methods after Shutdown.
	ErrClosed = errors.New("reactor: closed")
	// ErrShutdown is passed to HandleClose for connections that Shutdown
	// closed because its context ended before they were flushed.
	ErrShutdown = errors.New("reactor: shut down before flushed")
	// ErrNilFactory is returned by Listen and Dial for a nil Factory.
	ErrNilFactory = errors.New("reactor: nil factory")
	// ErrUnsupported is returned for an operation the chosen backend cannot do.
	ErrUnsupported = errors.New("reactor: not supported by this backend")
	// ErrDetached is passed to HandleClose for a connection that Detach
	// took off its loop: the socket is open, and no longer the handler's.
	ErrDetached = errors.New("reactor: detached")
)
