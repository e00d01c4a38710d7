// Package echo is the RFC 862 echo service as a reactor handler.
//
// Input is read into the loop's shared buffer and written straight back;
// only what the socket does not take at once is copied into an outgoing
// buffer from a pool, so an idle connection holds no buffer at all.
// WantsSend is "the outgoing buffer is not empty". WantsRecv is false while
// it holds the cap (default 1 MiB) or more: a peer that never reads costs the
// server at most the cap, and TCP flow control stops the peer. When the peer
// shuts its write side, everything received is sent back and then the
// connection closes.
//
// Usage:
//
//	l, _ := reactor.New()
//	l.Listen("tcp", "127.0.0.1:7007", echo.New)
package echo
