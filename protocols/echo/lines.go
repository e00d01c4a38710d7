package echo

import (
	"strconv"

	"github.com/edgeloop/edgeloop/protocols/frame"
	"github.com/edgeloop/edgeloop/reactor"
)

// DefaultMaxLine is the longest line Lines accepts with max <= 0, its
// newline included.
const DefaultMaxLine = 8192

var newline = []byte{'\n'}

// Lines returns a reactor.Factory for line echo, as the notes'
// StreamRequestHandler does with `for line in rfile: wfile.write(line)`:
// each line goes back whole, newline included, once it is complete, and
// the last line goes back without one if the input ends without one. A
// line over max bytes (max <= 0: DefaultMaxLine) gets the line "error:
// line longer than N bytes" instead, and the connection closes after the
// lines before it.
func Lines(max int) reactor.Factory {
	if max <= 0 {
		max = DefaultMaxLine
	}
	framing := frame.Delimited(newline, max)
	return func(c reactor.Conn) reactor.Handler {
		h := frame.NewHandler(c, framing, echoLine)
		h.OnError = func(error, *frame.Outbox) {
			var buf [64]byte
			line := append(buf[:0], "error: line longer than "...)
			line = strconv.AppendInt(line, int64(max), 10)
			h.Push(append(line, " bytes\n"...))
		}
		return h
	}
}

func echoLine(line []byte, out *frame.Outbox) error {
	out.Push(line)
	return nil
}
