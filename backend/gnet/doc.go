// Package gnet runs edgeloop's handlers on gnet's whole engine
// (github.com/panjf2000/gnet/v2), for comparison with the native loop on the
// same work. It implements reactor.Engine; the reactor never imports it.
//
// gnet calls OnTraffic with input it has read into its own buffer; the
// adapter serves HandleRecv from that buffer and HandleSend into gnet's
// Conn.Write, which queues whatever the socket does not take. What gnet
// cannot do by design (backpressure, half-close, a flush at Shutdown, Dial)
// is listed in the conformance suite's Limits and in the README.
//
// Usage:
//
//	l, err := reactor.New(reactor.WithEngine(gnet.Engine), reactor.WithLoops(2))
//	addr, err := l.Listen("tcp", "127.0.0.1:7007", echo.New)
package gnet
