// Package reactor runs connection handlers written in the shape of Python's
// selectors/asyncore event loop on an edge-triggered poller.
//
// A Handler answers two questions, WantsRecv and WantsSend, and does its I/O
// in HandleRecv and HandleSend through the non-blocking Conn the Factory was
// given. Python's loop asks every handler before each select(), which costs
// O(connections) per turn and only works with a level-triggered select. This
// loop instead remembers, per connection, what the kernel last said: an edge
// sets "readable" or "writable", and a Read or Write that hits EAGAIN clears
// it. A turn serves only the ready list, the entries where
// (readable && WantsRecv) || (writable && WantsSend), so it costs O(active).
// After every handler call the loop asks that handler again at once: output
// queued by HandleRecv on a writable socket is sent in the same turn, with no
// new kernel edge. Each entry may move a budget of bytes per turn (64 KiB by
// default, as Redis caps a connection's work per event); one still ready
// when it runs out goes back on the ready list, since the kernel will not
// signal it again. Within a turn, reads come before writes (Redis ae).
//
// The loop's entries are of kinds, each with its own rule for when a read
// means "drained": a stream connection takes a short read as drained, except
// after the peer's FIN or urgent data (TCP's urgent mark stops a read with
// more queued behind it); a listener is drained only by EAGAIN, and spends
// its budget on accepts; a datagram socket (ListenPacket, DialPacket) is
// drained when a recvmmsg batch comes back shorter than the vector.
//
// Datagram endpoints run the same Handler through a PacketConn: HandleRecv
// calls Recv until ErrWouldBlock and answers with SendTo, whose datagrams
// leave together (one sendmmsg) when the call returns. Timers (AfterFunc,
// Every; Scheduler on a native Conn) run on the loop goroutine between the
// turn's events and its handlers; the next deadline is Wait's timeout.
//
// Handlers change their wants in their own calls, and the loop asks after
// each. When wants change from outside (another connection's handler, a
// posted function), Conn.Wake puts the connection back on the ready list,
// with no system call. HandleClose always runs after the handler call that
// closed the connection has returned.
//
// Usage:
//
//	l, err := reactor.New() // epoll on Linux, kqueue on BSD
//	if err != nil { ... }
//	addr, err := l.Listen("tcp", "127.0.0.1:7007", echo.New)
//	...
//	err = l.Shutdown(ctx) // stop accepting, flush, close
//
// The core imports no other backend. The same handlers run on other backends
// given to New: this loop over another poller (WithPoller; poller/gnetpoll
// is gnet's), or another engine altogether (WithEngine; backend/gnet is
// gnet's whole engine, backend/stdnet Go's net package). Package backend
// names them all for programs that pick one at run time.
//
// Conn methods and handler calls happen on the connection's loop goroutine.
// Other goroutines reach a loop with Post or Conn.Post, which go through the
// poller's wake-up; there are no locks on the I/O path. Listen, Dial and
// Post never wait for a loop, so handlers may call them too.
//
// With several loops (WithLoops), each listener has a socket per loop and
// the kernel spreads connections (SO_REUSEPORT), or, with WithBalance, one
// socket whose loop hands connections to the others through a per-loop
// inbox, drained in one go per wake-up. The loops share one table of
// entries indexed by descriptor number, built in chunks (table.go).
//
// A connection can change loops, or processes: Detach takes it off its
// loop without closing the socket (its handler hears ErrDetached), and
// Loop.Adopt serves a socket on a chosen loop; package fdpass sends
// sockets between processes and hands accepted connections to workers.
//
// Sockets move between processes for a restart (handover.go):
// ListenerFiles duplicates every listening and bound datagram socket, each
// loop's SO_REUSEPORT one included, ListenFile and ListenPacketFile adopt
// inherited ones (a predecessor's, or systemd's), and StopAccepting closes
// this process's copies without touching the sockets' backlogs or Unix
// socket files, which the successor now serves.
//
// A handler that panics is not recovered: the panic ends the program, as in
// package net's handlers and unlike net/http's. A handler reports failure by
// returning an error, which closes its connection only.
package reactor
