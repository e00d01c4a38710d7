package reactor_test

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/edgeloop/edgeloop/backend"
	"github.com/edgeloop/edgeloop/internal/conformance"
	"github.com/edgeloop/edgeloop/protocols/echo"
	"github.com/edgeloop/edgeloop/reactor"
)

// echoOnce sends msg over a new connection to network/addr and checks it
// comes back.
func echoOnce(network, addr, msg string) error {
	c, err := net.DialTimeout(network, addr, waitTimeout)
	if err != nil {
		return err
	}
	defer c.Close()
	return echoOn(c, msg)
}

// echoOn sends msg over c and checks it comes back.
func echoOn(c net.Conn, msg string) error {
	c.SetDeadline(time.Now().Add(waitTimeout))
	if _, err := c.Write([]byte(msg)); err != nil {
		return err
	}
	return conformance.ReadExactly(c, []byte(msg))
}

// TestHandoverToAnotherLoop hands every socket of a Loop with several event
// loops (a SO_REUSEPORT socket per loop for TCP and UDP, one for the Unix
// socket) to another Loop, which adopts them; after the first stops
// accepting, the second serves every address, a connection the first
// accepted before keeps being served by it, and the Unix socket's file
// outlives the first Loop's Shutdown.
func TestHandoverToAnotherLoop(t *testing.T) {
	const loops = 3
	for _, b := range append(pollerBackends, "net") {
		t.Run("backend="+b, func(t *testing.T) { handOver(t, b, loops) })
	}
}

// handOver is TestHandoverToAnotherLoop on backend b.
func handOver(t *testing.T, b string, loops int) {
	{
		old := newLoop(t, b, reactor.WithLoops(loops))
		tcp, err := old.Listen("tcp", "127.0.0.1:0", echo.New)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(conformance.SocketPath(t))
		if _, err := old.Listen("unix", path, echo.New); err != nil {
			t.Fatal(err)
		}
		udp, err := old.ListenPacket("udp", "127.0.0.1:0", echo.NewPacket)
		if err != nil {
			t.Fatal(err)
		}
		early, err := net.DialTimeout("tcp", tcp.String(), waitTimeout)
		if err != nil {
			t.Fatal(err)
		}
		defer early.Close()
		if err := echoOn(early, "before"); err != nil {
			t.Fatalf("echo before the hand-over: %v", err)
		}

		files, err := old.ListenerFiles()
		if err != nil {
			t.Fatalf("ListenerFiles: %v", err)
		}
		count := map[string]int{}
		for _, lf := range files {
			defer lf.File.Close()
			count[lf.Network+" "+lf.Addr]++
		}
		perAddr := loops // a SO_REUSEPORT socket per loop
		if b == "net" {
			perAddr = 1 // package net's one socket
		}
		want := map[string]int{"tcp " + tcp.String(): perAddr, "udp " + udp.String(): perAddr, "unix " + path: 1}
		if fmt.Sprint(count) != fmt.Sprint(want) {
			t.Fatalf("ListenerFiles gave %v, want %v (a socket per loop for TCP and UDP)", count, want)
		}

		succ := newLoop(t, b, reactor.WithLoops(2))
		for _, lf := range files {
			var a net.Addr
			if lf.Network == "udp" {
				a, err = succ.ListenPacketFile(lf.File, echo.NewPacket)
			} else {
				a, err = succ.ListenFile(lf.File, echo.New)
			}
			if err != nil {
				t.Fatalf("adopting %s %s: %v", lf.Network, lf.Addr, err)
			}
			if a.String() != lf.Addr {
				t.Errorf("adopted %s %s, got address %s", lf.Network, lf.Addr, a)
			}
		}
		if err := old.StopAccepting(); err != nil {
			t.Fatalf("StopAccepting: %v", err)
		}
		if n := old.OpenConns(); n != 1 {
			t.Errorf("OpenConns after StopAccepting = %d, want 1 (the early connection)", n)
		}
		for i := 0; i < 40; i++ {
			if err := echoOnce("tcp", tcp.String(), fmt.Sprint("tcp ", i)); err != nil {
				t.Fatalf("TCP exchange %d after the hand-over: %v", i, err)
			}
			if err := echoOnce("unix", path, fmt.Sprint("unix ", i)); err != nil {
				t.Fatalf("Unix exchange %d after the hand-over: %v", i, err)
			}
		}
		if err := conformance.UDPEchoes(udp.String()); err != nil {
			t.Fatalf("UDP after the hand-over: %v", err)
		}
		if err := echoOn(early, "after"); err != nil {
			t.Fatalf("the connection accepted before the hand-over: %v", err)
		}
		early.Close()
		conformance.WaitFor(t, waitTimeout, "the old Loop's connection to close", func() bool { return old.OpenConns() == 0 })
		shutdown(t, old)
		if _, err := os.Lstat(path); err != nil {
			t.Fatalf("the socket file is gone after the old Loop's Shutdown: %v", err)
		}
		if err := echoOnce("unix", path, "still"); err != nil {
			t.Fatalf("Unix exchange after the old Loop's Shutdown: %v", err)
		}
	}
}

// TestListenFileRefuses checks that ListenFile and ListenPacketFile refuse
// what they cannot serve, and close nothing of the caller's.
func TestListenFileRefuses(t *testing.T) {
	for _, b := range []string{"epoll", "net"} {
		t.Run("backend="+b, func(t *testing.T) { listenFileRefuses(t, b) })
	}
}

func listenFileRefuses(t *testing.T, b string) {
	l := newLoop(t, b)
	regular, err := os.CreateTemp(t.TempDir(), "f")
	if err != nil {
		t.Fatal(err)
	}
	defer regular.Close()
	bound, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer bound.Close()
	udpFile, err := bound.(*net.UDPConn).File()
	if err != nil {
		t.Fatal(err)
	}
	defer udpFile.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	tcpFile, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	defer tcpFile.Close()
	dialled, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer dialled.Close()
	connFile, err := dialled.(*net.TCPConn).File()
	if err != nil {
		t.Fatal(err)
	}
	defer connFile.Close()

	for _, tc := range []struct {
		name   string
		adopt  func() error
		packet bool
	}{
		{"regular file as a listener", func() error { _, err := l.ListenFile(regular, echo.New); return err }, false},
		{"UDP socket as a listener", func() error { _, err := l.ListenFile(udpFile, echo.New); return err }, false},
		{"connected TCP socket as a listener", func() error { _, err := l.ListenFile(connFile, echo.New); return err }, false},
		{"TCP listener as a datagram socket", func() error { _, err := l.ListenPacketFile(tcpFile, echo.NewPacket); return err }, true},
		{"nil factory", func() error { _, err := l.ListenFile(tcpFile, nil); return err }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.adopt(); err == nil {
				t.Fatal("adopted, want an error")
			}
		})
	}
	// The caller's files are untouched: the listener still works.
	go func() {
		if c, err := ln.Accept(); err == nil {
			c.Close()
		}
	}()
	c, err := net.DialTimeout("tcp", ln.Addr().String(), waitTimeout)
	if err != nil {
		t.Fatalf("the caller's listener after the refusals: %v", err)
	}
	c.Close()
}

// TestHandoverUnsupportedOnGnet checks the gnet engine says it cannot.
func TestHandoverUnsupportedOnGnet(t *testing.T) {
	l, err := backend.New("gnet", reactor.WithLoops(1))
	if errors.Is(err, reactor.ErrUnsupported) || (err != nil && !contains(backend.Names(), "gnet")) {
		t.Skip("no gnet backend here")
	}
	if err != nil {
		t.Fatal(err)
	}
	defer shutdown(t, l)
	if _, err := l.ListenerFiles(); !errors.Is(err, reactor.ErrUnsupported) {
		t.Errorf("ListenerFiles: %v, want ErrUnsupported", err)
	}
	if err := l.StopAccepting(); !errors.Is(err, reactor.ErrUnsupported) {
		t.Errorf("StopAccepting: %v, want ErrUnsupported", err)
	}
	if _, err := l.ListenFile(os.Stdin, echo.New); !errors.Is(err, reactor.ErrUnsupported) {
		t.Errorf("ListenFile: %v, want ErrUnsupported", err)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
