// Command edgeloop runs edgeloop's demo services and its benchmarks.
//
//	edgeloop serve [--echo ADDR] [--backend NAME] [--loops N]
//	edgeloop backends
//	edgeloop bench [flags]
//
// serve runs every service on its default address when no service flag is
// given, or only the services named; a service flag set to "" disables that
// service. It prints "listening SERVICE tcp ADDR" for each, logs with
// log/slog, and shuts down gracefully on SIGINT or SIGTERM; a second signal
// during the shutdown exits at once. Its errors are single lines
// "edgeloop serve: ..." on stderr. Exit status: 0 after a graceful shutdown,
// 1 if serving failed, 2 for a bad command line (a flag out of range, an
// unknown backend: nothing is started), 3 if a second signal cut the
// shutdown short.
package main
