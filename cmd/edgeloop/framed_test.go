package main

import (
	"context"
	"net"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/edgeloop/edgeloop/backend"
	"github.com/edgeloop/edgeloop/internal/frametest"
)

// TestServeFramedServices: serve's qa and lines services answer on every
// backend, whatever the cuts between the client's writes.
func TestServeFramedServices(t *testing.T) {
	for _, b := range backend.Names() {
		t.Run(b, func(t *testing.T) {
			s := startServe(t, 2, "--backend", b, "--loops", "2", "--qa", "127.0.0.1:0", "--lines", "127.0.0.1:0",
				"--max-question", "32")
			notes := [][]byte{[]byte("Yoyo"), []byte("?Pu"), []byte("yo?")}
			if err := frametest.Exchange(s.addrs["qa"], notes, []byte("Yoyo.Puyo.")); err != nil {
				t.Fatalf("qa: %v", err)
			}
			long := []byte("fine?" + strings.Repeat("x", 40) + "?")
			if err := frametest.Exchange(s.addrs["qa"], [][]byte{long}, []byte("fine.error: question longer than 32 bytes\n")); err != nil {
				t.Fatalf("qa, a question over --max-question: %v", err)
			}
			lines := []byte("first line\nsecond\r\n\nlast\n")
			if err := frametest.Exchange(s.addrs["lines"], frametest.SplitAt(lines, 3, 14), lines); err != nil {
				t.Fatalf("lines: %v", err)
			}
			if code, _ := s.stop(t, syscall.SIGTERM); code != 0 {
				t.Fatalf("exit code %d after SIGTERM; stderr:\n%s", code, s.stderr)
			}
		})
	}
}

// TestServeQAWithNC asks serve's qa service with OpenBSD nc, a client
// nobody here wrote, several questions in one write.
func TestServeQAWithNC(t *testing.T) {
	nc := needTool(t, "nc")
	s := startServe(t, 1, "--qa", "127.0.0.1:0")
	host, port, _ := net.SplitHostPort(s.addrs["qa"])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, nc, "-N", host, port)
	cmd.Stdin = strings.NewReader("Yoyo?Puyo?How are you?unfinished")
	got, err := cmd.Output()
	if err != nil {
		t.Fatalf("nc: %v", err)
	}
	if want := "Yoyo.Puyo.How are you."; string(got) != want {
		t.Fatalf("nc got %q, want %q", got, want)
	}
}
