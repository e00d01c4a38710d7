package main

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestServeRefusesBadAccessFlags: --allow, --deny, --max-conns and
// --max-conns-per-ip refuse nonsense before anything starts, with exit 2
// and one line, as every serve flag does.
func TestServeRefusesBadAccessFlags(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"allow not a network", []string{"--allow", "example.com"}, `--allow: "example.com" is not an IP address or a network in CIDR notation`},
		{"allow bad length", []string{"--allow", "10.0.0.0/33"}, `--allow: "10.0.0.0/33" is not a network in CIDR notation`},
		{"deny bad v6 length", []string{"--deny", "::/129"}, `--deny: "::/129" is not a network in CIDR notation`},
		{"deny empty entry", []string{"--deny", "10.0.0.0/8,,::1"}, `--deny: entry 2 of "10.0.0.0/8,,::1" is empty`},
		{"deny with a zone", []string{"--deny", "fe80::1%eth0"}, `--deny: "fe80::1%eth0" has a zone`},
		{"max-conns negative", []string{"--max-conns", "-1"}, "--max-conns -1 is out of range: give 0 (no limit) or more"},
		{"max-conns not a number", []string{"--max-conns", "many"}, `invalid value "many" for flag -max-conns`},
		{"max-conns-per-ip negative", []string{"--max-conns-per-ip", "-5"}, "--max-conns-per-ip -5 is out of range"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"serve", "--echo", "127.0.0.1:0"}, tc.args...)
			code, stdout, stderr := runCmd(t, args...)
			if code != 2 {
				t.Errorf("exit code %d, want 2; stderr:\n%s", code, stderr)
			}
			if stdout != "" {
				t.Errorf("stdout %q, want nothing: no service may start", stdout)
			}
			checkOneLineError(t, "edgeloop serve: ", stderr, tc.want)
		})
	}
}

// dialFromTo connects to addr from the local address ip.
func dialFromTo(t *testing.T, ip, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s from %s: %v", addr, ip, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// echoOnce reports whether msg comes back over c, and what went wrong if
// not: a refused connection reads EOF or a reset.
func echoOnce(c net.Conn, msg string) error {
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte(msg)); err != nil {
		return err
	}
	b := make([]byte, len(msg))
	if _, err := io.ReadFull(c, b); err != nil {
		return err
	}
	if string(b) != msg {
		return errors.New("echo garbled: " + string(b))
	}
	return nil
}

// refused reports whether err is what a connection closed at accept reads.
func refused(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// TestServeAccessFlags: serve with --deny and --max-conns-per-ip refuses a
// denied peer and a peer over its limit at accept, logs it, serves the
// others, admits the peer again once its connection closed, and leaves UDP
// alone.
func TestServeAccessFlags(t *testing.T) {
	s := startServe(t, 2, "--echo", "127.0.0.1:0,udp://127.0.0.1:0", "--loops", "2", "--balance", "round-robin",
		"--deny", "127.0.0.3", "--max-conns-per-ip", "1")
	addr := s.addrs["echo"]
	first := dialFromTo(t, "127.0.0.2", addr)
	if err := echoOnce(first, "first"); err != nil {
		t.Fatalf("the first connection from 127.0.0.2: %v", err)
	}
	if err := echoOnce(dialFromTo(t, "127.0.0.2", addr), "second"); !refused(err) {
		t.Fatalf("a second connection from 127.0.0.2 over --max-conns-per-ip 1: %v, want it closed", err)
	}
	if err := echoOnce(dialFromTo(t, "127.0.0.3", addr), "denied"); !refused(err) {
		t.Fatalf("a connection from the denied 127.0.0.3: %v, want it closed", err)
	}
	s.stderr.waitFor(t, "access: connection refused", 10*time.Second)
	if err := echoOnce(first, "still served"); err != nil {
		t.Fatalf("the admitted connection after the refusals: %v", err)
	}
	first.Close()
	// The close reaches the server asynchronously: retry until admitted.
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := echoOnce(dialFromTo(t, "127.0.0.2", addr), "again")
		if err == nil {
			break
		}
		if !refused(err) || time.Now().After(deadline) {
			t.Fatalf("a connection from 127.0.0.2 after its first closed: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// UDP is not subject to the rules: the denied address is answered.
	u, err := net.DialUDP("udp", &net.UDPAddr{IP: net.ParseIP("127.0.0.3")}, net.UDPAddrFromAddrPort(mustAddrPort(t, s.addrs["echo/udp"])))
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	u.SetDeadline(time.Now().Add(10 * time.Second))
	u.Write([]byte("datagram"))
	b := make([]byte, 64)
	if n, err := u.Read(b); err != nil || string(b[:n]) != "datagram" {
		t.Fatalf("UDP echo to the denied address: %q, %v; want it answered", b[:n], err)
	}
	if strings.Count(s.stderr.String(), "access: connection") > 3 {
		t.Errorf("more refusal lines than refusals:\n%s", s.stderr)
	}
}

func mustAddrPort(t *testing.T, s string) netip.AddrPort {
	t.Helper()
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		t.Fatal(err)
	}
	return ap
}
