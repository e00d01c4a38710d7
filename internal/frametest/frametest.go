// Package frametest checks a framed service over real sockets on every
// backend, as protocols/frame's own tests check the framing against every
// split of a stream into reads: the same stream is written in chunks cut
// at every split point, or at random, and the answer must not depend on
// where the cuts fall.
package frametest

import (
	"fmt"
	"math/rand/v2"
	"net"
	"time"

	"github.com/edgeloop/edgeloop/internal/conformance"
)

// Timeout bounds one exchange.
const Timeout = 20 * time.Second

// Exchange dials addr, writes chunks one write each (TCP_NODELAY, so each
// leaves as its own segment), reads exactly want while it writes, then
// shuts its write side and checks that the server closes with nothing
// more. The server must answer without waiting for the end of input; a
// service that answers the last message only at the end of input is
// checked with ExchangeAtEOF.
func Exchange(addr string, chunks [][]byte, want []byte) error {
	return exchange(addr, chunks, want, nil)
}

// ExchangeAtEOF is Exchange for a stream whose last answer, atEOF, comes
// only once the server has read the end of input: the client shuts its
// write side after reading want, and then reads atEOF and the close.
func ExchangeAtEOF(addr string, chunks [][]byte, want, atEOF []byte) error {
	return exchange(addr, chunks, want, atEOF)
}

func exchange(addr string, chunks [][]byte, want, atEOF []byte) error {
	c, err := net.DialTimeout("tcp", addr, conformance.DialTimeout)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(Timeout))
	werr := make(chan error, 1)
	go func() {
		for i, p := range chunks {
			if _, err := c.Write(p); err != nil {
				werr <- fmt.Errorf("write %d of %d: %w", i+1, len(chunks), err)
				return
			}
		}
		werr <- nil
	}()
	rerr := conformance.ReadExactly(c, want)
	if err := <-werr; err != nil {
		return err
	}
	if rerr != nil {
		return fmt.Errorf("the answers: %w", rerr)
	}
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		return err
	}
	if err := conformance.ReadToEOF(c, atEOF); err != nil {
		return fmt.Errorf("after the answers and our FIN: %w", err)
	}
	return nil
}

// SplitAt cuts p at the given offsets, in order.
func SplitAt(p []byte, cuts ...int) [][]byte {
	var out [][]byte
	prev := 0
	for _, c := range cuts {
		out = append(out, p[prev:c])
		prev = c
	}
	return append(out, p[prev:])
}

// RandomSplit cuts p into chunks of 1 to maxChunk bytes.
func RandomSplit(r *rand.Rand, p []byte, maxChunk int) [][]byte {
	var out [][]byte
	for len(p) > 0 {
		n := min(1+r.IntN(maxChunk), len(p))
		out = append(out, p[:n])
		p = p[n:]
	}
	return out
}
