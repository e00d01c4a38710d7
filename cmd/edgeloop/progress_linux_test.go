package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/edgeloop/edgeloop/internal/benchkit"
	"golang.org/x/sys/unix"
)

// openPTY opens a pseudo-terminal pair: what is written to slave can be read
// from master.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { master.Close() })
	fd := int(master.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil { // unlockpt
		t.Fatal(err)
	}
	n, err := unix.IoctlGetUint32(fd, unix.TIOCGPTN) // ptsname
	if err != nil {
		t.Fatal(err)
	}
	slave, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { slave.Close() })
	return master, slave
}

// TestProgressDrawsBarOnlyOnTerminal: a terminal gets the bar, redrawn in
// place; a buffer and a pipe get plain lines.
func TestProgressDrawsBarOnlyOnTerminal(t *testing.T) {
	wl := benchkit.Workload{Protocol: "echo", Size: 64, Conns: 8}
	drive := func(w io.Writer) {
		update, done := progress(w)
		update(0, 2, wl, "floor")
		update(1, 2, wl, "epoll")
		update(2, 2, benchkit.Workload{}, "")
		done()
	}

	var buf bytes.Buffer
	drive(&buf)
	if want := "edgeloop bench: cell 1/2: echo/size=64/conns=8 floor\nedgeloop bench: cell 2/2: echo/size=64/conns=8 epoll\n"; buf.String() != want {
		t.Errorf("to a buffer: %q, want %q", buf.String(), want)
	}

	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	drive(w)
	w.Close()
	piped, _ := io.ReadAll(r)
	if bytes.ContainsRune(piped, '\r') || !bytes.Contains(piped, []byte("cell 2/2")) {
		t.Errorf("to a pipe: %q, want plain lines", piped)
	}

	master, slave := openPTY(t)
	got := make(chan []byte, 1)
	go func() {
		var b []byte
		buf := make([]byte, 4096)
		for { // until EIO: every slave fd closed and all read
			n, err := master.Read(buf)
			b = append(b, buf[:n]...)
			if err != nil {
				break
			}
		}
		got <- b
	}()
	drive(slave)
	slave.Close()
	select {
	case b := <-got:
		s := string(b)
		if strings.Contains(s, "cell 1/2") || !strings.Contains(s, "\r") || !strings.Contains(s, "(1/2)") {
			t.Errorf("to a terminal: %q, want a bar redrawn with \\r", s)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("reading the terminal's output did not end within 10s")
	}
}
