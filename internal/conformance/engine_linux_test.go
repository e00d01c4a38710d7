//go:build linux

package conformance

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgeloop/edgeloop/backend"
	"github.com/edgeloop/edgeloop/protocols/echo"
	"github.com/edgeloop/edgeloop/reactor"
	"golang.org/x/sys/unix"
)

// emfileChildEnv names the backend a child process of TestEngineDeath
// serves on; the child is the test binary itself.
const emfileChildEnv = "EDGELOOP_CONFORMANCE_EMFILE_CHILD"

// emfileHeadroom is how many descriptors the child may open beyond those it
// has once it listens.
const emfileHeadroom = 16

// TestEngineDeath: a server that runs out of descriptors either survives
// (accept fails, live connections stay, and it serves again once
// descriptors are free) or stops, and then Done closes and Err says why. It
// must never stop serving with Done open: gnet's engine shuts itself down
// on an accept error such as EMFILE, closing every connection, and Done
// used to stay open, so `edgeloop serve` went on running with nothing
// listening.
//
// The server runs in a child process (this test binary again) whose
// RLIMIT_NOFILE it lowers to what it has plus emfileHeadroom; this process
// floods it with 3*emfileHeadroom loopback connections, closes them, and
// then asks for an echo on a new one.
func TestEngineDeath(t *testing.T) {
	if name := os.Getenv(emfileChildEnv); name != "" {
		emfileChild(t, name)
		return
	}
	ForEachBackend(t, EngineDeath, func(t *testing.T, backend string) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestEngineDeath$", "-test.count=1")
		cmd.Env = append(os.Environ(), emfileChildEnv+"="+backend)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		lines := make(chan string, 16)
		go func() {
			s := bufio.NewScanner(stdout)
			for s.Scan() {
				if line, ok := strings.CutPrefix(s.Text(), "emfile-child: "); ok {
					lines <- line
				}
			}
			close(lines)
			exited <- cmd.Wait()
		}()
		defer func() {
			stdin.Close() // the child shuts down and exits
			select {
			case err := <-exited:
				if err != nil {
					t.Errorf("child: %v", err)
				}
				if t.Failed() {
					t.Logf("the child's stderr:\n%s", stderr.String())
				}
			case <-time.After(20 * time.Second):
				t.Errorf("the child had not exited 20s after it was told to; killing it")
				cmd.Process.Kill()
			}
		}()
		next := func(what string, within time.Duration) (string, bool) {
			select {
			case line, ok := <-lines:
				return line, ok
			case <-time.After(within):
				return "", false
			}
		}

		line, ok := next("its address", 30*time.Second)
		var addr string
		var limit int
		if _, err := fmt.Sscanf(line, "addr=%s limit=%d", &addr, &limit); !ok || err != nil {
			t.Fatalf("the child did not say where it listens (%q, %v)", line, err)
		}

		// Flood: hold connections open until the child's table is full.
		var flood []net.Conn
		defer func() {
			for _, c := range flood {
				c.Close()
			}
		}()
		for range 3 * emfileHeadroom {
			if c, err := net.DialTimeout("tcp", addr, 2*time.Second); err == nil {
				flood = append(flood, c)
			}
		}
		fdDir := fmt.Sprintf("/proc/%d/fd", cmd.Process.Pid)
		died := ""
		full := Poll(10*time.Second, func() bool {
			select {
			case line := <-lines:
				died = line
				return true
			default:
			}
			ents, err := os.ReadDir(fdDir)
			return err == nil && len(ents) >= limit
		})
		full = full && died == ""
		t.Logf("%d flood connections; the child's table full: %v; %q", len(flood), full, died)
		for _, c := range flood {
			c.Close()
		}
		flood = nil

		serveErr := func() error {
			c, err := net.DialTimeout("tcp", addr, 2*time.Second)
			if err != nil {
				return err
			}
			defer c.Close()
			return Exchange(c, []byte("after the flood"), nil, time.Now().Add(5*time.Second))
		}()
		if serveErr == nil {
			switch {
			case died != "":
				t.Errorf("it serves, yet the child reported %q", died)
			case !full:
				t.Errorf("the child's descriptors never reached its limit of %d: the test proved nothing", limit)
			default:
				t.Logf("survived running out of descriptors, and serves again")
			}
			return
		}
		if died == "" {
			died, _ = next("Done", 5*time.Second)
		}
		switch {
		case died == "":
			t.Errorf("it stopped serving new connections (%v), but Done had not closed 5s later: "+
				"a Loop that serves nothing and looks alive", serveErr)
		case !strings.HasPrefix(died, "done err=") || !strings.Contains(died, unix.EMFILE.Error()):
			t.Errorf("it stopped serving (%v) and the child reported %q: Err must say why (%v)", serveErr, died, unix.EMFILE)
		default:
			t.Logf("stopped when out of descriptors, and said why: %s", died)
		}
	})
}

// emfileChild is the child's side of TestEngineDeath: serve echo on
// backend with the descriptor limit lowered, report the address, report
// Done if it closes, and shut down when stdin closes.
func emfileChild(t *testing.T, name string) {
	l, err := backend.New(name, reactor.WithLoops(1))
	if err != nil {
		t.Fatal(err)
	}
	a, err := l.Listen("tcp", "127.0.0.1:0", echo.New)
	if err != nil {
		t.Fatal(err)
	}
	n, err := CountFDs()
	if err != nil {
		t.Fatal(err)
	}
	var old unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	limit := n + emfileHeadroom
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: uint64(limit), Max: old.Max}); err != nil {
		t.Fatal(err)
	}
	fmt.Printf("emfile-child: addr=%s limit=%s\n", a, strconv.Itoa(limit))
	stop := make(chan struct{})
	go func() {
		io.Copy(io.Discard, os.Stdin)
		close(stop)
	}()
	select {
	case <-l.Done():
		fmt.Printf("emfile-child: done err=%v\n", l.Err())
		<-stop
	case <-stop:
	}
	unix.Setrlimit(unix.RLIMIT_NOFILE, &old)
	ctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
	if err := l.Shutdown(ctx); err != nil && !errors.Is(err, reactor.ErrClosed) {
		t.Errorf("child: Shutdown: %v", err)
	}
}
