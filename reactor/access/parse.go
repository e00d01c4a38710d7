package access

import (
	"fmt"
	"net/netip"
	"strings"
)

// ParsePrefixes parses a comma-separated list of IPv4 and IPv6 networks in
// CIDR notation ("10.0.0.0/8,2001:db8::/32"), as the serve command's
// --allow and --deny take them. A bare address is a network of one
// (/32 or /128). Host bits are dropped (10.1.2.3/8 is 10.0.0.0/8, as
// Python's ip_network(strict=False) reads it), and an IPv4-mapped IPv6
// network of /96 or longer becomes the IPv4 network it maps, since peers
// are compared unmapped. Spaces around entries are ignored; an empty s is
// an empty list. Zones (fe80::1%eth0) are refused: they name an interface,
// not a network.
func ParsePrefixes(s string) ([]netip.Prefix, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []netip.Prefix
	for i, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			return nil, fmt.Errorf("access: entry %d of %q is empty", i+1, s)
		}
		p, err := parsePrefix(f)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// parsePrefix parses one network or address.
func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "%") {
		return netip.Prefix{}, fmt.Errorf("access: %q has a zone; give a network without one", s)
	}
	var p netip.Prefix
	if strings.Contains(s, "/") {
		var err error
		if p, err = netip.ParsePrefix(s); err != nil {
			return netip.Prefix{}, fmt.Errorf("access: %q is not a network in CIDR notation (such as 10.0.0.0/8 or 2001:db8::/32)", s)
		}
	} else {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("access: %q is not an IP address or a network in CIDR notation", s)
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	return normalize(p), nil
}

// normalize drops p's host bits and reads an IPv4-mapped network as IPv4.
func normalize(p netip.Prefix) netip.Prefix {
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p.Masked()
}
