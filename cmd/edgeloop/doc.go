// Command edgeloop runs edgeloop's demo services and its benchmarks.
//
//	edgeloop serve [--echo ADDR] [--backend NAME] [--loops N]
//	edgeloop backends
//
// serve runs every service on its default address when no service flag is
// given, or only the services named; a service flag set to "" disables that
// service. It prints "listening SERVICE tcp ADDR" for each, logs with
// log/slog, and shuts down gracefully on SIGINT or SIGTERM.
package main
