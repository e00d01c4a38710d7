// Package frame is message framing and an outgoing queue for handlers, in
// the shape of Python's asynchat: a handler pushes replies to its Outbox and
// the loop sends them; a Handler splits input into messages and calls a
// function with each.
//
// The four framings of the networking notes are Fixed (a fixed length),
// Delimited (a delimiter), Length (a 1-, 2-, 4- or 8-byte length header,
// big-endian by default) and UntilEOF (the end of the connection); Custom
// takes a bufio.SplitFunc. Each has a maximum message size, and a message
// over it (ErrTooLong) or cut short by the end of input (ErrTruncated)
// closes only its connection, after the replies to the messages before it.
//
// The Outbox is the queue echo, the time services and the Handler share:
// replies are copied into a pooled buffer only while the socket does not
// take them, Full is backpressure (the handler reads no more until the
// queue drains below its cap, 1 MiB by default), and CloseWhenDone closes
// once everything is sent, without an RST that could destroy it
// (reactor.CloseGraceful). Messages that lie whole in one read are handed
// over in the loop's read buffer, without a copy.
//
// On the gnet backend two of these do not hold, by gnet's design (see
// internal/conformance's Limits): gnet closes a connection itself when the
// peer half-closes, so UntilEOF, a last Delimited message without its
// delimiter, ErrTruncated and answers still queued at that moment are
// lost; and gnet's unbounded outbound buffer takes every write, so Full
// never holds a peer that does not read.
//
// Usage, the notes' question-and-answer service:
//
//	qa := func(c reactor.Conn) reactor.Handler {
//		return frame.NewHandler(c, frame.Delimited([]byte("?"), 4096),
//			func(msg []byte, out *frame.Outbox) error {
//				q, ok := bytes.CutSuffix(msg, []byte("?"))
//				if !ok {
//					return nil // the end of input cut a question short
//				}
//				out.Push(q) // "Yoyo?" is answered "Yoyo."
//				out.PushString(".")
//				return nil
//			})
//	}
//	l.Listen("tcp", "127.0.0.1:7099", qa)
package frame
