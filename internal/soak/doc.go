// Package soak holds the soak test: every service of edgeloop serve (echo,
// daytime and time over TCP and UDP, SNTP, NPY arrays, questions and
// answers, line echo) under mixed,
// concurrent load on each backend, every answer checked byte for byte or
// parsed, and the process checked afterwards for leaked descriptors,
// goroutines and heap.
//
// go test runs a short version (-soak.duration 1s per backend). The bounded
// long run is scripted:
//
//	scripts/soak            # 60 s per backend
//	scripts/soak 5m epoll   # 5 minutes, the native loop only
package soak
