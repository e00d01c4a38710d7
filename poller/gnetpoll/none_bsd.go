//go:build darwin || freebsd || netbsd || openbsd || dragonfly

package gnetpoll

import "github.com/panjf2000/gnet/v2/pkg/netpoll"

// noneKeepsFD: kqueue has no registration without a filter, so an interest
// of none is gnet's Delete, as it always was here. Note that gnet v2.9.7's
// Delete does nothing on kqueue: the filters set before stay. Neither is
// tested on BSD yet.
const noneKeepsFD = false

// gnetEpollFD is Linux only.
func gnetEpollFD(*netpoll.Poller) (int, error) { return -1, nil }

// clearInterest drops fd's interest through gnet's API.
func (p *Poller) clearInterest(fd int) error { return p.gp.Delete(fd) }
