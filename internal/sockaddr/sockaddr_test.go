package sockaddr_test

import (
	"net"
	"runtime"
	"strings"
	"testing"

	"github.com/edgeloop/edgeloop/internal/sockaddr"
	"golang.org/x/sys/unix"
)

// unnamed stands for an unnamed Unix address in TestToNet's table.
const unnamed = "(unnamed)"

func TestToNet(t *testing.T) {
	for _, tc := range []struct {
		name string
		sa   unix.Sockaddr
		want string // "" for a nil interface
	}{
		{"inet4", &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}, Port: 7}, "127.0.0.1:7"},
		{"inet6", &unix.SockaddrInet6{Addr: [16]byte{15: 1}, Port: 8}, "[::1]:8"},
		{"unix", &unix.SockaddrUnix{Name: "/tmp/x.sock"}, "/tmp/x.sock"},
		{"unix-abstract", &unix.SockaddrUnix{Name: "@x"}, "@x"},
		{"unix-unnamed", &unix.SockaddrUnix{Name: "@"}, unnamed},
		{"nil", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := sockaddr.ToNet(tc.sa)
			if tc.want == "" {
				if got != nil {
					t.Fatalf("ToNet(%v) = %#v, want a nil net.Addr", tc.sa, got)
				}
				return
			}
			if tc.want == unnamed {
				if runtime.GOOS != "linux" {
					t.Skip("a lone \"@\" is unnamed only on Linux")
				}
				if ua, ok := got.(*net.UnixAddr); !ok || ua == nil || ua.Name != "" || ua.Net != "unix" {
					t.Fatalf("ToNet(%v) = %#v, want an unnamed *net.UnixAddr", tc.sa, got)
				}
				return
			}
			if got == nil || got.String() != tc.want {
				t.Fatalf("ToNet(%v) = %v, want %s", tc.sa, got, tc.want)
			}
			if _, isTCP := got.(*net.TCPAddr); isTCP == strings.HasPrefix(tc.name, "unix") {
				t.Fatalf("ToNet(%v) is a %T", tc.sa, got)
			}
		})
	}
}
