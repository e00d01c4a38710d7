// Package bench compares edgeloop's backends side by side, in one run,
// against a minimal C epoll server, the machine's floor:
//
//	go test -bench . ./bench
//	go test -bench . -count 5 ./bench | tee new.txt && benchstat new.txt
//
// Each benchmark is named workload/size/conns/backend, for example
// BenchmarkEcho/size=64/conns=1000/backend=epoll. The server runs in its own
// process (this test binary re-executed) pinned to CPU 0 with GOMAXPROCS=1
// and one loop; the load generator, edgeloop's own loop, runs here on the
// other CPUs. ns/op is wall time per round trip across all connections.
// Extra metrics: req/s; srv-us/req, the server's user+system CPU per request
// as the OS reports it; x-floor, that figure over the floor's in this run;
// srv-allocs/req; p50-us, p99-us, p999-us round-trip latency; srv-rss-KB;
// srv-other-threads-%, the share of the server's CPU time on threads other
// than its busiest (the loop's).
//
// The partial-load rows pace the same echo to a fixed rate, so that the
// server mostly waits: BenchmarkEcho/size=64/conns=1000/rate=80000/... .
// BenchmarkFairness/bulk=4x1MiB/probe=1KiB/... times a 1 KiB probe on the
// same server loop as four peers echoing 1 MiB at full speed: ns/op and the
// latencies are the probe's round trip, MB/s is what the bulk peers got
// back, and the server's figures are per MiB of it (srv-us/MiB).
// BenchmarkUDP echoes 64-byte datagrams from 64 sockets (srv-us/datagram,
// lost); BenchmarkChurn connects to the TCP time service over and over
// (srv-us/conn); BenchmarkTimers arms and fires 100 000 timers per round on
// the server's loop (srv-us/timer, srv-allocs/timer, round-us).
// BenchmarkArray/size=64MiB/... and size=256MiB round-trip NPY arrays over
// one connection: ns/op is a round trip, GB/s the array data round-tripped
// per second (each byte counted once, not once each way), srv-us/GiB the
// server's CPU per GiB of it, and srv-peak-rss-KB the server's peak
// resident set (VmHWM), against a C floor that receives each array into one
// reused buffer and sends it back with blocking calls. A backend that
// cannot serve a benchmark's service is skipped with the reason.
//
// edgeloop bench runs the same cells interleaved over repetitions and draws
// the table and chart. See internal/benchkit for how a cell is measured.
package bench
