//go:build netbsd || openbsd

package reactor

// setNoSigpipe does nothing where SO_NOSIGPIPE does not exist; Go's runtime
// ignores SIGPIPE on descriptors other than stdout and stderr.
func setNoSigpipe(int) {}
