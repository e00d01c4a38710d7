package benchkit

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
)

// ServerCPU is the CPU the servers are pinned to; the load generator gets
// the others.
const ServerCPU = 0

// CanPin reports whether there are enough CPUs to keep the server and the
// load generator apart.
func CanPin() bool { return runtime.GOOS == "linux" && runtime.NumCPU() >= 2 }

// loadCPUs are the CPUs the load generator runs on.
func loadCPUs() []int {
	var cpus []int
	for c := 0; c < runtime.NumCPU(); c++ {
		if c != ServerCPU {
			cpus = append(cpus, c)
		}
	}
	return cpus
}

// serverCPUs are the CPUs a server with loops event loops is pinned to:
// ServerCPU and the ones after it, loops in all, as many as the machine
// has. With more than one loop they overlap the load generator's
// (loadCPUs), which keeps the CPUs other than ServerCPU.
func serverCPUs(loops int) []int {
	cpus := []int{ServerCPU}
	for c := ServerCPU + 1; c < runtime.NumCPU() && len(cpus) < loops; c++ {
		cpus = append(cpus, c)
	}
	return cpus
}

// PinSelf moves this process (the load generator) off the server's CPU.
func PinSelf() error {
	if !CanPin() {
		return nil
	}
	return pin(os.Getpid(), loadCPUs())
}

// statusKB reads one of a process's memory figures in kB from
// /proc/PID/status: VmRSS, its resident set, or VmHWM, the peak of it over
// the process's life. It returns -1 where there is none.
func statusKB(pid int, field string) int64 {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return -1
	}
	var kb int64 = -1
	for _, line := range strings.Split(string(b), "\n") {
		if n, _ := fmt.Sscanf(line, field+": %d kB", &kb); n == 1 {
			return kb
		}
	}
	return -1
}

// threadTicks reads the user+system CPU time of each thread of a process,
// in clock ticks (USER_HZ, 100 a second here), from /proc/PID/task/*/stat.
// It returns nil where there is no /proc.
func threadTicks(pid int) map[int]int64 {
	dir := filepath.Join("/proc", strconv.Itoa(pid), "task")
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	ticks := make(map[int]int64, len(tasks))
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, t.Name(), "stat"))
		if err != nil {
			continue // the thread exited meanwhile
		}
		if v, ok := statTicks(string(b)); ok {
			ticks[tid] = v
		}
	}
	return ticks
}

// statTicks parses utime+stime out of a /proc/PID/stat line. The command
// name, field 2, is in parentheses and may hold spaces, so fields are
// counted from the last ')': state is field 3, utime 14 and stime 15.
func statTicks(line string) (int64, bool) {
	i := strings.LastIndexByte(line, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(line[i+1:])
	if len(f) < 13 {
		return 0, false
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return utime + stime, true
}

// otherThreadsShare is the fraction of a process's CPU time between two
// readings of threadTicks that went to threads other than the busiest one
// (for a server with one loop, the loop's thread). A thread that started in
// between counts from zero; one that exited in between is lost. It is 0
// when no time was counted at all.
func otherThreadsShare(before, after map[int]int64) float64 {
	var total, busiest int64
	for tid, t := range after {
		d := t - before[tid]
		total += d
		busiest = max(busiest, d)
	}
	if total <= 0 {
		return 0
	}
	return float64(total-busiest) / float64(total)
}
