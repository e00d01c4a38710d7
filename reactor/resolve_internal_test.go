package reactor

import (
	"errors"
	"strings"
	"testing"

	"github.com/edgeloop/edgeloop/internal/unixsock"
	"golang.org/x/sys/unix"
)

// TestResolveAnyHostIsDualStack is the regression test for ":PORT" binding
// 0.0.0.0 on the native loop but [::] on gnet and net: "tcp" with no host is
// the IPv6 wildcard, dual-stack, as package net makes it; "tcp4" stays IPv4.
// It checks the socket options without listening on a wildcard address.
func TestResolveAnyHostIsDualStack(t *testing.T) {
	if !hasIPv6() {
		t.Skip("no IPv6 on this system: \":PORT\" is 0.0.0.0 here, as in package net")
	}
	for _, tc := range []struct {
		network, address string
		want6, v6only    bool
	}{
		{"tcp", ":7007", true, false},
		{"tcp", "0.0.0.0:7007", false, false},
		{"tcp4", ":7007", false, false},
		{"tcp6", ":7007", true, true},
		{"tcp", "127.0.0.1:7007", false, false},
	} {
		t.Run(tc.network+" "+tc.address, func(t *testing.T) {
			sa, domain, err := resolve(tc.network, tc.address)
			if err != nil {
				t.Fatal(err)
			}
			_, is6 := sa.(*unix.SockaddrInet6)
			if is6 != tc.want6 || (domain == unix.AF_INET6) != tc.want6 {
				t.Fatalf("resolve(%q, %q) = %T, domain %d; want IPv6 %v", tc.network, tc.address, sa, domain, tc.want6)
			}
			if !is6 {
				return
			}
			fd, err := newSocket(domain)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(fd)
			// Start from the opposite, so that dualStack must set it.
			unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, map[bool]int{true: 0, false: 1}[tc.v6only])
			dualStack(fd, sa, tc.network)
			v, err := unix.GetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY)
			if err != nil {
				t.Fatal(err)
			}
			if (v == 1) != tc.v6only {
				t.Fatalf("IPV6_V6ONLY = %d on the %s socket for %q, want %v (as package net)", v, tc.network, tc.address, tc.v6only)
			}
		})
	}
}

// TestResolveUnix: "unix" takes a path, the same path as "unix:///path",
// and an abstract "@name", and refuses what does not fit in sun_path
// rather than truncating it.
func TestResolveUnix(t *testing.T) {
	long := "/tmp/" + strings.Repeat("x", 120)
	for _, tc := range []struct {
		address, want string
		wantErr       error
	}{
		{"/run/el.sock", "/run/el.sock", nil},
		{"unix:///run/el.sock", "/run/el.sock", nil},
		{"rel.sock", "rel.sock", nil},
		{"@el", "@el", nil},
		{"unix://@el", "@el", nil},
		{long, "", unixsock.ErrPathTooLong},
		{"unix://" + long, "", unixsock.ErrPathTooLong},
	} {
		t.Run(tc.address[:min(len(tc.address), 24)], func(t *testing.T) {
			sa, domain, err := resolve("unix", tc.address)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("resolve(unix, %q) = %v, %v; want %v", tc.address, sa, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			ua, ok := sa.(*unix.SockaddrUnix)
			if !ok || domain != unix.AF_UNIX || ua.Name != tc.want {
				t.Fatalf("resolve(unix, %q) = %#v, domain %d; want %q, AF_UNIX", tc.address, sa, domain, tc.want)
			}
		})
	}
}
