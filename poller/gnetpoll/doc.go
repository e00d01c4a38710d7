// Package gnetpoll adapts gnet's own poller (github.com/panjf2000/gnet/v2,
// pkg/netpoll) to the poller.Poller interface, so that edgeloop's loop can
// run over either poller and the two can be compared on the same work.
//
// It lives outside package poller so that the core carries none of gnet's
// dependencies: only a program that imports this package pays for them.
// gnet uses its poller level-triggered, so Poller also implements
// poller.LevelTriggered and the reactor keeps its interest in step.
//
// Usage:
//
//	l, err := reactor.New(reactor.WithPoller(func() (poller.Poller, error) {
//		return gnetpoll.Open()
//	}))
package gnetpoll
