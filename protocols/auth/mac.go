package auth

import (
	"crypto/hmac"
	"crypto/sha256"
)

// ChallengeSize is the length of the server's challenge in bytes.
const ChallengeSize = 32

// MACSize is the length of the client's answer in bytes: a SHA-256 HMAC.
const MACSize = sha256.Size

// MAC returns HMAC-SHA256(key, msg), the answer to the challenge msg. The
// server and Handshake both compute the answer with it.
func MAC(key, msg []byte) [MACSize]byte {
	m := hmac.New(sha256.New, key)
	m.Write(msg)
	var sum [MACSize]byte
	m.Sum(sum[:0])
	return sum
}
