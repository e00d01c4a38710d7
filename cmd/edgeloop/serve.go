package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
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

func serve(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addrs := make(map[string]*string, len(services))
	for _, s := range services {
		addrs[s.name] = fs.String(s.name, s.addr, fmt.Sprintf("serve %s on `ADDR`; \"\" disables it", s.help))
	}
	backendName := fs.String("backend", "", "backend `NAME`: one of "+strings.Join(backend.Names(), ", ")+" (default: the OS's edge-triggered poller)")
	loops := fs.Int("loops", runtime.NumCPU(), "number of event loops")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: edgeloop serve [flags]\n\n"+
			"Runs the services. With no service flag, every service runs on its default\n"+
			"address; with one or more, only those run. SIGINT or SIGTERM shuts down\n"+
			"gracefully: stop accepting, flush queued output, close, exit 0.\n\nFlags:\n")
		printFlags(fs)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "edgeloop serve: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	named := map[string]bool{}
	fs.Visit(func(f *flag.Flag) {
		if _, ok := addrs[f.Name]; ok {
			named[f.Name] = true
		}
	})
	log := slog.New(slog.NewTextHandler(stderr, nil))

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	l, err := backend.New(*backendName, reactor.WithLoops(*loops), reactor.WithLogger(log))
	if err != nil {
		log.Error("start", "err", err)
		return 1
	}
	started := 0
	for _, s := range services {
		addr := *addrs[s.name]
		if (len(named) > 0 && !named[s.name]) || addr == "" {
			continue
		}
		a, err := l.Listen("tcp", addr, s.factory)
		if err != nil {
			log.Error("listen", "service", s.name, "err", err)
			l.Shutdown(context.Background())
			return 1
		}
		fmt.Fprintf(stdout, "listening %s tcp %s\n", s.name, a)
		started++
	}
	if started == 0 {
		log.Error("no service to run")
		l.Shutdown(context.Background())
		return 2
	}
	name := *backendName
	if name == "" {
		name = backend.Default()
	}
	log.Info("serving", "backend", name, "loops", *loops)

	select {
	case <-ctx.Done():
	case <-l.Done():
		log.Error("loops stopped unexpectedly", "err", l.Err())
		return 1
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := l.Shutdown(sctx); err != nil {
		log.Warn("shutdown cut short", "err", err)
	}
	log.Info("stopped")
	return 0
}
