// Package stdnet runs edgeloop's handlers on Go's net package, a goroutine
// per connection with blocking I/O, like Python's ThreadingTCPServer, for
// comparison with the native loop on the same work. It implements
// reactor.Engine and reactor.PacketEngine; the reactor never imports it.
//
// A connection's goroutine blocks in Read while the handler wants input and
// hands what it brought to HandleRecv; Write blocks until all is written, so
// it never returns ErrWouldBlock. Handlers of different connections run on
// different goroutines: a handler must not touch another connection's
// handler, as it may on the native loop.
//
// A datagram endpoint (ListenPacket, DialPacket: "udp", "udp4", "udp6") is
// run the same way: its goroutine blocks in ReadMsgUDPAddrPort into a 64 KiB
// buffer it owns, larger than any UDP payload, so nothing is allocated per
// datagram and nothing is cut short (one that were, by MSG_TRUNC, would be
// dropped and counted in Truncated). Recv returns the datagram just read
// once, then ErrWouldBlock. SendTo writes at once (WriteToUDPAddrPort, or
// Write to a dialled endpoint's peer): there is no batching, and a datagram
// the kernel refuses is counted in Dropped. On Linux, Received is the
// kernel's SO_TIMESTAMPNS time; elsewhere it is zero. ":PORT" is
// dual-stack and an IPv4 sender is an IPv4 address, as on the native loop.
// Shutdown closes endpoints at once (HandleClose gets nil).
//
// Unix sockets ("unix": a path, "unix:///path", or on Linux "@name") are
// net.Listen's and net.Dial's, with the native loop's rules for the file
// (internal/unixsock): a stale one is removed before the bind only when
// nothing listens, and Shutdown removes it only if it is still the one
// bound (Go's own unlink-on-close is turned off: it would take a
// successor's). Graceful close and CloseWrite work on them as on TCP. An
// unnamed peer's address is a *net.UnixAddr with Name "" (package net
// writes "@" on Linux).
//
// It implements reactor.HandoverEngine: ListenerFiles duplicates each
// listener's and bound endpoint's descriptor through SyscallConn (one
// socket per address: package net has no SO_REUSEPORT group); ListenFile
// and ListenPacketFile are net.FileListener and net.FilePacketConn, after
// checking the socket's type (and SO_ACCEPTCONN); StopAccepting closes
// this process's listeners and bound endpoints, leaving Unix socket files
// in place; an adopted Unix socket's file is never removed.
//
// With reactor.WithIdleTimeout, one goroutine per engine sweeps the stream
// connections every timeout/8 and closes those that moved no byte for the
// timeout (HandleClose gets reactor.ErrIdleTimeout); each read and write
// stamps its connection with one atomic store. See idleSweep.
//
// Usage:
//
//	l, err := reactor.New(reactor.WithEngine(stdnet.Engine))
//	addr, err := l.Listen("tcp", "127.0.0.1:7007", echo.New)
//	uaddr, err := l.ListenPacket("udp", "127.0.0.1:7007", echo.NewPacket)
package stdnet
