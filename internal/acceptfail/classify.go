package acceptfail

import (
	"errors"
	"syscall"

	"golang.org/x/sys/unix"
)

// Kind is what a failed accept means for the listener.
type Kind uint8

const (
	// Retry: the error concerns the connection accept was taking, not the
	// listener; the next one may be fine, so accept again at once.
	Retry Kind = iota
	// Resources: the process or the system is out of descriptors or
	// memory. The connection stays in the backlog; wait until a descriptor
	// is free.
	Resources
	// Broken: the listening socket itself fails (EBADF, EINVAL, ENOTSOCK,
	// or an error this package does not know). Waiting is all a server
	// can do short of closing it.
	Broken
)

// String returns the kind's name, for logs and test failures.
func (k Kind) String() string {
	switch k {
	case Retry:
		return "retry"
	case Resources:
		return "resources"
	default:
		return "broken"
	}
}

// Classify returns the Kind of err, an error from accept: a bare
// syscall.Errno or anything wrapping one (os.SyscallError, net.OpError).
// EAGAIN is no failure and must be handled before: it means the backlog is
// empty, and retrying on it would spin.
func Classify(err error) Kind {
	errno, ok := err.(syscall.Errno) // the native loop's case: no reflection
	if !ok && !errors.As(err, &errno) {
		return Broken
	}
	switch errno {
	case unix.ECONNABORTED, unix.EINTR:
		// A connection of the backlog was reset before it was taken, or a
		// signal came: nothing to do with the listener.
		return Retry
	case unix.ENETDOWN, unix.EPROTO, unix.ENOPROTOOPT, unix.EHOSTDOWN,
		unix.EHOSTUNREACH, unix.EOPNOTSUPP, unix.ENETUNREACH:
		// Network errors already pending on the new connection, which
		// Linux's accept passes on (`man 2 accept`: treat them like
		// EAGAIN by retrying).
		return Retry
	case unix.ETIMEDOUT, unix.ESOCKTNOSUPPORT, unix.EPROTONOSUPPORT:
		// Errors `man 2 accept` says various Linux kernels return for the
		// new connection (with ENOSR, which only some systems define:
		// retryOS); the listener that took it is fine.
		return Retry
	case unix.EPERM:
		// Linux: firewall rules forbid this connection, not the next.
		return Retry
	case unix.EMFILE, unix.ENFILE, unix.ENOBUFS, unix.ENOMEM:
		return Resources
	}
	if retryOS(errno) {
		return Retry
	}
	return Broken
}
