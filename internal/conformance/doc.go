// Package conformance is the behaviour suite that every reactor backend must
// pass, in the shape of CPython's BaseSelectorTestCase: each test runs once
// per name in backend.Names(), as a subtest "backend=NAME", against a Loop
// made with backend.New(NAME).
//
// The tests talk to the Loop only over loopback TCP (127.0.0.1:0) with Go's
// net package as the client, and observe the server through handler
// wrappers, so they hold for any backend, native or not. Every wait has a
// deadline; nothing sleeps to let something happen.
//
// A backend that cannot meet a behaviour by design is listed in Limits with
// the reason; its subtest is skipped with that reason rather than deleted, so
// the gap stays visible in `go test -v` output. Everything else is a failure.
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
