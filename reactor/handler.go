package reactor

// Handler is one connection's protocol, in the shape of Python's asyncore
// dispatcher (readable, writable, handle_read, handle_write).
//
// The loop calls HandleRecv only while WantsRecv is true and the socket may
// have input, and HandleSend only while WantsSend is true and the socket may
// take output. Both must not block: they call Conn.Read and Conn.Write, which
// return ErrWouldBlock instead. HandleRecv must call Read at least once, or
// turn WantsRecv false, since an edge-triggered loop hears of that input only
// once. Likewise HandleSend must call Write, or turn WantsSend false: a
// handler that wants to send but does not is called again at once, every
// turn, and spins its loop (the budget keeps the loop's other connections
// served). An error returned by either closes this connection only.
type Handler interface {
	// WantsRecv reports whether the handler will take input now. Returning
	// false is backpressure: the loop stops reading and the kernel's buffers
	// push back on the peer.
	WantsRecv() bool
	// WantsSend reports whether the handler has output to send.
	WantsSend() bool
	// HandleRecv reads what is available, without blocking.
	HandleRecv() error
	// HandleSend writes what it can, without blocking.
	HandleSend() error
}

// CloseHandler is implemented by handlers that want to know when their
// connection is closed, to release buffers or count peers. err is nil for a
// close the handler asked for, io.EOF or a system call error otherwise.
type CloseHandler interface {
	// HandleClose is called once, after the descriptor is closed.
	HandleClose(err error)
}

// Factory makes the handler for a new connection. It runs on the loop
// goroutine; the Conn is valid until HandleClose (or the connection's end).
type Factory func(c Conn) Handler
