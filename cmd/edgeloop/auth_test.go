package main

import (
	"bytes"
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
	"github.com/edgeloop/edgeloop/protocols/auth"
)

// writeKeyFile writes content to a new file of the given mode and returns
// its path.
func writeKeyFile(t *testing.T, content string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil { // past the umask
		t.Fatal(err)
	}
	return p
}

// TestServeAuthRefusesBadFlags: a key file others may read, an empty key,
// and --auth lists that name nothing to authenticate are refused before
// anything starts, with exit 2 and one line on stderr, as every bad flag.
func TestServeAuthRefusesBadFlags(t *testing.T) {
	good := writeKeyFile(t, "secret\n", 0o600)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"readable by others", []string{"--auth-key-file", writeKeyFile(t, "secret\n", 0o604)}, "mode 0604 lets group or others at the key: chmod 600 it"},
		{"readable by group", []string{"--auth-key-file", writeKeyFile(t, "secret\n", 0o640)}, "mode 0640 lets group or others"},
		{"writable by group", []string{"--auth-key-file", writeKeyFile(t, "secret\n", 0o620)}, "mode 0620 lets group or others"},
		{"empty file", []string{"--auth-key-file", writeKeyFile(t, "", 0o600)}, "the key is empty"},
		{"only a newline", []string{"--auth-key-file", writeKeyFile(t, "\n", 0o600)}, "the key is empty"},
		{"missing file", []string{"--auth-key-file", filepath.Join(t.TempDir(), "nosuch")}, "no such file or directory"},
		{"a directory", []string{"--auth-key-file", t.TempDir()}, "not a regular file"},
		{"too large", []string{"--auth-key-file", writeKeyFile(t, strings.Repeat("k", 64<<10+1), 0o600)}, "too large for a key"},
		{"auth without a key file", []string{"--auth", "echo"}, "--auth needs --auth-key-file"},
		{"auth names no service", []string{"--auth-key-file", good, "--auth", "nosuch"}, `--auth "nosuch": no such service`},
		{"auth names a UDP service", []string{"--auth-key-file", good, "--auth", "sntp"}, `--auth "sntp": sntp has no stream service`},
		{"auth names a service that does not run", []string{"--auth-key-file", good, "--auth", "echo,qa"}, `--auth "qa": qa does not run`},
		{"auth list with an empty entry", []string{"--auth-key-file", good, "--auth", "echo,"}, `--auth "": no such service`},
		{"only UDP runs", []string{"--echo", "udp://127.0.0.1:0", "--auth-key-file", good}, "no stream service runs to authenticate"},
	}
	for _, tc := range tests {
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

// TestReadKeyFile: the key is the file's contents with one trailing
// newline removed, and only one.
func TestReadKeyFile(t *testing.T) {
	tests := []struct{ name, content, key string }{
		{"one newline", "secret\n", "secret"},
		{"no newline", "secret", "secret"},
		{"two newlines", "secret\n\n", "secret\n"},
		{"CRLF keeps the CR", "secret\r\n", "secret\r"},
		{"binary", "\x00binary\xff", "\x00binary\xff"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key, err := readKeyFile(writeKeyFile(t, tc.content, 0o400))
			if err != nil {
				t.Fatal(err)
			}
			if string(key) != tc.key {
				t.Errorf("key %q, want %q", key, tc.key)
			}
		})
	}
}

// needPython returns python3's path; it skips without it, except in CI,
// as needTool does.
func needPython(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("python3")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("python3 is not installed; .ci/run should install it")
		}
		t.Skip("python3 is not installed (apt-get install python3); CI runs this test")
	}
	return p
}

// pythonClient is the seed notes' client, with nothing but Python's
// standard library: it answers the challenge with hmac and checks that
// echo then answers a request sent in the same segment as the answer, and
// that a wrong key gets the connection closed with nothing echoed.
const pythonClient = `
import hmac, socket, sys
host, port = sys.argv[1].rsplit(':', 1)
key = sys.argv[2].encode()

def recv_exactly(s, n):
    b = b''
    while len(b) < n:
        chunk = s.recv(n - len(b))
        if not chunk:
            raise EOFError('closed after %d of %d bytes' % (len(b), n))
        b += chunk
    return b

s = socket.create_connection((host, int(port)), timeout=10)
challenge = recv_exactly(s, 32)
s.sendall(hmac.new(key, challenge, 'sha256').digest() + b'hello from python\n')
got = recv_exactly(s, 18)
assert got == b'hello from python\n', got
s.close()

s = socket.create_connection((host, int(port)), timeout=10)
challenge = recv_exactly(s, 32)
s.sendall(hmac.new(b'not the key', challenge, 'sha256').digest())
try:
    rest = s.recv(1)
except ConnectionResetError:
    rest = b''
assert rest == b'', rest
print('ok')
`

// TestServeAuthPythonClient: on every backend, `edgeloop serve
// --auth-key-file` serves the Python client above and the Go client
// (auth.Handshake) on the echo service it protects, and daytime, which
// --auth leaves out, answers at once with no challenge.
func TestServeAuthPythonClient(t *testing.T) {
	python := needPython(t)
	keyFile := writeKeyFile(t, "the seeds' secret\n", 0o600)
	for _, b := range backend.Names() {
		t.Run(b, func(t *testing.T) {
			s := startServe(t, 2, "--backend", b, "--loops", "1", "--echo", "tcp://127.0.0.1:0",
				"--daytime", "tcp://127.0.0.1:0", "--auth-key-file", keyFile, "--auth", "echo")
			out, err := exec.Command(python, "-c", pythonClient, s.addrs["echo"], "the seeds' secret").CombinedOutput()
			if err != nil || strings.TrimSpace(string(out)) != "ok" {
				t.Fatalf("python client: %v\n%s", err, out)
			}

			c, err := net.DialTimeout("tcp", s.addrs["echo"], 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(20 * time.Second))
			if err := auth.Handshake(c, []byte("the seeds' secret")); err != nil {
				t.Fatal(err)
			}
			msg := []byte("hello from go")
			if _, err := c.Write(msg); err != nil {
				t.Fatal(err)
			}
			got := make([]byte, len(msg))
			if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, msg) {
				t.Fatalf("echo after Handshake: %q, %v", got, err)
			}

			d, err := net.DialTimeout("tcp", s.addrs["daytime"], 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			d.SetDeadline(time.Now().Add(20 * time.Second))
			line, err := io.ReadAll(d)
			if err != nil || !bytes.HasSuffix(line, []byte("\r\n")) || bytes.ContainsFunc(line[:len(line)-2], func(r rune) bool { return r < 0x20 || r > 0x7e }) {
				t.Fatalf("daytime, not under --auth, answered %q, %v; want its text line", line, err)
			}
			if code, _ := s.stop(t, syscall.SIGTERM); code != 0 {
				t.Fatalf("exit code %d after SIGTERM; stderr:\n%s", code, s.stderr)
			}
		})
	}
}

// TestServeAuthLeavesUDP: --auth-key-file protects echo over TCP, and the
// same service's UDP echo, on the same port, answers without a handshake.
func TestServeAuthLeavesUDP(t *testing.T) {
	keyFile := writeKeyFile(t, "k", 0o600)
	s := startServe(t, 2, "--loops", "1", "--echo", "127.0.0.1:0", "--auth-key-file", keyFile)
	c, err := net.DialTimeout("tcp", s.addrs["echo"], 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	challenge := make([]byte, auth.ChallengeSize)
	if _, err := io.ReadFull(c, challenge); err != nil {
		t.Fatalf("TCP echo sent no challenge: %v", err)
	}
	u, err := net.Dial("udp", s.addrs["echo/udp"])
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	u.SetDeadline(time.Now().Add(20 * time.Second))
	buf := make([]byte, 64)
	for {
		if _, err := u.Write([]byte("udp ping")); err != nil {
			t.Fatal(err)
		}
		u.SetReadDeadline(time.Now().Add(time.Second)) // a datagram may be lost: send again
		n, err := u.Read(buf)
		if err == nil {
			if string(buf[:n]) != "udp ping" {
				t.Fatalf("UDP echo answered %q", buf[:n])
			}
			return
		}
		if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
			t.Fatal(err)
		}
	}
}
