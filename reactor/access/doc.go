// Package access decides who may connect: allow and deny lists of IPv4 and
// IPv6 networks, a limit on open connections and a limit per peer address.
// A Rules is a reactor.Admission, applied at accept before any handler runs.
//
// A peer is admitted when it matches no Deny network and, if Allow is not
// empty, matches an Allow network (deny wins), and when admitting it keeps
// the open connections within MaxConns and its own within MaxConnsPerIP
// (0: no limit). Addresses are compared unmapped: ::ffff:10.1.2.3 is
// 10.1.2.3, and an IPv4-mapped network written in IPv6 (::ffff:10.0.0.0/104)
// is read as the IPv4 one (10.0.0.0/8). Refusals are counted by reason
// (Stats) and logged, rate-limited: the first at once, then at most one
// summary line per LogInterval, however many arrive.
//
// Usage:
//
//	allow, err := access.ParsePrefixes("10.0.0.0/8,::1")
//	if err != nil { ... }
//	rules := access.New(access.Config{Allow: allow, MaxConnsPerIP: 64, Logger: log})
//	loop, err := reactor.New(reactor.WithAdmission(rules))
//	...
//	st := rules.Stats() // refusals by reason, connections open
package access
