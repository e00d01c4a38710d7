package main

import (
	"slices"
	"strings"
	"testing"

	"github.com/edgeloop/edgeloop/internal/benchkit"
)

func TestBenchWorkloads(t *testing.T) {
	for _, tc := range []struct {
		name, protos, conns string
		rate                float64
		want                []string // row names, or the error's text
		wantErr             bool
	}{
		{"default rows", defaultProtocols, "", benchkit.PartialRate, []string{
			"echo/size=64/conns=64", "echo/size=64/conns=1000", "echo/size=16384/conns=64",
			"echo/size=64/conns=64/rate=80000", "echo/size=64/conns=1000/rate=80000",
			"fairness/bulk=4x1MiB/probe=1KiB",
			"udp/size=64/socks=64", "churn/time/conns=16", "timers/n=100000/spread=100ms",
			"array/size=64MiB", "array/size=256MiB"}, false},
		{"--conns applies to the echo rows, not fairness", "partial,fairness", "8", 500, []string{
			"echo/size=64/conns=8/rate=500", "fairness/bulk=4x1MiB/probe=1KiB"}, false},
		{"issue 8's rows", "udp,churn,timers", "", 1, []string{
			"udp/size=64/socks=64", "churn/time/conns=16", "timers/n=100000/spread=100ms"}, false},
		{"--conns applies to udp's sockets, not churn or timers", "timers,udp,churn", "8,100", 1, []string{
			"timers/n=100000/spread=100ms", "udp/size=64/socks=8", "udp/size=64/socks=100", "churn/time/conns=16"}, false},
		{"issue 9's rows, one connection whatever --conns says", "array", "8,100", 1, []string{
			"array/size=64MiB", "array/size=256MiB"}, false},
		{"array among others, in the order given", "echo16k,array,timers", "", 1, []string{
			"echo/size=16384/conns=64", "array/size=64MiB", "array/size=256MiB", "timers/n=100000/spread=100ms"}, false},
		{"protocols in the order given", "fairness,echo16k", "", 1, []string{
			"fairness/bulk=4x1MiB/probe=1KiB", "echo/size=16384/conns=64"}, false},
		{"unknown protocol", "echo,nosuch", "", 1, []string{`unknown protocol "nosuch"`}, true},
		{"the error lists every protocol", "tcp", "", 1, []string{
			`unknown protocol "tcp": the protocols are echo, echo16k, partial, fairness, udp, churn, timers, array`}, true},
		{"conns out of range", "echo", "64,0", 1, []string{"--conns 0 is out of range"}, true},
		{"rate out of range", "partial", "", 0, []string{"--rate 0 is out of range"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ws, err := benchWorkloads(tc.protos, tc.conns, tc.rate)
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
	ws, err := benchWorkloads(defaultProtocols, "", benchkit.PartialRate)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ws, benchkit.DefaultWorkloads) {
		t.Errorf("edgeloop bench's default rows %v differ from go test -bench's %v", ws, benchkit.DefaultWorkloads)
	}
}

// TestBenchProtocolListIsComplete: the protocols the error message and the
// default run name are the ones --protocols accepts.
func TestBenchProtocolListIsComplete(t *testing.T) {
	var names []string
	for name := range protocols {
		names = append(names, name)
	}
	for _, list := range []string{defaultProtocols, strings.ReplaceAll(protocolList, " ", "")} {
		got := split(list)
		slices.Sort(got)
		slices.Sort(names)
		if !slices.Equal(got, names) {
			t.Errorf("list %q names %q, want every protocol: %q", list, got, names)
		}
	}
}
