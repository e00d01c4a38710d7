package main

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/edgeloop/edgeloop/internal/sockaddr"
)

// systemd socket activation (sd_listen_fds(3)): when LISTEN_PID is this
// process's pid, LISTEN_FDS=N sockets are open at fds 3 to 3+N-1, and
// LISTEN_FDNAMES, if set, names them, colon-separated. serve adopts them
// instead of binding:
//
//   - A socket whose name is a service's name ("echo", "qa", ...) serves
//     that service (FileDescriptorName=echo in the .socket unit, or
//     systemd-socket-activate --fdname=echo).
//   - A socket with any other name, or none (systemd's default is the
//     unit's name), serves the one service named by a flag; with no
//     service flag or several, serve refuses to start (exit 2).
//   - With no service flag, only the services given sockets run; a service
//     flag's service with no socket binds its addresses as usual.
//   - Stream sockets serve the service over TCP or a Unix socket (as
//     bound), datagram sockets over UDP. The Unix socket's file is systemd's:
//     serve never removes it.
//
// The variables are unset, as sd_listen_fds(unset_environment=1) does, so
// that no process serve starts (a restart's replacement) takes them too,
// and the descriptors are made close-on-exec.
const (
	listenPID     = "LISTEN_PID"
	listenFDs     = "LISTEN_FDS"
	listenFDNames = "LISTEN_FDNAMES"
	listenFDStart = 3 // SD_LISTEN_FDS_START
)

// takeSystemd returns the sockets systemd passed, nil if none were passed
// to this process. named are the services named by flags, for the
// sockets that no name maps.
func takeSystemd(named []string) ([]inherited, error) {
	pid, fds, names := os.Getenv(listenPID), os.Getenv(listenFDs), os.Getenv(listenFDNames)
	if fds == "" {
		return nil, nil
	}
	os.Unsetenv(listenPID)
	os.Unsetenv(listenFDs)
	os.Unsetenv(listenFDNames)
	if p, err := strconv.Atoi(pid); err != nil || p != os.Getpid() {
		return nil, nil // meant for another process: not ours to take
	}
	n, err := strconv.Atoi(fds)
	if err != nil || n < 0 {
		return nil, fmt.Errorf("%s=%q: want a count of descriptors", listenFDs, fds)
	}
	var nameList []string
	if names != "" {
		nameList = strings.Split(names, ":")
	}
	var out []inherited
	for i := 0; i < n; i++ {
		fd := listenFDStart + i
		syscall.CloseOnExec(fd)
		name := ""
		if i < len(nameList) {
			name = nameList[i]
		}
		svc := ""
		for _, s := range services {
			if s.name == name {
				svc = name
			}
		}
		if svc == "" {
			if len(named) != 1 {
				return nil, fmt.Errorf("systemd passed fd %d named %q, which is no service's name, and %d service flags say "+
					"which service it is for: name it as a service (LISTEN_FDNAMES, FileDescriptorName=) or give exactly one service flag",
					fd, name, len(named))
			}
			svc = named[0]
		}
		network, addr, err := describeSocket(fd)
		if err != nil {
			return nil, fmt.Errorf("systemd passed fd %d (%q): %v", fd, name, err)
		}
		out = append(out, inherited{inheritedSocket{Service: svc, Network: network, Addr: addr}, os.NewFile(uintptr(fd), network+":"+addr)})
	}
	return out, nil
}

// describeSocket returns the network ("tcp", "unix", "udp") and address of
// the socket at fd.
func describeSocket(fd int) (network, addr string, err error) {
	typ, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
	if err != nil {
		return "", "", os.NewSyscallError("getsockopt", err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return "", "", os.NewSyscallError("getsockname", err)
	}
	switch a := sa.(type) {
	case *unix.SockaddrUnix:
		if typ != unix.SOCK_STREAM {
			return "", "", fmt.Errorf("a Unix socket of type %d: only stream Unix sockets are served", typ)
		}
		return "unix", a.Name, nil
	case *unix.SockaddrInet4, *unix.SockaddrInet6:
		switch typ {
		case unix.SOCK_STREAM:
			return "tcp", sockaddr.ToNet(sa).String(), nil
		case unix.SOCK_DGRAM:
			return "udp", sockaddr.ToNetUDP(sa).String(), nil
		}
		return "", "", fmt.Errorf("an IP socket of type %d", typ)
	}
	return "", "", fmt.Errorf("a socket of family %T", sa)
}

// keys returns the names set in m, sorted.
func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
