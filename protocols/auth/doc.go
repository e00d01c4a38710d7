// Package auth authenticates a stream peer before a service sees a byte of
// its connection, with the seed notes' HMAC challenge-response.
//
// The protocol: on connect the server sends a challenge of ChallengeSize
// (32) random bytes from crypto/rand; the client answers with
// HMAC-SHA256(key, challenge), MACSize (32) bytes; the server compares
// the answer with its own in constant time (hmac.Equal). On a match the
// wrapped service starts on the connection, which from then on carries the
// service's protocol unchanged. On a mismatch, or if the whole answer has
// not arrived within the handshake timeout (DefaultTimeout, 10 s), the
// server closes the connection and the wrapped service never exists.
//
// Wrap turns a reactor.Factory into one whose handlers do this. The
// wrapper reads exactly the answer's 32 bytes, into its own fixed buffer,
// never into the loop's read buffer, so the first bytes of the service's
// protocol, even when they arrive in the same segment as the answer, are
// left for the wrapped handler. That handler is made only after the
// answer matched, and from then on every Handler call, and HandleClose,
// goes straight to it. The timeout is a timer on the connection's loop
// (reactor.Scheduler) on the native loop, and a runtime timer whose
// function closes the connection through Conn.Post elsewhere; either is
// stopped as soon as the answer matched or the connection closed.
//
// The key is a shared secret: anyone who holds it can connect, and the
// protocol authenticates only the client, not the server, and neither
// encrypts nor protects the service's bytes that follow. Use it on a
// trusted network or inside TLS or a tunnel.
//
// Handshake is the client's side, for any io.ReadWriter such as a
// net.Conn. Any language's HMAC does the same; in Python:
//
//	challenge = recv_exactly(sock, 32)
//	sock.sendall(hmac.new(key, challenge, 'sha256').digest())
//
// Usage:
//
//	f, err := auth.Wrap(key, echo.New, auth.WithTimeout(5*time.Second))
//	if err != nil { ... }
//	l.Listen("tcp", "127.0.0.1:7007", f)
//
//	c, _ := net.Dial("tcp", "127.0.0.1:7007")
//	if err := auth.Handshake(c, key); err != nil { ... }
//	c.Write([]byte("hello")) // echoed, as without the wrapper
package auth
