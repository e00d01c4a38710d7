// Package benchkit measures edgeloop's backends side by side against the
// machine's floor, for `go test -bench . ./bench` and `edgeloop bench`.
//
// Each server runs in its own process, pinned to CPU 0 with GOMAXPROCS=1 and
// one loop, serving the one service its row needs (TCP echo, UDP echo, the
// TCP time service, NPY array round trips, or nothing for the timers;
// EnvService): a Go backend is the calling binary re-executed (ChildMain),
// the floor a minimal C server built with the system compiler
// (floor/floor.c: epoll TCP echo, or an accept-write-close time service;
// floor/udpfloor.c: UDP echo; floor/arrayfloor.c: blocking recv and send
// of NPY arrays). Both speak
// one line protocol: "listening ADDR" on stdout (or "unsupported WHY": the
// cell is n/a), and a "stats" line on stdin answered with the process's own
// CPU time (getrusage) and heap allocation count; the parent adds the RSS
// and each thread's CPU time from /proc. The load generator is edgeloop's
// own loop, pinned to the other CPUs, dialling N connections that each
// ping-pong one message at a time and record latency in an HDR histogram.
//
// Three kinds of row use that load. Saturated echo sends each next request
// as soon as its reply is in. Partial load (Workload.Rate) paces the same
// echo: a ticker wakes every 100 µs and the loop deals out the sends that
// have come due, to the connections in turn, so the server mostly waits for
// input. Fairness (Workload.Protocol Fairness) runs bulk peers echoing large
// messages at full speed and a probe echoing a small one every millisecond:
// the probe's round trip is how long the server's turn order makes a small
// request wait. The probe is a C process of its own (floor/probe.c), at
// real-time priority where allowed, on the load generator's CPUs: on a Go
// loop beside the bulk peers it timed the load generator's scheduler more
// than the server.
//
// Three more kinds of row come from issue 8. UDP echo: N connected sockets
// on the load generator's loop each keep one datagram in flight; one whose
// echo is 200 ms late counts a loss and sends again, so a dropped datagram
// never stalls a socket. Connection churn: N clients at a time connect to
// the TCP time service, read its 4 bytes until the server closes, reset
// the connection (SO_LINGER 0: no TIME_WAIT piles up) and connect again.
// Timers: no load; the parent asks the server over stdin for rounds of
// timers ("timers N SPREAD_US"), which it arms on its loop and answers
// with its CPU time and allocations once all have fired.
//
// Issue 9's rows round-trip large NPY arrays (64 MiB, 256 MiB) through
// the array service (protocols/array): one blocking net.Conn in the parent
// writes an array, reads its echo into a buffer allocated once, and writes
// the next; the window starts and ends between round trips. They report
// GB/s of array data (each byte counted once), server CPU per GiB, and the
// server's peak RSS over its life (VmHWM, a fresh process per cell), which
// shows what one array costs the server in memory. Their floor receives
// each array into one reused buffer and sends it back with blocking calls.
//
// Issue 11's rows (ExtraWorkloads, not in the default run) are about many
// connections and many loops. Idle: N connections, held by this process
// as plain Go net.Conns dialled from 127.0.0.2 and up (one source address
// has about 28 000 ephemeral ports), each echo one message and stay open;
// the server's RSS grown per connection is read once steady, and again
// after a "gc" line on stdin has the child run debug.FreeOSMemory (RSS
// otherwise keeps the heap's peak), with its live heap. Crowd: in one
// server, 64 connections ping-pong alone for a window and leave, then the
// idle crowd comes and 64 new ones ping-pong beside it: the ratio of
// server CPU per request. Accept: churn on TCP echo, each client echoing
// one message and resetting, so the server reads a request and sees its
// peer close. Scaling: echo with the server at 1 to min(NumCPU, 4) loops,
// GOMAXPROCS to match, pinned to CPUs 0..loops-1 (EnvLoops), which it
// shares with the load generator beyond CPU 0.
//
// A cell is one (workload, server) pair measured over a window after a
// warm-up; RunMatrix interleaves servers (A B C A B C ...) over repetitions
// and reports the median and the spread.
//
// Usage:
//
//	if benchkit.ChildMain() { return } // first thing in main or TestMain
//	rows, err := benchkit.RunMatrix(benchkit.Config{...})
package benchkit
