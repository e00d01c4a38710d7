//go:build unix && !linux

package poller_test

import (
	"syscall"
	"testing"
)

// canAimSignals reports whether signalThread can interrupt one given thread:
// not without tgkill.
const canAimSignals = false

// threadID returns 0: there is no portable thread ID.
func threadID() int { return 0 }

// signalThread is unavailable here; tests check canAimSignals first.
func signalThread(t testing.TB, tid int, sig syscall.Signal) {
	t.Helper()
	t.Skip("no way to signal one thread on this OS")
}

// blockedInSyscall cannot see thread state without /proc, so tests that use
// it still run but may act before the Wait under test has blocked.
func blockedInSyscall(t testing.TB, tid int) {}

// openFDs returns -1: there is no cheap portable count.
func openFDs() int { return -1 }
