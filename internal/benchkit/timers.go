package benchkit

import (
	"fmt"
	"time"
)

// measureTimers measures a Timers cell: the server arms w.Timers timers
// spread over w.Spread and waits until all have fired, round after round
// until the window's bound (its timers count as its requests), after one
// round of warm-up if the window has any. The CPU time and allocations are
// the child's own over each round (see timerRound); the RSS and the threads'
// shares come from /proc as for the other rows.
func measureTimers(server string, w Workload, win Window) (Sample, error) {
	if w.Timers < 1 || w.Spread < 0 {
		return Sample{}, fmt.Errorf("benchkit: %s: a round needs 1 or more timers and a spread of 0 or more", w.Name())
	}
	srv, err := startService(server, w.service())
	if err != nil {
		return Sample{}, err
	}
	defer srv.Stop()
	if win.Warmup > 0 {
		// The first round grows the loop's heap and the Go heap; what a
		// server pays once is not what each timer costs.
		if _, err := srv.Timers(w.Timers, w.Spread); err != nil {
			return Sample{}, err
		}
	}
	st0, err := srv.Stats()
	if err != nil {
		return Sample{}, err
	}
	s := Sample{Workload: w, Server: server}
	var cpu int64
	var allocs uint64
	var rounds []float64
	t0 := time.Now()
	for {
		r, err := srv.Timers(w.Timers, w.Spread)
		if err != nil {
			return Sample{}, err
		}
		s.Requests += r.n
		cpu += r.cpuMicros
		allocs += r.mallocs
		rounds = append(rounds, float64(r.elapsed.Microseconds()))
		if win.Requests > 0 && s.Requests >= win.Requests {
			break
		}
		if win.Duration > 0 && time.Since(t0) >= win.Duration {
			break
		}
	}
	s.Elapsed = time.Since(t0)
	st1, err := srv.Stats()
	if err != nil {
		return Sample{}, err
	}
	if s.Requests <= 0 {
		return s, fmt.Errorf("benchkit: %s on %s: no timer fired", server, w.Name())
	}
	s.ReqPerSec = float64(s.Requests) / s.Elapsed.Seconds()
	s.SrvUsReq = float64(cpu) / float64(s.Requests)
	s.AllocsReq = float64(allocs) / float64(s.Requests)
	s.RoundUs = median(rounds)
	s.RSSKB = st1.RSSKB
	s.OtherThreads = otherThreadsShare(st0.Threads, st1.Threads)
	return s, nil
}
