//go:build darwin || freebsd || netbsd || openbsd || dragonfly

package poller

import "github.com/panjf2000/gnet/v2/pkg/netpoll"

// fromGnet translates the kevent filter and flags gnet's poller reports.
func fromGnet(ev netpoll.IOEvent, fl netpoll.IOFlags) uint8 { return fromKevent(int16(ev), uint16(fl)) }
