package main

import (
	"flag"
	"fmt"
	"log/slog"
	"strings"

	"github.com/edgeloop/edgeloop/reactor"
	"github.com/edgeloop/edgeloop/reactor/access"
)

// accessFlags are serve's flags for who may connect: --allow, --deny,
// --max-conns and --max-conns-per-ip.
type accessFlags struct {
	allow, deny        *string
	maxConns, maxPerIP *int
}

// addAccessFlags registers the access flags on fs.
func addAccessFlags(fs *flag.FlagSet) *accessFlags {
	return &accessFlags{
		allow: fs.String("allow", "", "accept TCP connections only from these networks: `CIDR`[,CIDR...], IPv4\n"+
			"or IPv6 (10.0.0.0/8,::1); a bare address is one host. Empty: from anywhere.\n"+
			"Refused (exit 2): an entry that is no address or network, an empty entry"),
		deny: fs.String("deny", "", "refuse TCP connections from these networks: `CIDR`[,CIDR...]. Deny wins\n"+
			"over --allow. Refused connections are closed at accept, before any service\n"+
			"sees them, counted, and logged at most once per 10s with their count.\n"+
			"--allow, --deny and the limits apply to TCP services only: not to UDP\n"+
			"datagrams, nor to Unix sockets (their file's permissions say who may connect)"),
		maxConns: fs.Int("max-conns", 0, "at most `N` TCP connections open at once, all services together; one\n"+
			"over it is refused at accept. 0: no limit. Refused (exit 2): a negative N"),
		maxPerIP: fs.Int("max-conns-per-ip", 0, "at most `N` TCP connections open at once from one peer address. 0: no\n"+
			"limit. Refused (exit 2): a negative N"),
	}
}

// options checks the flags and returns the reactor option that applies
// them, none if no flag asks for anything, appended to opts. An error is a
// usage error, one line.
func (a *accessFlags) options(opts []reactor.Option, log *slog.Logger) ([]reactor.Option, error) {
	allow, err := access.ParsePrefixes(*a.allow)
	if err != nil {
		return nil, fmt.Errorf("--allow: %s", strings.TrimPrefix(err.Error(), "access: "))
	}
	deny, err := access.ParsePrefixes(*a.deny)
	if err != nil {
		return nil, fmt.Errorf("--deny: %s", strings.TrimPrefix(err.Error(), "access: "))
	}
	if *a.maxConns < 0 {
		return nil, fmt.Errorf("--max-conns %d is out of range: give 0 (no limit) or more connections", *a.maxConns)
	}
	if *a.maxPerIP < 0 {
		return nil, fmt.Errorf("--max-conns-per-ip %d is out of range: give 0 (no limit) or more connections", *a.maxPerIP)
	}
	if len(allow) == 0 && len(deny) == 0 && *a.maxConns == 0 && *a.maxPerIP == 0 {
		return opts, nil // no Admission: accept keeps its fast path
	}
	rules := access.New(access.Config{Allow: allow, Deny: deny, MaxConns: *a.maxConns, MaxConnsPerIP: *a.maxPerIP, Logger: log})
	log.Info("access rules", "allow", *a.allow, "deny", *a.deny, "max_conns", *a.maxConns, "max_conns_per_ip", *a.maxPerIP)
	return append(opts, reactor.WithAdmission(rules)), nil
}
