package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/edgeloop/edgeloop/internal/conformance"
)

// socketFile is a listening or bound socket made by the test, as a file to
// pass to serve, and its address.
type socketFile struct {
	network, addr string
	file          *os.File
}

func tcpSocket(t *testing.T) socketFile {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return socketFile{"tcp", ln.Addr().String(), f}
}

func unixSocket(t *testing.T, path string) socketFile {
	t.Helper()
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	defer ln.Close()
	f, err := ln.(*net.UnixListener).File()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return socketFile{"unix", path, f}
}

func udpSocket(t *testing.T) socketFile {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	f, err := pc.(*net.UDPConn).File()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return socketFile{"udp", pc.LocalAddr().String(), f}
}

// TestServeSocketActivation starts serve as systemd would, through a
// launcher that sets LISTEN_PID to serve's own pid (sh: export
// LISTEN_PID=$$, then exec), with sockets the test made at fds 3 and on,
// and checks which service serves each, or that serve refuses.
func TestServeSocketActivation(t *testing.T) {
	dir, err := os.MkdirTemp("", "el")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	for _, tc := range []struct {
		name    string
		sockets []string // "tcp", "unix", "udp"
		names   string   // LISTEN_FDNAMES; "-" leaves it unset
		pid     string   // LISTEN_PID: "$$" is serve's own
		args    []string
		// want: for each socket, the service that must serve it; "" if
		// serve must not take it. exit: 2 if serve must refuse.
		want []string
		exit int
	}{
		{name: "named echo and lines, no service flag", sockets: []string{"tcp", "unix"}, names: "echo:lines", pid: "$$",
			want: []string{"echo", "lines"}},
		{name: "named echo over UDP and TCP", sockets: []string{"udp", "tcp"}, names: "echo:echo", pid: "$$",
			want: []string{"echo", "echo"}},
		{name: "unnamed, one service flag", sockets: []string{"tcp"}, names: "-", pid: "$$",
			args: []string{"--lines", "127.0.0.1:0"}, want: []string{"lines"}},
		{name: "systemd's default name, one service flag", sockets: []string{"tcp"}, names: "edgeloop.socket", pid: "$$",
			args: []string{"--echo", "127.0.0.1:0"}, want: []string{"echo"}},
		{name: "unnamed, no service flag", sockets: []string{"tcp"}, names: "-", pid: "$$", exit: exitUsage},
		{name: "unnamed, two service flags", sockets: []string{"tcp"}, names: "-", pid: "$$",
			args: []string{"--echo", "127.0.0.1:0", "--lines", "127.0.0.1:0"}, exit: exitUsage},
		{name: "LISTEN_PID of another process", sockets: []string{"tcp"}, names: "echo", pid: "1",
			args: []string{"--echo", "tcp://127.0.0.1:0"}, want: []string{""}},
		{name: "a socket for a disabled service", sockets: []string{"tcp"}, names: "lines", pid: "$$",
			args: []string{"--echo", "127.0.0.1:0"}, exit: exitFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var socks []socketFile
			for i, n := range tc.sockets {
				switch n {
				case "tcp":
					socks = append(socks, tcpSocket(t))
				case "udp":
					socks = append(socks, udpSocket(t))
				case "unix":
					socks = append(socks, unixSocket(t, filepath.Join(dir, fmt.Sprintf("%d.sock", i))))
				}
			}
			env := []string{fmt.Sprintf("LISTEN_FDS=%d", len(socks))}
			if tc.names != "-" {
				env = append(env, "LISTEN_FDNAMES="+tc.names)
			}
			args := append([]string{"-c", `export LISTEN_PID=` + tc.pid + `; exec "$@"`, "sh", bin, "serve", "--loops", "2"}, tc.args...)
			p := newLauncher(t, env, socks, args)
			if tc.exit != 0 {
				if code := p.exit(t, 20*time.Second); code != tc.exit {
					t.Fatalf("exit %d, want %d; stderr:\n%s", code, tc.exit, p.stderr)
				}
				return
			}
			p.stderr.waitFor(t, "msg=serving", 20*time.Second)
			p.stdout.waitFor(t, "listening ", 20*time.Second)
			for i, s := range socks {
				if tc.want[i] != "" {
					p.stdout.waitFor(t, fmt.Sprintf("listening %s %s %s\n", tc.want[i], s.network, s.addr), 20*time.Second)
				}
			}
			out := p.stdout.String()
			for i, s := range socks {
				line := fmt.Sprintf("listening %s %s %s\n", tc.want[i], s.network, s.addr)
				if tc.want[i] == "" {
					if strings.Contains(out, " "+s.addr+"\n") {
						t.Errorf("serve took the socket at %s, meant for another process:\n%s", s.addr, out)
					}
					continue
				}
				if !strings.Contains(out, line) {
					t.Errorf("stdout lacks %q:\n%s", line, out)
				}
				if err := serves(tc.want[i], s.network, s.addr); err != nil {
					t.Errorf("%s over the %s socket %s: %v", tc.want[i], s.network, s.addr, err)
				}
			}
			if tc.want[0] != "" && strings.Count(out, "listening ") != len(tc.sockets) {
				t.Errorf("serve listens on more than the sockets passed (%d):\n%s", len(tc.sockets), out)
			}
			p.cmd.Process.Signal(syscall.SIGTERM)
			if code := p.exit(t, 20*time.Second); code != 0 {
				t.Fatalf("exit %d after SIGTERM; stderr:\n%s", code, p.stderr)
			}
			for _, s := range socks {
				if s.network == "unix" {
					if _, err := os.Lstat(s.addr); err != nil {
						t.Errorf("the socket file systemd made is gone after serve's exit: %v", err)
					}
				}
			}
		})
	}
}

// newLauncher starts args (sh and serve) with socks at fds 3 and on.
func newLauncher(t *testing.T, env []string, socks []socketFile, args []string) *process {
	t.Helper()
	files := make([]*os.File, len(socks))
	for i, s := range socks {
		files[i] = s.file
	}
	return startProcess(t, "sh", env, files, args...)
}

// serves checks that service answers over network/addr.
func serves(service, network, addr string) error {
	if network == "udp" {
		return conformance.UDPEchoes(addr)
	}
	msg := "hello\n" // an echo and a line echo alike send it back
	dialErr, err := exchange(network, addr, msg)
	if dialErr != nil {
		return dialErr
	}
	return err
}

// TestServeSystemdSocketActivate runs serve under systemd-socket-activate,
// which binds a Unix socket, names it and starts serve on the first
// connection: that connection is served. A SIGHUP restart hands the socket
// on (the replacement must not take the LISTEN_ variables, unset), and
// after the replacement's exit the file systemd made is still there.
func TestServeSystemdSocketActivate(t *testing.T) {
	tool := needTool(t, "systemd-socket-activate")
	dir, err := os.MkdirTemp("", "el")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "lines.sock")
	p := startProcess(t, tool, nil, nil, "-l", path, "--fdname=lines", bin, "serve", "--loops", "2")
	p.stderr.waitFor(t, "Listening on "+path, 20*time.Second)
	for i := 0; i < 3; i++ {
		if err := serves("lines", "unix", path); err != nil {
			t.Fatalf("exchange %d: %v; stderr:\n%s", i, err, p.stderr)
		}
	}
	if out := p.stdout.String(); out != "listening lines unix "+path+"\n" {
		t.Errorf("stdout %q, want only the lines service on the socket passed", out)
	}
	p.cmd.Process.Signal(syscall.SIGHUP)
	pid := p.successor(t)
	if code := p.exit(t, 40*time.Second); code != 0 {
		t.Fatalf("exit %d after the hand-over; stderr:\n%s", code, p.stderr)
	}
	if err := serves("lines", "unix", path); err != nil {
		t.Fatalf("after the restart: %v; stderr:\n%s", err, p.stderr)
	}
	syscall.Kill(pid, syscall.SIGTERM)
	deadline := time.Now().Add(20 * time.Second)
	for !gone(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("the replacement (pid %d) did not exit on SIGTERM", pid)
		}
		time.Sleep(10 * time.Millisecond) // polling for the exit
	}
	if _, err := os.Lstat(path); err != nil {
		t.Errorf("the socket file systemd-socket-activate made is gone after serve's exit: %v", err)
	}
}
