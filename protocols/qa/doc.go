// Package qa is the question-and-answer service of the networking notes
// this project grew from, written with protocols/frame: a question is the
// bytes up to and including a '?', and its answer is the question with a
// '.' in place of the '?'. Questions are answered in order, however the
// bytes are split across reads ("Yoyo" then "?Pu" then "yo?" gets "Yoyo."
// and "Puyo."), and several questions in one write get their answers in
// one.
//
// A question longer than the maximum gets the line "error: question longer
// than N bytes" and the connection closes after the answers before it.
// Bytes after the last '?' when the peer ends its input are no question and
// get no answer.
//
// Usage:
//
//	l, _ := reactor.New()
//	l.Listen("tcp", "127.0.0.1:7099", qa.New)
package qa
