// Package sockaddr converts between the kernel's socket addresses and
// package net's, for the reactor and the backends that ask a socket for its
// addresses.
package sockaddr

import (
	"net"
	"runtime"

	"golang.org/x/sys/unix"
)

// ToNet converts a socket address to a net.Addr: a *net.TCPAddr for IPv4 and
// IPv6 (IPv4-mapped IPv6 addresses stay as they are), a *net.UnixAddr for a
// Unix socket (Name "" for an unnamed one, as package net). Anything else, or nil, gives a nil interface, never a typed
// nil inside a non-nil net.Addr.
func ToNet(sa unix.Sockaddr) net.Addr {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return &net.TCPAddr{IP: append(net.IP(nil), a.Addr[:]...), Port: a.Port}
	case *unix.SockaddrInet6:
		ta := &net.TCPAddr{IP: append(net.IP(nil), a.Addr[:]...), Port: a.Port}
		if a.ZoneId != 0 {
			if ifi, err := net.InterfaceByIndex(int(a.ZoneId)); err == nil {
				ta.Zone = ifi.Name
			}
		}
		return ta
	case *unix.SockaddrUnix:
		name := a.Name
		if name == "@" && runtime.GOOS == "linux" {
			// x/sys writes the leading NUL of an abstract name as '@', so
			// an unnamed socket (the usual client) comes as a lone "@";
			// package net calls it "".
			name = ""
		}
		return &net.UnixAddr{Name: name, Net: "unix"}
	}
	return nil
}

// ToNetUDP is ToNet for a datagram socket: a *net.UDPAddr for IPv4 and IPv6,
// and nil for anything else.
func ToNetUDP(sa unix.Sockaddr) net.Addr {
	if ta, ok := ToNet(sa).(*net.TCPAddr); ok {
		return &net.UDPAddr{IP: ta.IP, Port: ta.Port, Zone: ta.Zone}
	}
	return nil
}
