// Package reactor runs connection handlers written in the shape of Python's
// selectors/asyncore event loop on an edge-triggered poller.
//
// A Handler answers two questions, WantsRecv and WantsSend, and does its I/O
// in HandleRecv and HandleSend through the non-blocking Conn the Factory was
// given. Python's loop asks every handler before each select(), which costs
// O(connections) per turn and only works with a level-triggered select. This
// loop instead remembers, per connection, what the kernel last said: an edge
// sets "readable" or "writable", and a Read or Write that hits EAGAIN clears
// it. A turn serves only the ready list, the connections where
// (readable && WantsRecv) || (writable && WantsSend), so it costs O(active).
// After every handler call the loop asks that handler again at once: output
// queued by HandleRecv on a writable socket is sent in the same turn, with no
// new kernel edge. Each connection has a budget of calls per turn; one still
// ready when it runs out goes back on the ready list, since the kernel will
// not signal it again. Within a turn, reads come before writes (Redis ae).
//
// Usage:
//
//	l, err := reactor.New() // epoll on Linux, kqueue on BSD
//	if err != nil { ... }
//	addr, err := l.Listen("tcp", "127.0.0.1:7007", echo.New)
//	...
//	err = l.Shutdown(ctx) // stop accepting, flush, close
//
// The same handlers run on other backends (WithBackend): "gnetpoll" (this
// loop over gnet's level-triggered poller), "gnet" (gnet's whole engine) and
// "net" (Go's net package, a goroutine per connection), so they can be
// compared on the same work.
//
// Conn methods and handler calls happen on the connection's loop goroutine.
// Other goroutines reach a loop with Post or Conn.Post, which go through the
// poller's wake-up; there are no locks on the I/O path.
package reactor
