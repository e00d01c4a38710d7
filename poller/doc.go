// Package poller is edgeloop's readiness notifier: a thin, allocation-free
// layer over epoll (Linux) and kqueue (BSD, macOS). An adapter over gnet's
// poller, for comparison, lives in its own package, poller/gnetpoll, so that
// this one imports nothing but the standard library and x/sys.
//
// The model is Go's runtime netpoller and Rust's mio: every file descriptor is
// registered once, for reading and writing, edge-triggered. An event means
// "something changed"; the caller then reads or writes until the system call
// reports EAGAIN, and keeps in user space what it learned. Nothing is
// re-armed, so there is no epoll_ctl per write.
//
// Usage:
//
//	p, err := poller.New() // epoll on Linux, kqueue on BSD
//	if err != nil { ... }
//	defer p.Close()
//	err = p.Register(fd, poller.Token(fd))
//	events := make([]poller.Event, 128) // owned by the caller, reused
//	n, err := p.Wait(events, -1)
//	for _, ev := range events[:n] {
//		if ev.Readable() { /* read until EAGAIN */ }
//	}
//
// The native backends are also constructible by name (Open("epoll")), as
// Python's selectors module keeps one class per mechanism beside its
// DefaultSelector, so one binary can compare them.
package poller
