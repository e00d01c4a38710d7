package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/edgeloop/edgeloop/backend"
	"github.com/edgeloop/edgeloop/internal/memreturn"

	"github.com/edgeloop/edgeloop/protocols/array"
	"github.com/edgeloop/edgeloop/protocols/echo"
	"github.com/edgeloop/edgeloop/protocols/qa"
	"github.com/edgeloop/edgeloop/protocols/timeproto"
	"github.com/edgeloop/edgeloop/reactor"
)

// service is one protocol that serve can run, over TCP (or a Unix socket),
// UDP or both; TCP and UDP share the port number.
type service struct {
	name    string
	addr    string // default address
	help    string
	factory reactor.Factory       // stream (TCP, Unix); nil if none
	packet  reactor.PacketFactory // UDP; nil if none
}

// timeServer is the time services' clock (the system's) and SNTP identity,
// set by flags.
var timeServer = &timeproto.Server{}

// arrayService is the NPY round-trip service; flags set its limits.
var arrayService = &array.Service{}

// lineEcho and questions are the framed services, made once their flags
// (--max-line, --max-question) are read.
var lineEcho, questions reactor.Factory

// services lists what serve runs, in the order it starts them.
var services = []service{
	{name: "echo", addr: "127.0.0.1:7007", help: "RFC 862 echo", factory: echo.New, packet: echo.NewPacket},
	{name: "lines", addr: "127.0.0.1:7008", help: "line echo (each line back once complete)", factory: func(c reactor.Conn) reactor.Handler { return lineEcho(c) }},
	{name: "daytime", addr: "127.0.0.1:7013", help: "RFC 867 daytime", factory: timeServer.Daytime, packet: timeServer.DaytimePacket},
	{name: "time", addr: "127.0.0.1:7037", help: "RFC 868 time", factory: timeServer.Time, packet: timeServer.TimePacket},
	{name: "sntp", addr: "127.0.0.1:7123", help: "SNTP (RFC 4330)", packet: timeServer.SNTPPacket},
	{name: "array", addr: "127.0.0.1:7070", help: "NPY array round trips (numpy's .npy format)", factory: arrayService.Factory},
	{name: "qa", addr: "127.0.0.1:7099", help: "questions and answers (\"Yoyo?\" gets \"Yoyo.\")", factory: func(c reactor.Conn) reactor.Handler { return questions(c) }},
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
		addrs[s.name] = fs.String(s.name, s.addr, fmt.Sprintf("serve %s on `ADDRS`: a comma-separated list of\n"+
			"%s; HOST:PORT serves %s. \"\" disables it.\n"+
			"PORT 0 takes any free port; an empty HOST listens on all interfaces.\n"+
			"Refused (exit 2): no port, a PORT outside 0-65535 that is no service name,\n"+
			"or a scheme the service has no transport for.", s.help, s.schemes(), s.transports()))
	}
	backendName := fs.String("backend", "", "backend `NAME`: one of "+strings.Join(backend.Names(), ", ")+".\n"+
		"Default: the OS's edge-triggered poller. Refused (exit 2): any other name.")
	idle := fs.Duration("idle-timeout", 0, "close a TCP connection after `D` (e.g. 30s) without a byte read or\n"+
		"written; 0, the default, never does. A peer that reads too slowly for a write\n"+
		"to move in D counts as idle too. Refused (exit 2): a negative D, or over 24 days.")
	dgramSize := fs.Int("datagram-size", 2048, "the largest UDP datagram, in `BYTES`, received whole; a larger one is\n"+
		"dropped and logged, never answered cut short (the gnet and net backends\n"+
		"receive up to 64 KiB whatever it says). 1 to 65507. Refused (exit 2): anything else.")
	stratum := fs.Uint("sntp-stratum", 1, "the `N` SNTP replies give as their stratum, 1 (a primary server)\n"+
		"to 15. Refused (exit 2): anything else.")
	refID := fs.String("sntp-refid", "", "the reference `ID` SNTP replies give: at stratum 1, up to 4 ASCII\n"+
		"characters naming the source (default LOCL); above, the IPv4 address of\n"+
		"the upstream server (RFC 4330 section 4), required. Refused (exit 2):\n"+
		"anything else.")
	maxArray := fs.Int64("max-array", array.DefaultMaxArray, "the largest array, in `BYTES` of data, one connection may send; a larger\n"+
		"header gets an error line. Default: 1 GiB, or --array-memory if smaller.\n"+
		"Refused (exit 2): below 1, or over --array-memory.")
	arrayMemory := fs.Int64("array-memory", 2*array.DefaultMaxArray, "`BYTES` of array data all connections together may hold; an array that\n"+
		"does not fit waits, unread, until memory is free. Refused (exit 2): below 1.")
	loops := fs.Int("loops", min(runtime.NumCPU(), maxLoops), fmt.Sprintf("`N` event loops, from 1 to %d; the default is the number of CPUs.\n"+
		"Refused (exit 2): anything else.", maxLoops))
	balanceName := fs.String("balance", reactor.BalanceReusePort.String(), "how connections are spread over the loops: `MODE` reuseport (a listening\n"+
		"socket per loop, the kernel spreads by address hash), round-robin or\n"+
		"least-conns (one listening socket; its loop hands connections to the\n"+
		"others in turn, or to the loop with the fewest). The gnet and net\n"+
		"backends ignore it. Refused (exit 2): any other mode.")
	maxLine := fs.Int("max-line", echo.DefaultMaxLine, "the longest line, in `BYTES` with its newline, the lines service takes;\n"+
		"a longer one gets an error line and its connection closes. 1 to 16 MiB.\n"+
		"Refused (exit 2): anything else.")
	maxQuestion := fs.Int("max-question", qa.DefaultMax, "the longest question, in `BYTES` with its '?', the qa service takes;\n"+
		"a longer one gets an error line and its connection closes. 1 to 16 MiB.\n"+
		"Refused (exit 2): anything else.")
	drainTimeout := fs.Duration("drain-timeout", defaultDrainTimeout, "on SIGHUP (a zero-downtime restart), how long the old process lets its\n"+
		"open connections finish, at most `D`, once its replacement serves; then\n"+
		"it closes them and exits 0. Refused (exit 2): a negative D.")
	lockThread := fs.Bool("lock-os-thread", false, "lock each event loop to an OS thread for its life. Off by default: a\n"+
		"loop parked in the runtime's poller then needs another thread to wake\n"+
		"it on its own, a futex wake-up per turn. The gnet and net backends\n"+
		"ignore it.")
	accessOpts := addAccessFlags(fs)
	authFlags := addAuthFlags(fs)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: edgeloop serve [flags]\n\n"+
			"Runs the services. With no service flag, every service runs on its default\n"+
			"address; with one or more, only those run. SIGINT or SIGTERM shuts down\n"+
			"gracefully: stop accepting, flush queued output, close, exit 0. The flush\n"+
			"is bounded by %v; a second SIGINT or SIGTERM during it exits at once.\n"+
			"SIGHUP restarts with no downtime: a new process of the same binary and\n"+
			"arguments takes over every listening socket, then this one drains its\n"+
			"connections (--drain-timeout) and exits 0; if the new one fails, this one\n"+
			"serves on. Under systemd socket activation (LISTEN_FDS, LISTEN_FDNAMES\n"+
			"naming services), serve uses the sockets passed instead of binding.\n\n"+
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
	balance, ok := parseBalance(*balanceName)
	if !ok {
		return fail(exitUsage, "unknown balance %q: give %s", *balanceName, strings.Join(balanceNames(), ", "))
	}
	if *idle < 0 || *idle > reactor.MaxIdleTimeout {
		return fail(exitUsage, "--idle-timeout %v is out of range: give 0 (never) or a duration such as 30s, at most 24 days", *idle)
	}
	if *drainTimeout < 0 {
		return fail(exitUsage, "--drain-timeout %v is out of range: give 0 (close at once) or a duration such as 30s", *drainTimeout)
	}
	if *dgramSize < 1 || *dgramSize > 65507 {
		return fail(exitUsage, "--datagram-size %d is out of range: give 1 to 65507 bytes", *dgramSize)
	}
	if *stratum < 1 || *stratum > 15 {
		return fail(exitUsage, "--sntp-stratum %d is out of range: give 1 to 15", *stratum)
	}
	if *arrayMemory < 1 {
		return fail(exitUsage, "--array-memory %d is out of range: give at least 1 byte", *arrayMemory)
	}
	maxArraySet := false
	fs.Visit(func(f *flag.Flag) { maxArraySet = maxArraySet || f.Name == "max-array" })
	if !maxArraySet {
		*maxArray = min(*maxArray, *arrayMemory) // the default gives way to a smaller --array-memory
	}
	if *maxArray < 1 || *maxArray > *arrayMemory {
		return fail(exitUsage, "--max-array %d is out of range: give 1 to --array-memory (%d) bytes", *maxArray, *arrayMemory)
	}
	if *maxLine < 1 || *maxLine > maxFramed {
		return fail(exitUsage, "--max-line %d is out of range: give 1 to %d bytes", *maxLine, maxFramed)
	}
	if *maxQuestion < 1 || *maxQuestion > maxFramed {
		return fail(exitUsage, "--max-question %d is out of range: give 1 to %d bytes", *maxQuestion, maxFramed)
	}
	lineEcho, questions = echo.Lines(*maxLine), qa.Factory(*maxQuestion)
	arrayService.Limits.MaxData = *maxArray
	arrayService.Memory = array.NewBudget(*arrayMemory)
	timeServer.SNTP.Stratum = uint8(*stratum)
	switch {
	case *stratum == 1 && *refID == "":
		copy(timeServer.SNTP.RefID[:], "LOCL")
	case *stratum == 1:
		if len(*refID) > 4 || strings.IndexFunc(*refID, func(r rune) bool { return r < 0x20 || r > 0x7e }) >= 0 {
			return fail(exitUsage, "--sntp-refid %q: at stratum 1, give up to 4 printable ASCII characters", *refID)
		}
		copy(timeServer.SNTP.RefID[:], *refID)
	default:
		a, err := netip.ParseAddr(*refID)
		if err != nil || !a.Is4() {
			return fail(exitUsage, "--sntp-refid %q: at stratum %d, give the upstream server's IPv4 address", *refID, *stratum)
		}
		timeServer.SNTP.RefID = a.As4()
	}
	named := map[string]bool{}
	fs.Visit(func(f *flag.Flag) {
		if _, ok := addrs[f.Name]; ok {
			named[f.Name] = true
		}
	})
	in, err := takeInheritance(keys(named))
	if err != nil {
		return fail(exitUsage, "%v", err)
	}
	if in != nil && len(named) == 0 {
		for _, name := range in.services() {
			named[name] = true // socket activation: only the services given sockets
		}
	}
	var run []listening
	for _, s := range services {
		addr := *addrs[s.name]
		if (len(named) > 0 && !named[s.name]) || addr == "" {
			continue
		}
		for _, a := range strings.Split(addr, ",") {
			a = strings.TrimSpace(a) // "ADDR, ADDR" as a user writes a list
			ep, err := s.endpoint(a)
			if err != nil {
				return fail(exitUsage, "--%s %q: %v", s.name, a, err)
			}
			run = append(run, listening{service: s, ep: ep})
		}
	}
	if len(run) == 0 {
		return fail(exitUsage, "no service to run: every service is disabled")
	}
	if err := authFlags.wrap(run); err != nil {
		return fail(exitUsage, "%v", err)
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))

	// Signals are counted, not just noticed: the second one ends the shutdown.
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)

	opts := []reactor.Option{reactor.WithLoops(*loops), reactor.WithLogger(log),
		reactor.WithIdleTimeout(*idle), reactor.WithDatagramSize(*dgramSize), reactor.WithBalance(balance)}
	if *lockThread {
		opts = append(opts, reactor.WithLockOSThread())
	}
	opts, err = accessOpts.options(opts, log)
	if err != nil {
		return fail(exitUsage, "%v", err)
	}
	l, err := backend.New(*backendName, opts...)
	if err != nil {
		return fail(exitFailed, "%v", err)
	}
	rs := &restarter{names: socketNames{}, keep: map[string]bool{}, drain: *drainTimeout, log: log}
	if err := rs.listenAll(l, run, in, stdout); err != nil {
		l.Shutdown(context.Background())
		return fail(exitFailed, "%v", err)
	}
	defer rs.removeFiles()
	name := *backendName
	if name == "" {
		name = backend.Default()
	}
	log.Info("serving", "backend", name, "loops", *loops, "balance", balance, "lock_os_thread", *lockThread)
	// Buffers that slow peers held are garbage once they leave, but an idle
	// server allocates nothing that would collect them: memreturn does.
	stopReturns := memreturn.Start(memreturn.DefaultInterval)
	defer stopReturns()

	in.signalReady()

	var sig os.Signal
	for sig == nil {
		select {
		case sig = <-sigs:
		case <-l.Done():
			return fail(exitFailed, "the loops stopped unexpectedly: %v", l.Err())
		}
		if sig == syscall.SIGHUP {
			var ready bool
			if ready, sig = rs.restart(l, sigs); ready {
				return rs.handOver(l, sigs, fail)
			}
			// The replacement failed: serve on, unless a signal says stop.
		}
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

// balances are the modes --balance takes, by their names.
var balances = []reactor.Balance{reactor.BalanceReusePort, reactor.BalanceRoundRobin, reactor.BalanceLeastConns}

// parseBalance returns the Balance called name.
func parseBalance(name string) (reactor.Balance, bool) {
	for _, b := range balances {
		if b.String() == name {
			return b, true
		}
	}
	return 0, false
}

// balanceNames lists the names --balance takes.
func balanceNames() []string {
	names := make([]string, len(balances))
	for i, b := range balances {
		names[i] = b.String()
	}
	return names
}

// maxFramed bounds --max-line and --max-question: a message is held whole
// until it is complete, so each connection may cost this much.
const maxFramed = 16 << 20
