// Package unixsock prepares and cleans up the file of a listening Unix
// domain socket, for the native loop and the backends alike.
//
// A socket file outlives the server that bound it if the server dies, and a
// new bind to the path then fails with EADDRINUSE. Prepare, run before the
// bind, removes such a stale file, but only when a connect to it is refused
// (nobody listens); a live server's file, or anything that is not a socket,
// is never removed. Bound records the file a bind just made (device and
// inode), and its Remove unlinks the path at shutdown only if it is still
// that file, so that a successor's socket at the same path survives the old
// server's shutdown.
//
//	path := unixsock.Path(address) // "unix:///run/x.sock" -> "/run/x.sock"
//	if err := unixsock.Prepare(path); err != nil { ... }
//	// socket, bind, listen
//	f, err := unixsock.Bound(path)
//	// ... at shutdown, after closing the listener:
//	f.Remove()
//
// A Linux abstract name ("@name", as package net writes it) has no file:
// Prepare and Remove do nothing for it.
package unixsock
