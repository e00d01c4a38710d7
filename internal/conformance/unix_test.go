package conformance

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	backendpkg "github.com/edgeloop/edgeloop/backend"
	"github.com/edgeloop/edgeloop/internal/unixsock"
	"github.com/edgeloop/edgeloop/protocols/echo"
	"github.com/edgeloop/edgeloop/reactor"
)

// echoOnce has msg echoed over a new connection to addr.
func echoOnce(t *testing.T, addr string, msg string) error {
	t.Helper()
	c, err := DialStream(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	return Exchange(c, []byte(msg), nil, time.Now().Add(10*time.Second))
}

// staleSocket leaves a socket file at path that nobody listens on, as a
// server that died does.
func staleSocket(t *testing.T, path string) {
	t.Helper()
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
}

// TestUnixPath: what Listen("unix") does with what it finds at the path,
// on every backend. A stale socket file (nobody listens) is replaced and
// served. A live server's socket, a regular file and a directory are
// refused with EADDRINUSE and left as they were, and the error names the
// path; a path too long for sun_path is refused, not truncated.
func TestUnixPath(t *testing.T) {
	ForEachBackend(t, UnixPath, func(t *testing.T, backend string) {
		for _, tc := range []struct {
			name    string
			prepare func(t *testing.T, path string) (check func(t *testing.T))
			wantErr error // nil: Listen must work and serve
		}{
			{"missing", func(*testing.T, string) func(*testing.T) { return nil }, nil},
			{"stale-socket", func(t *testing.T, path string) func(*testing.T) {
				staleSocket(t, path)
				return nil
			}, nil},
			{"live-socket", func(t *testing.T, path string) func(*testing.T) {
				ln, err := net.Listen("unix", path)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { ln.Close() })
				go func() {
					for {
						c, err := ln.Accept()
						if err != nil {
							return
						}
						c.Write([]byte("first"))
						c.Close()
					}
				}()
				return func(t *testing.T) {
					c := Connect(t, "unix://"+path)
					c.SetDeadline(time.Now().Add(10 * time.Second))
					if err := ReadToEOF(c, []byte("first")); err != nil {
						t.Errorf("the live server after the refused Listen: %v", err)
					}
				}
			}, syscall.EADDRINUSE},
			{"regular-file", func(t *testing.T, path string) func(*testing.T) {
				if err := os.WriteFile(path, []byte("keep me"), 0o600); err != nil {
					t.Fatal(err)
				}
				return func(t *testing.T) {
					if b, err := os.ReadFile(path); err != nil || string(b) != "keep me" {
						t.Errorf("the regular file after the refused Listen: %q, %v", b, err)
					}
				}
			}, syscall.EADDRINUSE},
			{"directory", func(t *testing.T, path string) func(*testing.T) {
				if err := os.Mkdir(path, 0o700); err != nil {
					t.Fatal(err)
				}
				return func(t *testing.T) {
					if fi, err := os.Stat(path); err != nil || !fi.IsDir() {
						t.Errorf("the directory after the refused Listen: %v, %v", fi, err)
					}
				}
			}, syscall.EADDRINUSE},
			{"too-long", func(t *testing.T, path string) func(*testing.T) { return nil }, unixsock.ErrPathTooLong},
		} {
			t.Run(tc.name, func(t *testing.T) {
				path := SocketPath(t)
				if tc.name == "too-long" {
					path = filepath.Join(filepath.Dir(path), strings.Repeat("x", 120))
				}
				check := tc.prepare(t, path)
				l := NewLoop(t, backend, 1)
				a, err := l.Listen("unix", path, echo.New)
				switch {
				case tc.wantErr == nil && err != nil:
					t.Fatalf("Listen: %v", err)
				case tc.wantErr == nil:
					if err := echoOnce(t, "unix://"+path, "hello"); err != nil {
						t.Errorf("echo: %v", err)
					}
				case !errors.Is(err, tc.wantErr):
					t.Fatalf("Listen = %v, %v; want %v", a, err, tc.wantErr)
				case !strings.Contains(err.Error(), filepath.Base(path)):
					t.Errorf("Listen error %q does not name the path", err)
				default:
					t.Logf("Listen: %v", err)
				}
				if _, err := os.Lstat(path); tc.name == "too-long" && err == nil {
					t.Errorf("a file appeared at the too-long path")
				}
				if check != nil {
					check(t)
				}
			})
		}
	})
}

// TestUnixRemove: Shutdown removes the socket file it bound, on every
// backend; and a server whose path was taken over by a successor (the
// file removed and bound anew) leaves the successor's file alone at its
// Shutdown, so the successor goes on serving.
func TestUnixRemove(t *testing.T) {
	ForEachBackend(t, UnixRemove, func(t *testing.T, backend string) {
		shutdown := func(t *testing.T, l *reactor.Loop) {
			t.Helper()
			ctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
			defer cancel()
			if err := l.Shutdown(ctx); err != nil {
				t.Fatalf("Shutdown: %v", err)
			}
		}
		t.Run("at-shutdown", func(t *testing.T) {
			l, addr := StartOn(t, backend, Unix, 2, echo.New)
			_, path := Split(addr)
			if err := echoOnce(t, addr, "hello"); err != nil {
				t.Fatal(err)
			}
			shutdown(t, l)
			if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("after Shutdown, Lstat(%s) = %v; want the file gone", path, err)
			}
			entries, _ := os.ReadDir(filepath.Dir(path))
			if len(entries) != 0 {
				t.Errorf("left in the socket's directory: %v", entries)
			}
		})
		t.Run("successor-kept", func(t *testing.T) {
			old, addr := StartOn(t, backend, Unix, 1, echo.New)
			_, path := Split(addr)
			if err := os.Remove(path); err != nil { // as an operator making way
				t.Fatal(err)
			}
			successor := NewLoop(t, backend, 1)
			if _, err := successor.Listen("unix", path, echo.New); err != nil {
				t.Fatalf("successor's Listen: %v", err)
			}
			shutdown(t, old)
			if _, err := os.Lstat(path); err != nil {
				t.Fatalf("the old server's Shutdown removed its successor's socket: %v", err)
			}
			if err := echoOnce(t, addr, "successor"); err != nil {
				t.Errorf("the successor after the old server's Shutdown: %v", err)
			}
		})
	})
}

// TestUnixSpread: with several loops a Unix listener, which has no
// SO_REUSEPORT group, hands its connections to more than one loop, under
// every Balance (the default, BalanceReusePort, means round robin here);
// Listen itself must not trip over its own socket file (a bind probe, or a
// socket per loop, would). Engines spread in their own way: they only
// have to listen and serve with several loops.
func TestUnixSpread(t *testing.T) {
	const loops, maxConns = 4, 64
	ForEachBackend(t, UnixSpread, func(t *testing.T, backend string) {
		balances := []reactor.Balance{reactor.BalanceReusePort, reactor.BalanceRoundRobin, reactor.BalanceLeastConns}
		native := slices.Contains(backendpkg.Pollers(), backend)
		if !native {
			balances = balances[:1]
		}
		for _, b := range balances {
			t.Run(fmt.Sprintf("balance=%v", b), func(t *testing.T) {
				goroutines := make(chan uint64, maxConns)
				l := NewLoop(t, backend, loops, reactor.WithBalance(b))
				addr := ListenOn(t, l, Unix, func(c reactor.Conn) reactor.Handler {
					goroutines <- goid()
					return echo.New(c)
				})
				seen := map[uint64]int{}
				// Connections stay open, so that least-conns has counts to
				// go by.
				for i := 0; i < maxConns && len(seen) < 2; i++ {
					c := Connect(t, addr)
					if err := Exchange(c, []byte("x"), nil, time.Now().Add(10*time.Second)); err != nil {
						t.Fatalf("conn %d: %v", i, err)
					}
					seen[<-goroutines]++
				}
				if native && len(seen) < 2 {
					t.Fatalf("%d connections all served on one loop: no hand-off", maxConns)
				}
				t.Logf("connections per loop goroutine: %v", seen)
			})
		}
	})
}

// TestUnixAddr: on every backend a Unix connection's LocalAddr is a
// *net.UnixAddr of the listener's path and its RemoteAddr a non-nil
// *net.UnixAddr with Name "" (the client is unnamed), never a nil pointer
// in a non-nil interface; String names the connection.
func TestUnixAddr(t *testing.T) {
	ForEachBackend(t, UnixAddr, func(t *testing.T, backend string) {
		type addrs struct{ local, remote net.Addr }
		got := make(chan addrs, 1)
		l := NewLoop(t, backend, 1)
		addr := ListenOn(t, l, Unix, func(c reactor.Conn) reactor.Handler {
			got <- addrs{c.LocalAddr(), c.RemoteAddr()}
			return echo.New(c)
		})
		_, path := Split(addr)
		if err := echoOnce(t, addr, "x"); err != nil {
			t.Fatal(err)
		}
		a := <-got
		check := func(what string, a net.Addr, want string) {
			ua, ok := a.(*net.UnixAddr)
			switch {
			case !ok:
				t.Errorf("%s = %#v (%T), want a *net.UnixAddr", what, a, a)
			case ua == nil:
				t.Errorf("%s is a nil *net.UnixAddr in a non-nil net.Addr", what)
			case ua.Name != want || ua.Net != "unix":
				t.Errorf("%s = %+v, want Name %q, Net unix", what, *ua, want)
			}
		}
		check("LocalAddr", a.local, path)
		check("RemoteAddr", a.remote, "")
	})
}

// TestUnixAbstract: on Linux a name starting with '@' is an abstract
// socket: it is served, Listen returns it, and no file appears. Backends
// that cannot do it are in Limits.
func TestUnixAbstract(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("abstract Unix socket names are Linux's")
	}
	ForEachBackend(t, UnixAbstract, func(t *testing.T, backend string) {
		name := fmt.Sprintf("@edgeloop-test-%d-%d", os.Getpid(), time.Now().UnixNano())
		l := NewLoop(t, backend, 1)
		a, err := l.Listen("unix", "unix://"+name, echo.New)
		if err != nil {
			t.Fatalf("Listen: %v", err)
		}
		if ua, ok := a.(*net.UnixAddr); !ok || ua.Name != name {
			t.Errorf("Listen returned %#v, want a *net.UnixAddr %q", a, name)
		}
		if err := echoOnce(t, "unix://"+name, "abstract"); err != nil {
			t.Errorf("echo: %v", err)
		}
		if _, err := os.Lstat(name); err == nil {
			t.Errorf("a file %q appeared in the working directory", name)
		}
		if _, err := NewLoop(t, backend, 1).Listen("unix", name, echo.New); !errors.Is(err, syscall.EADDRINUSE) {
			t.Errorf("second Listen on %s: %v, want EADDRINUSE", name, err)
		}
	})
}

// TestUnixDialForms: Loop.Dial takes a Unix socket as a plain path and as
// "unix:///path" alike. Backends that cannot dial are in Limits.
func TestUnixDialForms(t *testing.T) {
	ForEachBackend(t, DialOut, func(t *testing.T, backend string) {
		l := NewLoop(t, backend, 1)
		addr := ListenOn(t, l, Unix, echo.New)
		_, path := Split(addr)
		for _, form := range []string{path, addr} {
			t.Run(fmt.Sprintf("addr=%q", form[:min(len(form), 8)]), func(t *testing.T) {
				msg := bytes.Repeat([]byte(form), 1000)
				d := newDialClient(msg)
				if err := l.Dial("unix", form, d.factory); err != nil {
					t.Fatalf("Dial(unix, %s): %v", form, err)
				}
				select {
				case err := <-d.done:
					if err != nil {
						t.Errorf("dialled echo: %v", err)
					}
				case <-time.After(10 * time.Second):
					t.Fatal("the dialled echo did not finish")
				}
			})
		}
	})
}

// TestShutdownUnixUnreadEcho is TestShutdownKeepsKernelSendQueue's Unix
// analogue. Ten clients send 24 KiB each to echo and read nothing, so the
// echoes wait in their receive queues and the handlers hold nothing.
// Shutdown begins, and each client sends one more byte, then reads: it
// must get all 24 KiB (and the extra byte, if it beat the drain) and a
// clean EOF. A Unix socket closed with input it
// has not read makes its peer's read fail with ECONNRESET once the queued
// data is read (unix_release_sock), so the server must discard that byte
// before it closes, as it does for TCP.
func TestShutdownUnixUnreadEcho(t *testing.T) {
	const (
		clients = 10
		size    = 24 << 10
	)
	ForEachBackend(t, UnixUnreadEcho, func(t *testing.T, backend string) {
		p := &probe{}
		l, addr := StartOn(t, backend, Unix, 1, p.testEcho(1<<20, -1))
		s := seed(t)
		conns := make([]Conn, clients)
		payloads := make([][]byte, clients)
		for i := range conns {
			conns[i] = Connect(t, addr)
			payloads[i] = Payload(s+uint64(i), size)
			conns[i].SetDeadline(time.Now().Add(30 * time.Second))
			if _, err := conns[i].Write(payloads[i]); err != nil {
				t.Fatalf("client %d: write: %v", i, err)
			}
		}
		WaitFor(t, 10*time.Second, fmt.Sprintf("the handlers to read all %d bytes and hand all of it to the kernel", clients*size), func() bool {
			return p.read.Load() == clients*size && p.held.Load() == 0
		})

		ctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
		defer cancel()
		serr := make(chan error, 1)
		go func() { serr <- l.Shutdown(ctx) }()

		errs := make([]error, clients)
		var wg sync.WaitGroup
		for i, c := range conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// EPIPE is fine: the server may have closed already.
				if _, err := c.Write([]byte{'+'}); err != nil && !errors.Is(err, syscall.EPIPE) {
					errs[i] = fmt.Errorf("the extra byte: %w", err)
					return
				}
				c.SetReadDeadline(time.Now().Add(ShutdownTimeout + 5*time.Second))
				got, err := io.ReadAll(c)
				// The byte is echoed too if it came before the drain did.
				switch {
				case err != nil:
					errs[i] = fmt.Errorf("after %d bytes: %w", len(got), err)
				case !bytes.Equal(got, payloads[i]) && !bytes.Equal(got, append(payloads[i], '+')):
					errs[i] = fmt.Errorf("got %d bytes before EOF, want the %d sent (and perhaps the extra one)", len(got), size)
				}
				c.Close() // the server may wait for this FIN
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				hint := ""
				if errors.Is(err, syscall.ECONNRESET) {
					hint = " (the server closed with the extra byte unread)"
				}
				t.Errorf("client %d: %v%s", i, err, hint)
			}
		}
		select {
		case err := <-serr:
			if err != nil {
				t.Errorf("Shutdown: %v", err)
			}
		case <-time.After(ShutdownTimeout + 5*time.Second):
			t.Fatalf("Shutdown had not returned %v after its ctx ended", 5*time.Second)
		}
	})
}
