//go:build linux

package gnetpoll

import (
	"errors"
	"os"
	"reflect"

	"github.com/panjf2000/gnet/v2/pkg/netpoll"
	"golang.org/x/sys/unix"
)

// noneKeepsFD: an interest of none keeps the fd in gnet's epoll set, with no
// events. epoll reports EPOLLERR and EPOLLHUP whatever the interest, so a
// peer's reset still shows on a connection whose handler wants nothing;
// deleted from the set, it would stay open until something else touched it.
const noneKeepsFD = true

// gnetEpollFD returns the descriptor of gnet's epoll instance. gnet's API
// can register a fd only with read or write interest, not with none, so
// clearInterest calls epoll_ctl itself. gnet keeps the descriptor in an
// unexported field, which reflection reads (without unsafe); Open fails
// rather than guess if a gnet upgrade renames it.
func gnetEpollFD(gp *netpoll.Poller) (int, error) {
	v := reflect.ValueOf(gp).Elem().FieldByName("fd")
	if !v.IsValid() || v.Kind() != reflect.Int {
		return -1, errors.New("poller: gnet: no epoll descriptor field \"fd\" in netpoll.Poller")
	}
	return int(v.Int()), nil
}

// clearInterest leaves fd in gnet's epoll set with no events.
func (p *Poller) clearInterest(fd int) error {
	ev := unix.EpollEvent{Fd: int32(fd)} // gnet's Polling reads the fd from the event data
	return os.NewSyscallError("epoll_ctl", unix.EpollCtl(p.epfd, unix.EPOLL_CTL_MOD, fd, &ev))
}
