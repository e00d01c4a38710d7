package auth

import (
	"fmt"
	"io"
)

// Handshake is the client's side of the handshake on rw, a fresh
// connection to a server that Wrap protects: it reads the ChallengeSize
// bytes of the challenge and writes MAC(key, challenge). It reads nothing
// more, so rw then carries the service's protocol. The server does not
// confirm a match: after a wrong key, the next read sees the connection
// closed (io.EOF or a reset). Deadlines are the caller's, on rw.
func Handshake(rw io.ReadWriter, key []byte) error {
	if len(key) == 0 {
		return ErrEmptyKey
	}
	var challenge [ChallengeSize]byte
	if _, err := io.ReadFull(rw, challenge[:]); err != nil {
		return fmt.Errorf("auth: read challenge: %w", err)
	}
	answer := MAC(key, challenge[:])
	if _, err := rw.Write(answer[:]); err != nil {
		return fmt.Errorf("auth: write answer: %w", err)
	}
	return nil
}
