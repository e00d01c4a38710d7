//go:build linux

package poller

import "github.com/panjf2000/gnet/v2/pkg/netpoll"

// fromGnet translates the epoll bits gnet's poller reports.
func fromGnet(ev netpoll.IOEvent, _ netpoll.IOFlags) uint8 { return fromEpoll(ev) }
