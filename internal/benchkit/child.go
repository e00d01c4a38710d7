package benchkit

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/edgeloop/edgeloop/backend"

	"github.com/edgeloop/edgeloop/protocols/echo"
	"github.com/edgeloop/edgeloop/reactor"
	"golang.org/x/sys/unix"
)

// EnvCPUProfile, if set in a benchmark's environment, makes each server
// child write a CPU profile to this path with ".BACKEND.pprof" appended.
const EnvCPUProfile = "EDGELOOP_BENCH_CPUPROFILE"

// EnvServer names the backend a re-executed binary should serve; its
// presence is what makes ChildMain take over.
const EnvServer = "EDGELOOP_BENCH_SERVER"

// ChildMain serves echo as a benchmark child if EnvServer is set, and then
// exits the process. It returns false, doing nothing, otherwise. Call it
// first in main and in TestMain.
func ChildMain() bool {
	backend, ok := os.LookupEnv(EnvServer)
	if !ok {
		return false
	}
	if err := child(backend); err != nil {
		fmt.Fprintln(os.Stderr, "benchkit child:", err)
		os.Exit(1)
	}
	os.Exit(0)
	return true
}

func child(name string) error {
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
	l, err := backend.New(name, reactor.WithLoops(1))
	if err != nil {
		return err
	}
	addr, err := l.Listen("tcp", "127.0.0.1:0", echo.New)
	if err != nil {
		return err
	}
	fmt.Printf("listening %s\n", addr)
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		if in.Text() == "stats" {
			fmt.Printf("stats cpu_us=%d mallocs=%d\n", cpuMicros(), mallocs())
		}
	}
	// stdin closed: the parent is done with us.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return l.Shutdown(ctx)
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
