package timeproto

import (
	"time"

	"github.com/edgeloop/edgeloop/protocols/frame"
	"github.com/edgeloop/edgeloop/reactor"
)

// Server serves the three services with one clock and one SNTP identity.
// Its methods are the factories to pass to Listen and ListenPacket:
//
//	s := &timeproto.Server{}
//	l.Listen("tcp", "127.0.0.1:7037", s.Time)
//	l.ListenPacket("udp", "127.0.0.1:7037", s.TimePacket)
//	l.ListenPacket("udp", "127.0.0.1:7123", s.SNTPPacket)
type Server struct {
	// Clock is the time source; nil is time.Now. With time.Now, an SNTP
	// reply's receive timestamp is the kernel's receive time where the
	// backend has it (SO_TIMESTAMPNS); with an injected clock it is the
	// clock's time, so that a fixed clock gives fixed replies.
	Clock Clock
	// SNTP is what the SNTP service says about itself.
	SNTP SNTPConfig
}

func (s *Server) now() time.Time {
	if s.Clock == nil {
		return time.Now()
	}
	return s.Clock()
}

// Daytime is the TCP daytime factory (RFC 867): the connection gets the
// time as ctime text, then the server closes it.
func (s *Server) Daytime(c reactor.Conn) reactor.Handler {
	var buf [32]byte
	return newAnswer(c, AppendDaytime(buf[:0], s.now()))
}

// Time is the TCP time factory (RFC 868): the connection gets 4 bytes, the
// seconds since 1900, then the server closes it.
func (s *Server) Time(c reactor.Conn) reactor.Handler {
	var buf [4]byte
	return newAnswer(c, AppendTime(buf[:0], s.now()))
}

// answer sends a short reply from its Outbox and reads nothing: the
// Outbox's close-when-done discards whatever the peer sends, so it never
// turns into an RST that destroys the reply.
type answer struct {
	frame.Outbox
}

func newAnswer(c reactor.Conn, reply []byte) *answer {
	a := &answer{}
	a.Init(c, 0)
	a.Push(reply)
	a.CloseWhenDone()
	return a
}

func (a *answer) WantsRecv() bool   { return false }
func (a *answer) HandleRecv() error { return nil }

// DaytimePacket is the UDP daytime factory: any datagram gets the time as
// ctime text in reply.
func (s *Server) DaytimePacket(pc reactor.PacketConn) reactor.Handler {
	return &replier{pc: pc, s: s, reply: func(dst []byte, _ reactor.Datagram, now time.Time) ([]byte, error) {
		return AppendDaytime(dst, now), nil
	}}
}

// TimePacket is the UDP time factory: any datagram gets the 4-byte time.
func (s *Server) TimePacket(pc reactor.PacketConn) reactor.Handler {
	return &replier{pc: pc, s: s, reply: func(dst []byte, _ reactor.Datagram, now time.Time) ([]byte, error) {
		return AppendTime(dst, now), nil
	}}
}

// SNTPPacket is the SNTP factory (RFC 4330): a client request gets a server
// reply; anything else (short, malformed, not mode 3) gets none.
func (s *Server) SNTPPacket(pc reactor.PacketConn) reactor.Handler {
	return &replier{pc: pc, s: s, reply: func(dst []byte, d reactor.Datagram, now time.Time) ([]byte, error) {
		recv := d.Received
		if recv.IsZero() || s.Clock != nil {
			recv = now
		}
		return SNTPReply(dst, d.Data, recv, s.now(), s.SNTP)
	}}
}

// replier answers each datagram with what reply makes of it, given the
// clock's time when the handler took the datagram (SNTP reads the clock
// again for its transmit timestamp, as late as it can).
type replier struct {
	pc    reactor.PacketConn
	s     *Server
	buf   [SNTPPacketLen]byte
	reply func(dst []byte, d reactor.Datagram, now time.Time) ([]byte, error)
}

func (r *replier) WantsRecv() bool   { return true }
func (r *replier) WantsSend() bool   { return false }
func (r *replier) HandleSend() error { return nil }
func (r *replier) HandleRecv() error {
	for {
		d, err := r.pc.Recv()
		if err == reactor.ErrWouldBlock {
			return nil
		}
		if err != nil {
			return err
		}
		out, err := r.reply(r.buf[:0], d, r.s.now())
		if err != nil {
			continue // not a request this service answers: no reply
		}
		if err := r.pc.SendTo(out, d.From); err != nil {
			return err
		}
	}
}
