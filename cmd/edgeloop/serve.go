package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/edgeloop/edgeloop/backend"

	"github.com/edgeloop/edgeloop/protocols/echo"
	"github.com/edgeloop/edgeloop/reactor"
)

// service is one protocol that serve can run.
type service struct {
	name    string
	addr    string // default address
	help    string
	factory reactor.Factory
}

// services lists what serve runs, in the order it starts them.
var services = []service{
	{name: "echo", addr: "127.0.0.1:7007", help: "RFC 862 echo over TCP", factory: echo.New},
}

// shutdownGrace bounds how long serve waits for handlers to flush on exit.
const shutdownGrace = 5 * time.Second

// maxLoops bounds --loops. Each loop is a goroutine with a poller and a
// listening socket per service; far more loops than CPUs only costs.
const maxLoops = 1024

// Exit statuses of edgeloop serve.
const (
	exitOK     = 0 // shut down gracefully
	exitFailed = 1 // serving failed: a listen error, the loops stopped, a shutdown cut short
	exitUsage  = 2 // a bad command line: nothing was started
	exitForced = 3 // a second signal cut the graceful shutdown short
)

func serve(args []string, stdout, stderr io.Writer) int {
	// Every error serve reports is one line, "edgeloop serve: ...", on
	// stderr, including the flag package's; the running server's log is
	// slog records.
	fail := func(code int, format string, a ...any) int {
		fmt.Fprintf(stderr, "edgeloop serve: "+format+"\n", a...)
		return code
	}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	addrs := make(map[string]*string, len(services))
	for _, s := range services {
		addrs[s.name] = fs.String(s.name, s.addr, fmt.Sprintf("serve %s on `ADDR` (HOST:PORT); \"\" disables it.\n"+
			"PORT 0 takes any free port; an empty HOST listens on all interfaces.\n"+
			"Refused (exit 2): no port, or a PORT outside 0-65535 that is no service name.", s.help))
	}
	backendName := fs.String("backend", "", "backend `NAME`: one of "+strings.Join(backend.Names(), ", ")+".\n"+
		"Default: the OS's edge-triggered poller. Refused (exit 2): any other name.")
	loops := fs.Int("loops", min(runtime.NumCPU(), maxLoops), fmt.Sprintf("`N` event loops, from 1 to %d; the default is the number of CPUs.\n"+
		"Refused (exit 2): anything else.", maxLoops))
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: edgeloop serve [flags]\n\n"+
			"Runs the services. With no service flag, every service runs on its default\n"+
			"address; with one or more, only those run. SIGINT or SIGTERM shuts down\n"+
			"gracefully: stop accepting, flush queued output, close, exit 0. The flush\n"+
			"is bounded by %v; a second SIGINT or SIGTERM during it exits at once.\n\n"+
			"Exit status: 0 after a graceful shutdown; 1 if serving failed (a listen\n"+
			"error, the loops stopped, a shutdown cut short by its bound); 2 for a bad\n"+
			"command line, when nothing is started; 3 if a second signal cut the\n"+
			"shutdown short.\n\nFlags:\n", shutdownGrace)
		printFlags(fs)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stdout)
			fs.Usage()
			return exitOK
		}
		return fail(exitUsage, "%v (see edgeloop serve --help)", err)
	}
	if fs.NArg() > 0 {
		return fail(exitUsage, "unexpected argument %q", fs.Arg(0))
	}
	if *loops < 1 || *loops > maxLoops {
		return fail(exitUsage, "--loops %d is out of range: give 1 to %d event loops", *loops, maxLoops)
	}
	if *backendName != "" && !contains(backend.Names(), *backendName) {
		return fail(exitUsage, "unknown backend %q: the backends are %s", *backendName, strings.Join(backend.Names(), ", "))
	}
	named := map[string]bool{}
	fs.Visit(func(f *flag.Flag) {
		if _, ok := addrs[f.Name]; ok {
			named[f.Name] = true
		}
	})
	var run []service
	for _, s := range services {
		addr := *addrs[s.name]
		if (len(named) > 0 && !named[s.name]) || addr == "" {
			continue
		}
		if err := checkAddr(addr); err != nil {
			return fail(exitUsage, "--%s %q: %v", s.name, addr, err)
		}
		s.addr = addr
		run = append(run, s)
	}
	if len(run) == 0 {
		return fail(exitUsage, "no service to run: every service is disabled")
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))

	// Signals are counted, not just noticed: the second one ends the shutdown.
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)

	l, err := backend.New(*backendName, reactor.WithLoops(*loops), reactor.WithLogger(log))
	if err != nil {
		return fail(exitFailed, "%v", err)
	}
	for _, s := range run {
		a, err := l.Listen("tcp", s.addr, s.factory)
		if err != nil {
			l.Shutdown(context.Background())
			return fail(exitFailed, "%s: %v", s.name, err)
		}
		fmt.Fprintf(stdout, "listening %s tcp %s\n", s.name, a)
	}
	name := *backendName
	if name == "" {
		name = backend.Default()
	}
	log.Info("serving", "backend", name, "loops", *loops)

	var sig os.Signal
	select {
	case sig = <-sigs:
	case <-l.Done():
		return fail(exitFailed, "the loops stopped unexpectedly: %v", l.Err())
	}
	log.Info("shutting down", "signal", sig.String(), "bound", shutdownGrace)
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	shut := make(chan error, 1)
	go func() { shut <- l.Shutdown(sctx) }()
	select {
	case err := <-shut:
		if err != nil {
			// Output may have been dropped: a supervisor must be able to
			// tell this from a clean stop.
			return fail(exitFailed, "shutdown cut short after %v, output may be lost: %v", shutdownGrace, err)
		}
	case sig := <-sigs:
		return fail(exitForced, "second signal (%v) during shutdown: exiting at once, without flushing", sig)
	}
	log.Info("stopped")
	return exitOK
}

// checkAddr refuses an address that no listen could accept: one without a
// port, or with a port that is neither 0-65535 nor a service name. Whether
// the host resolves, and the port is free, is for Listen to find out.
func checkAddr(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return errors.New("want HOST:PORT, for example 127.0.0.1:7007 or :7007")
	}
	if _, err := net.LookupPort("tcp", port); err != nil {
		return fmt.Errorf("port %q is neither 0-65535 nor a service name", port)
	}
	return nil
}
