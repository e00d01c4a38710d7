package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/edgeloop/edgeloop/backend"
	"github.com/edgeloop/edgeloop/internal/conformance"
	"github.com/edgeloop/edgeloop/protocols/array"
)

// TestServeUnixSocket: --echo unix:///PATH serves echo on a Unix socket,
// beside TCP, on every backend; a stale socket file is replaced, a live
// one is not, and the file is gone after the shutdown.
func TestServeUnixSocket(t *testing.T) {
	payload := randomBytes(t, 256<<10)
	for _, b := range backend.Names() {
		t.Run(b, func(t *testing.T) {
			dir, err := os.MkdirTemp("", "el-serve-")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.RemoveAll(dir) })
			path := filepath.Join(dir, "echo.sock")
			// A stale socket: bound, and closed without removing its file.
			stale, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
			if err != nil {
				t.Fatal(err)
			}
			stale.SetUnlinkOnClose(false)
			stale.Close()

			s := startServe(t, 3, "--backend", b, "--loops", "2", "--echo", "127.0.0.1:0,unix://"+path)
			if s.addrs["echo/unix"] != path {
				t.Fatalf("listening on %q, want %q", s.addrs["echo/unix"], path)
			}
			for range 3 {
				unixRoundTrip(t, path, payload)
			}
			echoRoundTrip(t, s.addrs["echo"], payload)

			// A second server on the live path is refused, and leaves it be.
			code, _, stderr := runCmd(t, "serve", "--backend", b, "--echo", "unix://"+path)
			if code != 1 || !strings.Contains(stderr, "address already in use") {
				t.Fatalf("a second serve on the live socket: exit %d, stderr %q; want 1 and \"address already in use\"", code, stderr)
			}
			unixRoundTrip(t, path, payload)

			if code, _ := s.stop(t, syscall.SIGTERM); code != 0 {
				t.Fatalf("exit code %d after SIGTERM; stderr:\n%s", code, s.stderr)
			}
			if _, err := os.Lstat(path); !os.IsNotExist(err) {
				t.Fatalf("the socket file is still there after the shutdown (Lstat: %v)", err)
			}
		})
	}
}

// TestServeUnixWithSocat: socat, a client nobody here wrote, echoes over
// serve's Unix socket.
func TestServeUnixWithSocat(t *testing.T) {
	socat := needTool(t, "socat")
	path := filepath.Join(t.TempDir(), "e.sock")
	if len(path) > maxUnixPath {
		dir, err := os.MkdirTemp("", "el-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		path = filepath.Join(dir, "e.sock")
	}
	startServe(t, 1, "--echo", "unix://"+path)
	payload := randomBytes(t, 64<<10)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, socat, "-t", "10", "-", "UNIX-CONNECT:"+path)
	cmd.Stdin = bytes.NewReader(payload)
	got, err := cmd.Output()
	if err != nil {
		t.Fatalf("socat: %v", err)
	}
	if !bytes.Equal(got, payload) {
		t.Fatalf("socat got %d bytes back, want %d byte-exact", len(got), len(payload))
	}
}

// unixRoundTrip echoes payload over the Unix socket at path: it reads the
// payload back while writing it, then shuts its write side and expects the
// server's close. It reads before it half-closes: the gnet backend closes
// at the peer's FIN and drops what it still holds (conformance's Limits).
func unixRoundTrip(t *testing.T, path string, payload []byte) {
	t.Helper()
	c, err := net.DialTimeout("unix", path, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := conformance.Exchange(c, payload, nil, time.Now().Add(30*time.Second)); err != nil {
		t.Fatalf("unix echo: %v", err)
	}
	c.(*net.UnixConn).CloseWrite()
	if err := conformance.ReadToEOF(c, nil); err != nil {
		t.Fatalf("unix echo, after our FIN: %v", err)
	}
}

// TestServeEveryStreamServiceOnUnix: every service with a stream transport
// listens on a Unix socket when given unix:///PATH, and answers there as
// over TCP, on every backend; SNTP, UDP only, is refused such an address
// (TestServeRefusesBadFlags).
func TestServeEveryStreamServiceOnUnix(t *testing.T) {
	for _, b := range backend.Names() {
		t.Run(b, func(t *testing.T) {
			dir, err := os.MkdirTemp("", "el-all-")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.RemoveAll(dir) })
			sock := func(name string) string { return filepath.Join(dir, name+".sock") }
			var args []string
			names := []string{"echo", "lines", "daytime", "time", "array", "qa"}
			for _, n := range names {
				args = append(args, "--"+n, "unix://"+sock(n))
			}
			s := startServe(t, len(names), append([]string{"--backend", b, "--loops", "2"}, args...)...)
			for _, n := range names {
				if s.addrs[n+"/unix"] != sock(n) {
					t.Fatalf("%s listens on %q, want %q", n, s.addrs[n+"/unix"], sock(n))
				}
			}
			dial := func(name string) net.Conn {
				c, err := net.DialTimeout("unix", sock(name), 5*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { c.Close() })
				c.SetDeadline(time.Now().Add(30 * time.Second))
				return c
			}
			unixRoundTrip(t, sock("echo"), []byte("hello over a unix socket"))
			if err := conformance.Exchange(dial("lines"), []byte("one\ntwo\n"), nil, time.Now().Add(30*time.Second)); err != nil {
				t.Fatalf("lines: %v", err)
			}
			qa := dial("qa")
			qa.Write([]byte("Yoyo?"))
			if err := conformance.ReadExactly(qa, []byte("Yoyo.")); err != nil {
				t.Fatalf("qa: %v", err)
			}
			got, err := io.ReadAll(dial("daytime"))
			if err != nil {
				t.Fatalf("daytime: %v", err)
			}
			checkDaytime(t, got, "daytime over a unix socket")
			got, err = io.ReadAll(dial("time"))
			if err != nil {
				t.Fatalf("time: %v", err)
			}
			checkTime(t, got, "time over a unix socket")
			ac := dial("array")
			src := []float64{1, 2, 3, 4, 5, 6}
			go array.WriteArray(ac, []int{2, 3}, src)
			_, data, err := array.ReadArrayInto(ac, make([]byte, 48), array.Limits{MaxData: 48})
			if err != nil || !bytes.Equal(data, array.BytesOf(src)) {
				t.Fatalf("array over a unix socket: %v (%d bytes)", err, len(data))
			}
			if code, _ := s.stop(t, syscall.SIGTERM); code != 0 {
				t.Fatalf("exit code %d after SIGTERM; stderr:\n%s", code, s.stderr)
			}
			for _, n := range names {
				if _, err := os.Lstat(sock(n)); !os.IsNotExist(err) {
					t.Errorf("%s's socket file is still there after the shutdown (Lstat: %v)", n, err)
				}
			}
		})
	}
}
