// Package stdnet runs edgeloop's handlers on Go's net package, a goroutine
// per connection with blocking I/O, like Python's ThreadingTCPServer, for
// comparison with the native loop on the same work. It implements
// reactor.Engine; the reactor never imports it.
//
// A connection's goroutine blocks in Read while the handler wants input and
// hands what it brought to HandleRecv; Write blocks until all is written, so
// it never returns ErrWouldBlock. Handlers of different connections run on
// different goroutines: a handler must not touch another connection's
// handler, as it may on the native loop.
//
// Usage:
//
//	l, err := reactor.New(reactor.WithEngine(stdnet.Engine))
//	addr, err := l.Listen("tcp", "127.0.0.1:7007", echo.New)
package stdnet
