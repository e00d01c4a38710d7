package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"

	"github.com/edgeloop/edgeloop/reactor"
)

// endpoint is one address a service listens on, as serve's flags write
// it: HOST:PORT (TCP, and UDP on the same port where the service has it),
// tcp://HOST:PORT, udp://HOST:PORT or unix:///PATH.
type endpoint struct {
	scheme string // "", "tcp", "udp" or "unix"
	addr   string // HOST:PORT, or the socket's path
}

// maxUnixPath is the longest Unix socket path: sun_path holds 108 bytes
// on Linux (104 on the BSDs), its terminating NUL included.
const maxUnixPath = 103

// endpoint parses one address for s, refusing a scheme s has no transport
// for and an address no listen could accept: a HOST:PORT without a port,
// or with a port that is neither 0-65535 nor a service name. Whether the
// host resolves, the port is free or the path can be bound is for Listen
// to find out.
func (s service) endpoint(a string) (endpoint, error) {
	if a == "" {
		return endpoint{}, errors.New("an empty address in the list: give ADDR[,ADDR...] with no empty entry")
	}
	ep := endpoint{addr: a}
	if scheme, rest, ok := strings.Cut(a, "://"); ok {
		ep = endpoint{scheme: scheme, addr: rest}
	}
	switch ep.scheme {
	case "unix":
		switch {
		case s.factory == nil:
			return ep, fmt.Errorf("%s has no stream service to serve on a Unix socket: give %s", s.name, s.schemes())
		case ep.addr == "":
			return ep, errors.New("want unix:///PATH, for example unix:///tmp/echo.sock")
		case len(ep.addr) > maxUnixPath:
			return ep, fmt.Errorf("the path is %d bytes: a Unix socket's path holds at most %d", len(ep.addr), maxUnixPath)
		}
		return ep, nil
	case "tcp":
		if s.factory == nil {
			return ep, fmt.Errorf("%s has no TCP service: give %s", s.name, s.schemes())
		}
	case "udp":
		if s.packet == nil {
			return ep, fmt.Errorf("%s has no UDP service: give %s", s.name, s.schemes())
		}
	case "":
	default:
		return ep, fmt.Errorf("unknown scheme %q: give %s", ep.scheme+"://", s.schemes())
	}
	_, port, err := net.SplitHostPort(ep.addr)
	if err != nil {
		return ep, fmt.Errorf("want %s, for example %s", s.schemes(), s.addr)
	}
	if _, err := net.LookupPort("tcp", port); err != nil {
		return ep, fmt.Errorf("port %q is neither 0-65535 nor a service name", port)
	}
	return ep, nil
}

// transports names what a HOST:PORT serves s over.
func (s service) transports() string {
	switch {
	case s.factory != nil && s.packet != nil:
		return "TCP and UDP"
	case s.factory != nil:
		return "TCP"
	}
	return "UDP"
}

// schemes lists the ways to write an address for s.
func (s service) schemes() string {
	out := []string{"HOST:PORT"}
	if s.factory != nil {
		out = append(out, "tcp://HOST:PORT")
	}
	if s.packet != nil {
		out = append(out, "udp://HOST:PORT")
	}
	if s.factory != nil {
		out = append(out, "unix:///PATH")
	}
	return strings.Join(out[:len(out)-1], ", ") + " or " + out[len(out)-1]
}

// listening is a service on one of its endpoints.
type listening struct {
	service
	ep    endpoint
	names socketNames // where each socket's service is recorded; may be nil
}

// listen starts r and prints a "listening SERVICE NETWORK ADDR" line per
// socket. A HOST:PORT serves TCP and UDP, as the service has them, on one
// port number: UDP takes the port TCP was given, so that PORT 0 gives both
// the same. A backend that serves no datagrams skips UDP there, with a
// warning; asked for by udp://, it is an error.
func (r listening) listen(l *reactor.Loop, stdout io.Writer, log *slog.Logger) error {
	addr := r.ep.addr
	switch r.ep.scheme {
	case "unix":
		return r.listenStream(l, "unix", addr, stdout)
	case "tcp":
		return r.listenStream(l, "tcp", addr, stdout)
	case "udp":
		return r.listenPacket(l, addr, stdout)
	}
	if r.factory != nil {
		a, err := l.Listen("tcp", addr, r.factory)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "listening %s tcp %s\n", r.name, a)
		r.names.add("tcp", a.String(), r.name)
		if ta, ok := a.(*net.TCPAddr); ok {
			host, _, _ := net.SplitHostPort(addr)
			addr = net.JoinHostPort(host, strconv.Itoa(ta.Port))
		}
	}
	if r.packet != nil {
		err := r.listenPacket(l, addr, stdout)
		if errors.Is(err, reactor.ErrUnsupported) && r.factory != nil {
			log.Warn("this backend serves no datagrams: UDP not served", "service", r.name)
			return nil
		}
		return err
	}
	return nil
}

func (r listening) listenStream(l *reactor.Loop, network, addr string, stdout io.Writer) error {
	a, err := l.Listen(network, addr, r.factory)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "listening %s %s %s\n", r.name, network, a)
	r.names.add(network, a.String(), r.name)
	return nil
}

func (r listening) listenPacket(l *reactor.Loop, addr string, stdout io.Writer) error {
	a, err := l.ListenPacket("udp", addr, r.packet)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "listening %s udp %s\n", r.name, a)
	r.names.add("udp", a.String(), r.name)
	return nil
}
