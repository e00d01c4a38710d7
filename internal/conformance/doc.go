// Package conformance is the behaviour suite that every reactor backend must
// pass, in the shape of CPython's BaseSelectorTestCase: each test runs once
// per name in backend.Names(), as a subtest "backend=NAME", against a Loop
// made with backend.New(NAME).
//
// The tests talk to the Loop only over loopback TCP and UDP (127.0.0.1:0,
// and ":0" for the dual-stack case) with Go's net package as the client,
// and observe the server through handler wrappers, so they hold for any
// backend, native or not. Where no handler
// call tells (bytes the server's kernel holds, a FIN it has queued), they
// ask the kernel: SIOCOUTQ on the client, /proc/net/tcp for the server's
// sockets (Linux). Every wait has a deadline; nothing sleeps to let
// something happen.
//
// A backend that cannot meet a behaviour by design is listed in Limits with
// the reason; its subtest is skipped with that reason rather than deleted, so
// the gap stays visible in `go test -v` output. A test that can still check
// part of a behaviour asks Limited instead, and logs the reason for what it
// leaves out. Everything else is a failure.
//
// Usage:
//
//	go test -race -count=1 ./internal/conformance/
//	go test -run 'TestHalfClose/backend=gnetpoll' -v ./internal/conformance/
//
// The exported helpers (ForEachBackend, Start, DialTCP, Exchange, WaitFor,
// CountFDs, Payload) are for other packages' tests that need the same
// per-backend set-up.
package conformance
