package qa

import (
	"strconv"

	"github.com/edgeloop/edgeloop/protocols/frame"
	"github.com/edgeloop/edgeloop/reactor"
)

// DefaultMax is the longest question New accepts, its '?' included.
const DefaultMax = 4096

// New is a reactor.Factory for the service with DefaultMax.
func New(c reactor.Conn) reactor.Handler { return newHandler(c, DefaultMax) }

// Factory returns a reactor.Factory for the service with questions of at
// most max bytes, the '?' included (max <= 0: DefaultMax).
func Factory(max int) reactor.Factory {
	if max <= 0 {
		max = DefaultMax
	}
	return func(c reactor.Conn) reactor.Handler { return newHandler(c, max) }
}

var question = []byte{'?'}

func newHandler(c reactor.Conn, max int) *frame.Handler {
	h := frame.NewHandler(c, frame.Delimited(question, max), answer)
	h.OnError = func(error, *frame.Outbox) {
		var buf [64]byte
		line := append(buf[:0], "error: question longer than "...)
		line = strconv.AppendInt(line, int64(max), 10)
		h.Push(append(line, " bytes\n"...))
	}
	return h
}

// answer answers a question; the bytes after the last '?' at the end of
// input are no question.
func answer(msg []byte, out *frame.Outbox) error {
	if msg[len(msg)-1] != '?' {
		return nil
	}
	out.Push(msg[:len(msg)-1])
	out.PushString(".")
	return nil
}
