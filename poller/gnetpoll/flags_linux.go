//go:build linux

package gnetpoll

import (
	"github.com/edgeloop/edgeloop/poller"
	"github.com/panjf2000/gnet/v2/pkg/netpoll"
)

// fromGnet translates the epoll bits gnet's poller reports.
func fromGnet(ev netpoll.IOEvent, _ netpoll.IOFlags) poller.Flags { return poller.FromEpoll(ev) }
