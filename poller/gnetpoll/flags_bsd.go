//go:build darwin || freebsd || netbsd || openbsd || dragonfly

package gnetpoll

import (
	"github.com/edgeloop/edgeloop/poller"
	"github.com/panjf2000/gnet/v2/pkg/netpoll"
)

// fromGnet translates the kevent filter and flags gnet's poller reports.
func fromGnet(ev netpoll.IOEvent, fl netpoll.IOFlags) poller.Flags {
	return poller.FromKevent(int16(ev), uint16(fl))
}
