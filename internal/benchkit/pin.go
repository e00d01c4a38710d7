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

// PinSelf moves this process (the load generator) off the server's CPU.
func PinSelf() error {
	if !CanPin() {
		return nil
	}
	return pin(os.Getpid(), loadCPUs())
}

// rssKB reads a process's resident set size.
func rssKB(pid int) int64 {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return -1
	}
	var kb int64 = -1
	for _, line := range strings.Split(string(b), "\n") {
		if n, _ := fmt.Sscanf(line, "VmRSS: %d kB", &kb); n == 1 {
			return kb
		}
	}
	return -1
}
