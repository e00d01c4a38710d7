package echo

import "github.com/edgeloop/edgeloop/reactor"

// Packet is UDP echo (RFC 862): each datagram goes back to its sender as it
// came. It holds no buffer: a reply is queued from the loop's receive
// vector straight into its send vector, and leaves with the others of the
// turn in one sendmmsg on Linux.
type Packet struct {
	pc reactor.PacketConn
}

// NewPacket is a reactor.PacketFactory for UDP echo.
func NewPacket(pc reactor.PacketConn) reactor.Handler { return &Packet{pc: pc} }

// WantsRecv implements reactor.Handler: always.
func (p *Packet) WantsRecv() bool { return true }

// WantsSend implements reactor.Handler: never, replies are queued.
func (p *Packet) WantsSend() bool { return false }

// HandleRecv echoes every datagram waiting.
func (p *Packet) HandleRecv() error {
	for {
		d, err := p.pc.Recv()
		if err == reactor.ErrWouldBlock {
			return nil
		}
		if err != nil {
			return err
		}
		if err := p.pc.SendTo(d.Data, d.From); err != nil {
			return err
		}
	}
}

// HandleSend implements reactor.Handler; it is never called.
func (p *Packet) HandleSend() error { return nil }
