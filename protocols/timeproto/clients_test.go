package timeproto_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgeloop/edgeloop/backend"
	"github.com/edgeloop/edgeloop/internal/extclient"
	"github.com/edgeloop/edgeloop/protocols/timeproto"
	"github.com/edgeloop/edgeloop/reactor"
)

// fixedTime is the injected clock's time: a client that reports it got it
// from the server, not from its own clock.
var fixedTime = time.Date(2026, 11, 24, 19, 13, 5, 0, time.UTC)

// services is one backend serving all three time services.
type services struct {
	daytime, time, sntp string // host:port; TCP and UDP share the port
	udp                 bool   // the backend serves datagrams
}

// serveTime starts the services on backend name with the fixed clock.
func serveTime(t *testing.T, name string) services {
	t.Helper()
	l, err := backend.New(name, reactor.WithLoops(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		l.Shutdown(ctx)
	})
	s := &timeproto.Server{Clock: func() time.Time { return fixedTime }}
	var sv services
	sv.udp = true
	for _, svc := range []struct {
		addr   *string
		stream reactor.Factory
		packet reactor.PacketFactory
	}{
		{&sv.daytime, s.Daytime, s.DaytimePacket},
		{&sv.time, s.Time, s.TimePacket},
		{&sv.sntp, nil, s.SNTPPacket},
	} {
		port := 0
		if svc.stream != nil {
			a, err := l.Listen("tcp", "127.0.0.1:0", svc.stream)
			if err != nil {
				t.Fatal(err)
			}
			port = a.(*net.TCPAddr).Port
		}
		// UDP on the TCP port, as the services are numbered; a free UDP
		// port otherwise.
		a, err := l.ListenPacket("udp", "127.0.0.1:"+strconv.Itoa(port), svc.packet)
		switch {
		case errors.Is(err, reactor.ErrUnsupported):
			sv.udp = false
		case err != nil:
			t.Fatal(err)
		default:
			port = a.(*net.UDPAddr).Port
		}
		*svc.addr = "127.0.0.1:" + strconv.Itoa(port)
	}
	return sv
}

// run runs a client with a deadline and TZ=UTC, and returns its output.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, extclient.Need(t, name), args...)
	cmd.Env = []string{"TZ=UTC", "PATH=/usr/bin:/bin"}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func port(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

// TestRdate: rdate (RFC 868 over TCP and UDP, and SNTP) reports the
// server's clock, on every backend that serves the transport.
func TestRdate(t *testing.T) {
	want := fixedTime.Format("Mon Jan _2 15:04:05 MST 2006")
	for _, b := range backend.Names() {
		t.Run("backend="+b, func(t *testing.T) {
			sv := serveTime(t, b)
			for _, tc := range []struct {
				name string
				args []string
				udp  bool
			}{
				{"time/tcp", []string{"-p", "-o", port(sv.time), "127.0.0.1"}, false},
				{"time/udp", []string{"-p", "-u", "-o", port(sv.time), "127.0.0.1"}, true},
				{"sntp", []string{"-p", "-n", "-o", port(sv.sntp), "127.0.0.1"}, true},
			} {
				t.Run(tc.name, func(t *testing.T) {
					if tc.udp && !sv.udp {
						t.Skipf("%s serves no datagrams (see README's backend table)", b)
					}
					out := run(t, "rdate", tc.args...)
					if !strings.Contains(out, want) {
						t.Errorf("rdate %s printed %q, want the server's %q", strings.Join(tc.args, " "), out, want)
					}
				})
			}
		})
	}
}

// TestSocatUDP: socat, as a UDP client, gets the daytime text.
func TestSocatUDP(t *testing.T) {
	want := fmt.Sprintf("%s\r\n", fixedTime.Format(time.ANSIC))
	for _, b := range backend.Names() {
		t.Run("backend="+b, func(t *testing.T) {
			sv := serveTime(t, b)
			if !sv.udp {
				t.Skipf("%s serves no datagrams (see README's backend table)", b)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, extclient.Need(t, "socat"), "-T", "5", "-", "UDP:"+sv.daytime)
			cmd.Stdin = strings.NewReader("what time is it?\n")
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("socat: %v", err)
			}
			if string(out) != want {
				t.Errorf("socat got %q, want %q", out, want)
			}
		})
	}
}

// serveReal serves SNTP with the real clock; "" if the backend serves no
// datagrams.
func serveReal(t *testing.T, name string) string {
	t.Helper()
	l, err := backend.New(name, reactor.WithLoops(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		l.Shutdown(ctx)
	})
	s := &timeproto.Server{}
	a, err := l.ListenPacket("udp", "127.0.0.1:0", s.SNTPPacket)
	if errors.Is(err, reactor.ErrUnsupported) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	return a.String()
}
