package main

import (
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/edgeloop/edgeloop/internal/benchkit"
)

func TestBenchWorkloads(t *testing.T) {
	for _, tc := range []struct {
		name, protos, conns string
		rate                float64
		idle                int      // --idle; 0 is its default
		want                []string // row names, or the error's text
		wantErr             bool
	}{
		{"default rows", defaultProtocols, "", benchkit.PartialRate, 0, []string{
			"echo/size=64/conns=64", "echo/size=64/conns=1000", "echo/size=16384/conns=64",
			"echo/size=64/conns=64/rate=80000", "echo/size=64/conns=1000/rate=80000",
			"fairness/bulk=4x1MiB/probe=1KiB",
			"udp/size=64/socks=64", "churn/time/conns=16", "timers/n=100000/spread=100ms",
			"array/size=64MiB", "array/size=256MiB"}, false},
		{"--conns applies to the echo rows, not fairness", "partial,fairness", "8", 500, 0, []string{
			"echo/size=64/conns=8/rate=500", "fairness/bulk=4x1MiB/probe=1KiB"}, false},
		{"issue 8's rows", "udp,churn,timers", "", 1, 0, []string{
			"udp/size=64/socks=64", "churn/time/conns=16", "timers/n=100000/spread=100ms"}, false},
		{"--conns applies to udp's sockets, not churn or timers", "timers,udp,churn", "8,100", 1, 0, []string{
			"timers/n=100000/spread=100ms", "udp/size=64/socks=8", "udp/size=64/socks=100", "churn/time/conns=16"}, false},
		{"issue 9's rows, one connection whatever --conns says", "array", "8,100", 1, 0, []string{
			"array/size=64MiB", "array/size=256MiB"}, false},
		{"array among others, in the order given", "echo16k,array,timers", "", 1, 0, []string{
			"echo/size=16384/conns=64", "array/size=64MiB", "array/size=256MiB", "timers/n=100000/spread=100ms"}, false},
		{"protocols in the order given", "fairness,echo16k", "", 1, 0, []string{
			"fairness/bulk=4x1MiB/probe=1KiB", "echo/size=16384/conns=64"}, false},
		{"issue 11's rows, crowd and scaling at 64 active connections", "idle,crowd,accept,scaling", "", 1, 0, append([]string{
			"idle/conns=15000", "crowd/size=64/conns=64/idle=15000", "accept/echo/size=64/conns=16"}, scalingNames(64)...), false},
		{"--conns does not apply to accept", "accept", "8", 1, 0, []string{"accept/echo/size=64/conns=16"}, false},
		{"--idle and --conns apply to crowd", "crowd,idle", "8,100", 1, 500, []string{
			"crowd/size=64/conns=8/idle=500", "crowd/size=64/conns=100/idle=500", "idle/conns=500"}, false},
		{"--conns applies to scaling", "scaling", "8", 1, 0, scalingNames(8), false},
		{"idle out of range", "idle", "", 1, 1 << 30, []string{"--idle 1073741824 is out of range"}, true},
		{"idle and the crowd's active ones past the descriptors", "crowd", "64", 1, maxConns(), []string{"is out of range"}, true},
		{"idle below one", "idle", "", 1, -1, []string{"--idle -1 is out of range"}, true},
		{"unknown protocol", "echo,nosuch", "", 1, 0, []string{`unknown protocol "nosuch"`}, true},
		{"the error lists every protocol", "tcp", "", 1, 0, []string{
			`unknown protocol "tcp": the protocols are echo, echo16k, partial, fairness, udp, churn, timers, array, idle, crowd, accept, scaling`}, true},
		{"conns out of range", "echo", "64,0", 1, 0, []string{"--conns 0 is out of range"}, true},
		{"rate out of range", "partial", "", 0, 0, []string{"--rate 0 is out of range"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			idle := tc.idle
			if idle == 0 {
				idle = benchkit.IdleConns
			}
			ws, err := benchWorkloads(tc.protos, tc.conns, tc.rate, idle)
			if tc.wantErr {
				if err == nil || !strings.Contains(err.Error(), tc.want[0]) {
					t.Fatalf("err = %v, want one saying %q", err, tc.want[0])
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, w := range ws {
				got = append(got, w.Name())
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("rows = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestBenchDefaultsAreTheGoBenchmarkRows(t *testing.T) {
	ws, err := benchWorkloads(defaultProtocols, "", benchkit.PartialRate, benchkit.IdleConns)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ws, benchkit.DefaultWorkloads) {
		t.Errorf("edgeloop bench's default rows %v differ from go test -bench's %v", ws, benchkit.DefaultWorkloads)
	}
}

// TestBenchProtocolListIsComplete: the protocols the error message names,
// and those of the default run with the extra ones, are the ones
// --protocols accepts.
func TestBenchProtocolListIsComplete(t *testing.T) {
	var names []string
	for name := range protocols {
		names = append(names, name)
	}
	for _, list := range []string{defaultProtocols + "," + extraProtocols, strings.ReplaceAll(protocolList, " ", "")} {
		got := split(list)
		slices.Sort(got)
		slices.Sort(names)
		if !slices.Equal(got, names) {
			t.Errorf("list %q names %q, want every protocol: %q", list, got, names)
		}
	}
}

// scalingNames are the scaling rows' names at conns connections on this
// machine: one per loop count from 1 to min(NumCPU, 4).
func scalingNames(conns int) []string {
	var names []string
	for l := 1; l <= min(runtime.NumCPU(), 4); l++ {
		names = append(names, fmt.Sprintf("echo/size=64/conns=%d/loops=%d", conns, l))
	}
	return names
}

func TestBenchExtrasAreTheGoBenchmarkRows(t *testing.T) {
	ws, err := benchWorkloads(extraProtocols, "", benchkit.PartialRate, benchkit.IdleConns)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ws, benchkit.ExtraWorkloads()) {
		t.Errorf("edgeloop bench's extra rows %v differ from go test -bench's %v", ws, benchkit.ExtraWorkloads())
	}
}
