package benchkit

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/edgeloop/edgeloop/backend"

	"github.com/edgeloop/edgeloop/protocols/array"
	"github.com/edgeloop/edgeloop/protocols/echo"
	"github.com/edgeloop/edgeloop/protocols/timeproto"
	"github.com/edgeloop/edgeloop/reactor"
	"golang.org/x/sys/unix"
)

// EnvCPUProfile, if set in a benchmark's environment, makes each server
// child write a CPU profile to this path with ".BACKEND.pprof" appended.
const EnvCPUProfile = "EDGELOOP_BENCH_CPUPROFILE"

// EnvServer names the backend a re-executed binary should serve; its
// presence is what makes ChildMain take over.
const EnvServer = "EDGELOOP_BENCH_SERVER"

// EnvService names what a benchmark child serves, one of the services
// below; unset is TCP echo. The floor takes the same names as arguments.
const EnvService = "EDGELOOP_BENCH_SERVICE"

// EnvLoops is the number of event loops a benchmark child runs; unset is
// one. The parent sets GOMAXPROCS to match.
const EnvLoops = "EDGELOOP_BENCH_LOOPS"

// The services a benchmark child serves, one per process, so that what a
// cell measures is the one service its workload uses.
const (
	serviceEcho = "echo" // TCP echo (echo.New): the Echo and Fairness rows
	serviceUDP  = "udp"  // UDP echo (echo.NewPacket): the UDP rows
	serviceTime = "time" // the TCP time service, RFC 868 (timeproto.Server.Time): the Churn rows
	// serviceTimers has nothing to connect to: the parent asks for rounds
	// of timers on stdin ("timers N SPREAD_US"), the Timers rows.
	serviceTimers = "timers"
	// serviceArray is the NPY round-trip service (array.Service), taking
	// arrays up to maxArray: the Array rows.
	serviceArray = "array"
)

// maxArray is the largest array a benchmark child takes, and its array
// memory (one array at a time): the service's --max-array.
const maxArray = 1 << 30

// timerGrace is how long after a round's last deadline a child waits for
// its timers before it gives up on the round.
const timerGrace = 30 * time.Second

// ChildMain serves as a benchmark child if EnvServer is set, and then
// exits the process. It returns false, doing nothing, otherwise. Call it
// first in main and in TestMain.
//
// The child speaks a line protocol on stdin and stdout. It starts with
// "listening ADDR" once it serves (ADDR is "-" for the timers, which need
// no address), or "unsupported WHY" if its backend cannot serve the
// service (then it exits). Then, for each line on stdin:
//
//	stats                  -> stats cpu_us=N mallocs=N
//	gc                     -> gc heap_bytes=N (after a GC that returned
//	                          free memory to the OS; N is the live heap)
//	timers N SPREAD_US     -> timers n=N cpu_us=N mallocs=N elapsed_us=N
//	                          (or "timers error WHY")
//
// and it exits when stdin closes. The floor (floor/*.c) answers the same,
// without timers.
func ChildMain() bool {
	backend, ok := os.LookupEnv(EnvServer)
	if !ok {
		return false
	}
	if err := child(backend, cmp.Or(os.Getenv(EnvService), serviceEcho)); err != nil {
		fmt.Fprintln(os.Stderr, "benchkit child:", err)
		os.Exit(1)
	}
	os.Exit(0)
	return true
}

func child(name, service string) error {
	if base := os.Getenv(EnvCPUProfile); base != "" {
		f, err := os.Create(base + "." + name + ".pprof")
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	loops := 1
	if v := os.Getenv(EnvLoops); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return fmt.Errorf("bad %s=%q", EnvLoops, v)
		}
		loops = n
	}
	l, err := backend.New(name, reactor.WithLoops(loops))
	if err != nil {
		return err
	}
	stop := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		return l.Shutdown(ctx)
	}
	var addr net.Addr
	var arm armer
	switch service {
	case serviceEcho:
		addr, err = l.Listen("tcp", "127.0.0.1:0", echo.New)
	case serviceTime:
		addr, err = l.Listen("tcp", "127.0.0.1:0", (&timeproto.Server{}).Time)
	case serviceArray:
		addr, err = l.Listen("tcp", "127.0.0.1:0", (&array.Service{Limits: array.Limits{MaxData: maxArray}}).Factory)
	case serviceUDP:
		addr, err = l.ListenPacket("udp", "127.0.0.1:0", echo.NewPacket)
		if errors.Is(err, reactor.ErrUnsupported) {
			fmt.Println("unsupported this backend serves no datagrams")
			return stop()
		}
	case serviceTimers:
		arm, addr, err = timerArmer(l)
	default:
		return fmt.Errorf("unknown service %q", service)
	}
	if err != nil {
		stop()
		return err
	}
	if addr == nil {
		fmt.Println("listening -")
	} else {
		fmt.Printf("listening %s\n", addr)
	}
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		var n int
		var spreadUs int64
		switch line := in.Text(); {
		case line == "stats":
			fmt.Printf("stats cpu_us=%d mallocs=%d\n", cpuMicros(), mallocs())
		case line == "gc":
			// The idle rows' second reading. RSS follows the heap's peak,
			// garbage included, until the runtime's scavenger returns it
			// to the OS some minutes later: without this the figure
			// depends on when the last GC ran. FreeOSMemory runs a GC and
			// returns every free page at once, so RSS is what is live.
			debug.FreeOSMemory()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			fmt.Printf("gc heap_bytes=%d\n", ms.HeapAlloc)
		case strings.HasPrefix(line, "timers "):
			if _, err := fmt.Sscanf(line, "timers %d %d", &n, &spreadUs); err != nil || n < 1 || spreadUs < 0 || arm == nil {
				fmt.Printf("timers error bad request %q for service %s\n", line, service)
				continue
			}
			fmt.Println(timerRound(arm, n, time.Duration(spreadUs)*time.Microsecond))
		}
	}
	// stdin closed: the parent is done with us.
	return stop()
}

// armer arms n timers that each call f once, the i-th delay(i) from now.
type armer func(n int, delay func(i int) time.Duration, f func()) error

// timerArmer returns how the child arms timers on l. On the native loop
// they are armed on the loop goroutine, with the Scheduler of a UDP
// endpoint (a UDP echo socket nobody sends to): Loop.AfterFunc from there
// would post each timer to the loop again. An Engine has no such place:
// its timers are Loop.AfterFunc's, runtime timers that post f when they
// fire. addr is the endpoint's, or nil.
func timerArmer(l *reactor.Loop) (armer, net.Addr, error) {
	pcs := make(chan reactor.PacketConn, 1)
	addr, err := l.ListenPacket("udp", "127.0.0.1:0", func(pc reactor.PacketConn) reactor.Handler {
		pcs <- pc
		return echo.NewPacket(pc)
	})
	switch {
	case errors.Is(err, reactor.ErrUnsupported):
		addr = nil
	case err != nil:
		return nil, nil, err
	default:
		var pc reactor.PacketConn
		select {
		case pc = <-pcs:
		case <-time.After(10 * time.Second):
			return nil, nil, fmt.Errorf("the UDP endpoint for the timers was not made in 10s")
		}
		if s, ok := pc.(reactor.Scheduler); ok {
			return func(n int, delay func(int) time.Duration, f func()) error {
				return pc.Post(func() {
					for i := range n {
						s.AfterFunc(delay(i), f)
					}
				})
			}, addr, nil
		}
	}
	return func(n int, delay func(int) time.Duration, f func()) error {
		for i := range n {
			if _, err := l.AfterFunc(delay(i), f); err != nil {
				return err
			}
		}
		return nil
	}, addr, nil
}

// timerRound arms n timers with arm, their deadlines spread evenly over
// spread, waits until all have fired and answers with the process's CPU
// time and heap allocations over the round (the line ChildMain documents).
// The deadlines are armed out of order, as the timers of many connections
// come: the i-th timer's is (i·stride mod n)/n of the spread, stride
// coprime to n, so the loop's heap sifts as it would in a server.
func timerRound(arm armer, n int, spread time.Duration) string {
	stride := int64(7919) // a prime
	for gcd(stride, int64(n)) != 1 {
		stride++
	}
	delay := func(i int) time.Duration {
		return time.Duration(int64(spread) * (int64(i) * stride % int64(n)) / int64(n))
	}
	var left atomic.Int64
	left.Store(int64(n))
	done := make(chan struct{})
	fire := func() {
		if left.Add(-1) == 0 {
			close(done)
		}
	}
	m0 := mallocs() // before the CPU time: ReadMemStats stops the world
	c0, t0 := cpuMicros(), time.Now()
	if err := arm(n, delay, fire); err != nil {
		return "timers error " + err.Error()
	}
	wait := time.NewTimer(spread + timerGrace)
	defer wait.Stop()
	select {
	case <-done:
	case <-wait.C:
		return fmt.Sprintf("timers error %d of %d timers fired, %v after the last deadline", int64(n)-left.Load(), n, timerGrace)
	}
	elapsed, c1 := time.Since(t0), cpuMicros()
	m1 := mallocs()
	return fmt.Sprintf("timers n=%d cpu_us=%d mallocs=%d elapsed_us=%d", n, c1-c0, m1-m0, elapsed.Microseconds())
}

func gcd(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// cpuMicros is this process's user+system CPU time.
func cpuMicros() int64 {
	var ru unix.Rusage
	if unix.Getrusage(unix.RUSAGE_SELF, &ru) != nil {
		return -1
	}
	return ru.Utime.Nano()/1e3 + ru.Stime.Nano()/1e3
}

// mallocs is the number of heap objects allocated so far. ReadMemStats
// stops the world, which is fine at the edges of a window.
func mallocs() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.Mallocs
}
