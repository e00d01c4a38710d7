package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"github.com/edgeloop/edgeloop/internal/unixsock"
	"github.com/edgeloop/edgeloop/reactor"
)

// A zero-downtime restart (SIGHUP) hands every listening socket to a new
// process of the same binary and arguments:
//
//  1. The old process lists its sockets (reactor.Loop.ListenerFiles: each
//     loop's SO_REUSEPORT socket, Unix and UDP sockets too) and starts
//     the new one with them as ExtraFiles (fds 3, 4, ...), described by
//     restartEnv, plus the write end of a readiness pipe, named by readyEnv.
//  2. The new process adopts the sockets instead of binding (it neither
//     probes nor removes nor recreates a Unix socket's file), starts
//     serving, and writes a byte to the pipe.
//  3. The old process then stops accepting (the sockets, and what waits in
//     their backlogs, live on in the new one), waits for its open
//     connections to finish, at most --drain-timeout, shuts down and exits
//     with status 0. If the new process exits or is not ready within
//     readyTimeout, the old one kills it if need be, logs why, and keeps
//     serving.
//
// The new process unsets both variables at start, so that no process it
// starts takes the descriptors for its own.
const (
	restartEnv = "EDGELOOP_INHERIT"  // JSON: []inheritedSocket, in fd order from 3
	readyEnv   = "EDGELOOP_READY_FD" // the readiness pipe's fd
)

// readyTimeout bounds how long the old process waits for its replacement.
const readyTimeout = 30 * time.Second

// defaultDrainTimeout is --drain-timeout's default.
const defaultDrainTimeout = 30 * time.Second

// inheritedSocket describes one socket passed to a new process.
type inheritedSocket struct {
	Service string `json:"service"`
	Network string `json:"network"` // "tcp", "unix" or "udp"
	Addr    string `json:"addr"`
	// Keep says a Unix socket's file is not serve's to remove: systemd
	// made it, for the first process of the chain.
	Keep bool `json:"keep,omitempty"`
}

// inherited is a socket this process was given, and its service.
type inherited struct {
	inheritedSocket
	file *os.File
}

// inheritance is what this process was given at start: sockets (by a
// predecessor's restart or by systemd) and, from a predecessor, the pipe
// to signal readiness on.
type inheritance struct {
	sockets []inherited
	ready   *os.File
	from    string // "restart" or "systemd", for the log
}

// takeInheritance reads and unsets the variables that pass sockets to this
// process: a predecessor's (restartEnv) or systemd's (LISTEN_FDS). named
// are the services named by flags, which systemd's unnamed sockets go to.
func takeInheritance(named []string) (*inheritance, error) {
	if os.Getenv(restartEnv) != "" {
		for _, v := range []string{listenPID, listenFDs, listenFDNames} {
			os.Unsetenv(v) // a predecessor's sockets take their place
		}
		return takeRestart()
	}
	socks, err := takeSystemd(named)
	if err != nil || socks == nil {
		return nil, err
	}
	return &inheritance{sockets: socks, from: "systemd"}, nil
}

// takeRestart reads a predecessor's description of the sockets it passed.
func takeRestart() (*inheritance, error) {
	desc, ready := os.Getenv(restartEnv), os.Getenv(readyEnv)
	os.Unsetenv(restartEnv)
	os.Unsetenv(readyEnv)
	var socks []inheritedSocket
	if err := json.Unmarshal([]byte(desc), &socks); err != nil {
		return nil, fmt.Errorf("%s: %v", restartEnv, err)
	}
	in := &inheritance{from: "restart"}
	for i, s := range socks {
		fd := 3 + i
		syscall.CloseOnExec(fd)
		in.sockets = append(in.sockets, inherited{s, os.NewFile(uintptr(fd), s.Network+":"+s.Addr)})
	}
	if fd, err := strconv.Atoi(ready); err == nil && fd >= 3 {
		syscall.CloseOnExec(fd)
		in.ready = os.NewFile(uintptr(fd), "ready")
	}
	return in, nil
}

// services returns the names of the services that were given sockets.
func (in *inheritance) services() []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range in.sockets {
		if !seen[s.Service] {
			seen[s.Service] = true
			out = append(out, s.Service)
		}
	}
	return out
}

// listenAll starts every listening of run: a service that was given
// sockets (in may be nil) serves on those, adopted, and binds none of its
// addresses; the others bind theirs. It records each socket's service in
// rs.names for a later restart. A socket for a service not in run is an
// error.
//
// A Unix socket's file adopted from a predecessor is this process's to
// remove when it stops (rs.removeFiles), unless it hands the socket on in
// turn; one from systemd is systemd's, left alone.
func (rs *restarter) listenAll(l *reactor.Loop, run []listening, in *inheritance, stdout io.Writer) error {
	names, log := rs.names, rs.log
	given := map[string]bool{}
	if in != nil {
		for _, s := range in.sockets {
			given[s.Service] = true
		}
	}
	adopted := map[string]bool{}
	for _, r := range run {
		r.names = names
		if !given[r.name] {
			if err := r.listen(l, stdout, log); err != nil {
				return fmt.Errorf("%s: %w", r.name, err)
			}
			continue
		}
		if adopted[r.name] {
			continue
		}
		adopted[r.name] = true
		printed := map[string]bool{}
		for _, s := range in.sockets {
			if s.Service != r.name {
				continue
			}
			var a net.Addr
			var err error
			switch {
			case s.Network == "udp" && r.packet != nil:
				a, err = l.ListenPacketFile(s.file, r.packet)
			case s.Network != "udp" && r.factory != nil:
				a, err = l.ListenFile(s.file, r.factory)
			default:
				err = fmt.Errorf("%s has no %s service for an inherited socket", r.name, s.Network)
			}
			s.file.Close() // adopted as a duplicate, or refused
			if err != nil {
				return fmt.Errorf("%s: inherited %s socket %s: %w", r.name, s.Network, s.Addr, err)
			}
			names.add(s.Network, a.String(), r.name)
			if s.Network == "unix" {
				if in.from == "systemd" || s.Keep {
					rs.keep[a.String()] = true
				} else if f, err := unixsock.Bound(a.String()); err == nil {
					rs.files = append(rs.files, f)
				}
			}
			if !printed[s.Network+" "+a.String()] {
				printed[s.Network+" "+a.String()] = true
				fmt.Fprintf(stdout, "listening %s %s %s\n", r.name, s.Network, a)
			}
		}
	}
	if in != nil {
		for _, s := range in.sockets {
			if !adopted[s.Service] {
				s.file.Close()
				return fmt.Errorf("a socket was passed (%s) for %q, which is not running", in.from, s.Service)
			}
		}
	}
	return nil
}

// socketNames maps "NETWORK ADDR" of each socket serve listens on to its
// service, so that a restart can say which service each socket is.
type socketNames map[string]string

func (n socketNames) add(network, addr, service string) {
	if n != nil {
		n[network+" "+addr] = service
	}
}

// signalReady tells the predecessor, if any, that this process serves.
func (in *inheritance) signalReady() {
	if in == nil || in.ready == nil {
		return
	}
	in.ready.Write([]byte{1})
	in.ready.Close()
	in.ready = nil
}

// restarter runs a SIGHUP restart of serve.
type restarter struct {
	names      socketNames
	drain      time.Duration
	log        *slog.Logger
	files      []*unixsock.File // adopted Unix sockets' files, removed at exit
	keep       map[string]bool  // paths of Unix sockets systemd made, never removed
	handedOver bool
}

// removeFiles removes the files of the Unix sockets adopted from a
// predecessor, as Shutdown removes those this process bound; not after a
// hand-over, when the successor serves them.
func (rs *restarter) removeFiles() {
	for _, f := range rs.files {
		if rs.handedOver {
			f.Forget()
		} else if err := f.Remove(); err != nil {
			rs.log.Error("socket file not removed", "err", err)
		}
	}
}

// restart starts a replacement with every socket of l and waits until it
// is ready. It reports whether it is: then this process must stop
// accepting and drain. Otherwise it has logged why, and l serves on. A
// SIGINT or SIGTERM meanwhile kills the replacement and is returned, for
// serve to shut down; a SIGHUP is ignored (a restart is under way).
func (rs *restarter) restart(l *reactor.Loop, sigs <-chan os.Signal) (bool, os.Signal) {
	log := rs.log
	files, err := l.ListenerFiles()
	if err != nil {
		log.Error("restart: cannot hand over the listening sockets; serving on", "err", err)
		return false, nil
	}
	defer func() {
		for _, f := range files {
			f.File.Close() // the replacement has its own copies
		}
	}()
	desc := make([]inheritedSocket, 0, len(files))
	extra := make([]*os.File, 0, len(files)+1)
	for _, f := range files {
		svc, ok := rs.names[f.Network+" "+f.Addr]
		if !ok {
			log.Error("restart: a listening socket of no known service; serving on", "network", f.Network, "addr", f.Addr)
			return false, nil
		}
		desc = append(desc, inheritedSocket{Service: svc, Network: f.Network, Addr: f.Addr, Keep: f.Network == "unix" && rs.keep[f.Addr]})
		extra = append(extra, f.File)
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		log.Error("restart: readiness pipe; serving on", "err", err)
		return false, nil
	}
	defer pr.Close()
	extra = append(extra, pw)
	js, _ := json.Marshal(desc)
	exe, err := os.Executable()
	if err != nil {
		pw.Close()
		log.Error("restart: cannot find this program's binary; serving on", "err", err)
		return false, nil
	}
	cmd := exec.Command(exe, os.Args[1:]...)
	cmd.Env = append(os.Environ(), restartEnv+"="+string(js), readyEnv+"="+strconv.Itoa(3+len(files)))
	cmd.ExtraFiles = extra
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		pw.Close()
		log.Error("restart: cannot start the replacement; serving on", "err", err)
		return false, nil
	}
	pw.Close() // the child's copy is what it writes to; EOF means it died
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	ready := make(chan error, 1)
	go func() {
		var b [1]byte
		_, err := pr.Read(b[:])
		ready <- err
	}()
	log.Info("restart: replacement started", "pid", cmd.Process.Pid, "sockets", len(files))
	timer := time.NewTimer(readyTimeout)
	defer timer.Stop()
	for {
		select {
		case err := <-ready:
			if err == nil {
				log.Info("restart: replacement ready", "pid", cmd.Process.Pid)
				return true, nil
			}
			err = <-exited // EOF: the child closed the pipe, exiting
			log.Error("restart: the replacement exited before it was ready; serving on", "pid", cmd.Process.Pid, "err", exitReason(err))
			return false, nil
		case <-timer.C:
			cmd.Process.Kill()
			<-exited
			log.Error("restart: the replacement was not ready in time and was killed; serving on", "pid", cmd.Process.Pid, "bound", readyTimeout)
			return false, nil
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				log.Info("restart: already under way; SIGHUP ignored")
				continue
			}
			cmd.Process.Kill()
			<-exited
			log.Info("restart: abandoned; the replacement was killed", "signal", sig.String(), "pid", cmd.Process.Pid)
			return false, sig
		}
	}
}

// exitReason describes how a process ended.
func exitReason(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

// handOver stops accepting, lets the open connections finish, at most
// rs.drain, then shuts l down. A SIGINT or SIGTERM during the drain ends
// it early; a SIGHUP is ignored.
// It returns serve's exit status.
func (rs *restarter) handOver(l *reactor.Loop, sigs <-chan os.Signal, fail func(int, string, ...any) int) int {
	log := rs.log
	rs.handedOver = true
	if err := l.StopAccepting(); err != nil {
		log.Error("restart: stop accepting", "err", err) // shut down all the same: the replacement serves
	}
	log.Info("restart: handed over; draining", "conns", l.OpenConns(), "drain_timeout", rs.drain)
	drained := time.NewTimer(rs.drain)
	defer drained.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
wait:
	for l.OpenConns() > 0 {
		select {
		case <-tick.C:
		case <-drained.C:
			log.Info("restart: drain timeout; closing the connections left", "conns", l.OpenConns())
			break wait
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				log.Info("restart: handed over already; SIGHUP ignored (send it to the replacement)")
				continue
			}
			log.Info("restart: drain cut short", "signal", sig.String(), "conns", l.OpenConns())
			break wait
		case <-l.Done():
			break wait
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := l.Shutdown(ctx); err != nil {
		return fail(exitFailed, "shutdown after the hand-over cut short after %v, output may be lost: %v", shutdownGrace, err)
	}
	log.Info("stopped", "after", "restart")
	return exitOK
}
