// Package gnet runs edgeloop's handlers on gnet's whole engine
// (github.com/panjf2000/gnet/v2), for comparison with the native loop on the
// same work. It implements reactor.Engine and reactor.PacketEngine; the
// reactor never imports it.
//
// gnet calls OnTraffic with input it has read into its own buffer; the
// adapter serves HandleRecv from that buffer and HandleSend into gnet's
// Conn.Write, which queues whatever the socket does not take. What gnet
// cannot do by design (backpressure, half-close, a flush at Shutdown, Dial)
// is listed in the conformance suite's Limits and in the README. Nor can it
// pass connections on: reactor.Detach and Loop.Adopt return
// reactor.ErrUnsupported, since gnet owns each descriptor and can neither
// let one go without closing it nor serve one it did not accept.
//
// Datagrams: each ListenPacket is a gnet engine of its own ("udp://addr")
// with one event loop, so one handler serves the endpoint as on a native
// loop (WithLoops does not apply: gnet with several loops binds a socket
// per loop, and a handler per loop would need a way onto each loop that
// gnet does not give). gnet calls OnTraffic once per datagram, with a
// gnet.Conn it makes for it; Recv returns that datagram once, then
// ErrWouldBlock. A reply to its sender goes out through that Conn's Write,
// a datagram to any other address, or sent outside OnTraffic, through the
// adapter's duplicate of the socket. gnet cannot batch: every datagram is
// a recvfrom and a sendto of its own, and gnet allocates a Conn and an
// address per datagram received. Nor can it hold input back: a datagram
// that arrives while the handler does not want input, or that the handler
// leaves untaken, is dropped. Received is zero (gnet does not say when the
// kernel received it). Handler calls are serialized by the endpoint's
// mutex; Post and Wake run on goroutines of their own under it. DialPacket
// returns reactor.ErrUnsupported, as Dial does: gnet dials only through
// gnet.Client, a separate engine with its own loops and lifecycle.
//
// Unix sockets ("unix": a path or "unix:///path") are gnet's
// "unix://" listeners. gnet removes its listener's path (os.RemoveAll) when
// it starts and when it stops, which would take a live server's socket, or
// a successor's. So Listen first applies the native loop's stale-file check
// (internal/unixsock), then has gnet bind a fresh name beside the path and
// links that to the path once gnet has booted: link refuses a path that
// exists, and gnet's removals find nothing. The path is removed when the
// engine stops, only if it is still this socket. Connections report the
// path as LocalAddr and an unnamed *net.UnixAddr as RemoteAddr; a client
// asking its own socket for the peer (getpeername) gets the name gnet
// bound, ".el" and 16 hex digits beside the path, not the path. Linux
// abstract names ("@name") are refused: gnet would remove a file of that
// name in the working directory.
//
// The engine does not implement reactor.HandoverEngine: ListenerFiles,
// ListenFile, ListenPacketFile and StopAccepting return
// reactor.ErrUnsupported (OpenConns -1). gnet binds its own listeners and
// cannot adopt a socket it did not make, and its Engine.Dup gives one
// listener's descriptor, not each loop's SO_REUSEPORT one; so serve on gnet
// answers SIGHUP by logging that it cannot restart, and serves on.
//
// gnet has no idle timeout that reports to the handler; with
// reactor.WithIdleTimeout the adapter sweeps from gnet's ticker (OnTick)
// every timeout/8 and closes, on each connection's own loop, those that
// moved no byte for the timeout (HandleClose gets reactor.ErrIdleTimeout).
// See idle.go.
//
// Usage:
//
//	l, err := reactor.New(reactor.WithEngine(gnet.Engine), reactor.WithLoops(2))
//	addr, err := l.Listen("tcp", "127.0.0.1:7007", echo.New)
//	uaddr, err := l.ListenPacket("udp", "127.0.0.1:7007", echo.NewPacket)
package gnet
