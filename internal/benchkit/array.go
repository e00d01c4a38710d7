package benchkit

import (
	"bytes"
	"fmt"
	"math"
	"net"
	"slices"
	"time"

	"github.com/edgeloop/edgeloop/protocols/array"
)

// arrayTimeout bounds one array round trip, so that a server that stops
// answering fails the cell instead of hanging it: ample for 1 GiB over
// loopback.
const arrayTimeout = time.Minute

// arrayClient is the Array rows' load: one blocking connection that writes
// an array and reads its echo, in turn. Both run in the caller's goroutine:
// the service answers only once the whole array is in, so a write never
// waits on a reply being read. Its buffers are allocated once, the source
// filled and the destination touched by the first round trip, before any
// window.
type arrayClient struct {
	c   net.Conn
	src []uint8 // sent as a 1-d NPY array of |u1
	dst []byte  // the echo's data lands here
	lim array.Limits
}

// dialArray connects to an array server at addr, for size-byte arrays.
func dialArray(addr string, size int) (*arrayClient, error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	a := &arrayClient{c: c, src: make([]uint8, size), dst: make([]byte, size), lim: array.Limits{MaxData: int64(size)}}
	for i := range a.src {
		a.src[i] = uint8(i*7 + i>>13) // not periodic in any page size
	}
	return a, nil
}

// roundTrip sends the array and reads its echo into dst, and returns how
// long that took. It checks the echo's header, not its data (see verify).
func (a *arrayClient) roundTrip() (time.Duration, error) {
	t0 := time.Now()
	if err := a.c.SetDeadline(t0.Add(arrayTimeout)); err != nil {
		return 0, err
	}
	if err := array.WriteArray(a.c, nil, a.src); err != nil {
		return 0, fmt.Errorf("benchkit: writing the array: %w", err)
	}
	h, data, err := array.ReadArrayInto(a.c, a.dst, a.lim)
	if err != nil {
		return 0, fmt.Errorf("benchkit: reading the array's echo: %w", err)
	}
	d := time.Since(t0)
	if h.Descr != array.DTypeOf[uint8]() || !slices.Equal(h.Shape, []int{len(a.src)}) || len(data) != len(a.src) {
		return 0, fmt.Errorf("benchkit: the echo is a %v array of shape %v, %d bytes; sent |u1 (%d,)", h.Descr, h.Shape, len(data), len(a.src))
	}
	return d, nil
}

// verify says whether the last echo's data is what was sent. It reads all
// of both buffers, so it runs once, outside the window.
func (a *arrayClient) verify() error {
	if !bytes.Equal(a.dst, a.src) {
		return fmt.Errorf("benchkit: the echo's data differs from the array sent")
	}
	return nil
}

func (a *arrayClient) close() { a.c.Close() }

// measureArray measures an Array cell: one connection round-trips w.Size
// bytes of array, one array after another, until the window's bound (its
// round trips count as its requests). The first round trip is checked byte
// for byte and, with the rest of the warm-up, is outside the window. The
// window starts and ends between round trips, so that the server's CPU
// time over it is that of whole round trips: its figures are per GiB of
// array data round-tripped (received and sent back), and MBps counts each
// array byte once. The peak RSS is the server's over its life, read after
// the window.
func measureArray(server string, w Workload, win Window) (Sample, error) {
	if w.Size < 1 || w.Size > maxArray {
		return Sample{}, fmt.Errorf("benchkit: %s: an array needs 1 to %d bytes", w.Name(), maxArray)
	}
	srv, err := startService(server, w.service())
	if err != nil {
		return Sample{}, err
	}
	defer srv.Stop()
	a, err := dialArray(srv.Addr, w.Size)
	if err != nil {
		return Sample{}, err
	}
	defer a.close()
	if _, err := a.roundTrip(); err != nil {
		return Sample{}, err
	}
	if err := a.verify(); err != nil {
		return Sample{}, err
	}
	for t0 := time.Now(); time.Since(t0) < win.Warmup; {
		if _, err := a.roundTrip(); err != nil {
			return Sample{}, err
		}
	}
	st0, err := srv.Stats()
	if err != nil {
		return Sample{}, err
	}
	var rts []float64 // round trips, in µs
	t0 := time.Now()
	for {
		d, err := a.roundTrip()
		if err != nil {
			return Sample{}, err
		}
		rts = append(rts, float64(d.Microseconds()))
		if win.Requests > 0 && int64(len(rts)) >= win.Requests {
			break
		}
		if win.Duration > 0 && time.Since(t0) >= win.Duration {
			break
		}
	}
	s := Sample{Workload: w, Server: server, Requests: int64(len(rts)), Elapsed: time.Since(t0)}
	st1, err := srv.Stats()
	if err != nil {
		return Sample{}, err
	}
	sec := s.Elapsed.Seconds()
	data := float64(s.Requests) * float64(w.Size) // array bytes round-tripped, each once
	gib := data / (1 << 30)
	s.ReqPerSec = float64(s.Requests) / sec
	s.MBps = data / sec / 1e6
	s.SrvUsReq = float64(st1.CPUMicros-st0.CPUMicros) / gib
	s.AllocsReq = float64(st1.Mallocs-st0.Mallocs) / gib
	s.P50us, s.P99us, s.P999us = quantile(rts, 0.5), quantile(rts, 0.99), quantile(rts, 0.999)
	s.RSSKB, s.PeakRSSKB = st1.RSSKB, st1.PeakRSSKB
	s.OtherThreads = otherThreadsShare(st0.Threads, st1.Threads)
	return s, nil
}

// quantile is the q-quantile of v by nearest rank (0 for none). It sorts v.
func quantile(v []float64, q float64) float64 {
	if len(v) == 0 {
		return 0
	}
	slices.Sort(v)
	i := int(math.Ceil(q*float64(len(v)))) - 1
	return v[min(max(i, 0), len(v)-1)]
}
