// Package acceptfail says what a failed accept means for a listener, and
// logs a run of failures once, for the native loop (package reactor) and the
// net backend alike.
//
// Classify sorts an accept error into three kinds. Retry: the error concerns
// one connection of the backlog (it was aborted, or the network under it
// went away), so accept the next at once; `man 2 accept` asks Linux servers
// to treat these like EAGAIN. Resources: the process or the system is out of
// descriptors or memory; the connection stays in the backlog, and the
// listener waits for a descriptor to come free. Broken: anything else, which
// means the listening socket itself is failing.
//
// An Episode is one run of failures on one listener, from the first until
// the backlog is empty again. It logs twice at most: when it starts, and
// when it ends, with how many accepts failed and for how long.
//
//	var failed acceptfail.Episode
//	for {
//		fd, err := accept(lfd)
//		switch {
//		case err == unix.EAGAIN:
//			failed.End(log, "reactor") // nothing waits
//			// wait for readiness
//		case err == nil:
//			// serve fd
//		case acceptfail.Classify(err) == acceptfail.Retry:
//			continue
//		default:
//			failed.Fail(log, "reactor", err)
//			// rest, then try again
//		}
//	}
package acceptfail
