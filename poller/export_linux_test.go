//go:build linux

package poller

// EventFromEpoll is the Event Wait builds from epoll bits, for tests that
// compare what the kernel reports with what callers see.
func EventFromEpoll(bits uint32) Event { return Event{flags: fromEpoll(bits)} }
