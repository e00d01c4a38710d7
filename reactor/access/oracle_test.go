package access_test

import (
	"bufio"
	"bytes"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"os/exec"
	"strings"
	"testing"

	"github.com/edgeloop/edgeloop/internal/extclient"
	"github.com/edgeloop/edgeloop/reactor/access"
)

// oracleScript reads "ADDRESS NETWORK" lines and prints 1 or 0 per line:
// whether Python's ipaddress puts the address in the network (strict=False:
// host bits dropped). Peers are compared unmapped, and an IPv4-mapped
// network of /96 or more is the IPv4 network it maps, as access documents;
// the script does both with ipaddress's own ipv4_mapped.
const oracleScript = `
import ipaddress, sys
out = []
for line in sys.stdin:
    a, n = line.split()
    a = ipaddress.ip_address(a)
    if a.version == 6 and a.ipv4_mapped is not None:
        a = a.ipv4_mapped
    n = ipaddress.ip_network(n, strict=False)
    if n.version == 6 and n.prefixlen >= 96 and n.network_address.ipv4_mapped is not None:
        n = ipaddress.ip_network((n.network_address.ipv4_mapped, n.prefixlen - 96))
    out.append("1" if a.version == n.version and a in n else "0")
sys.stdout.write("\n".join(out) + "\n")
`

// oracleCase is one address and one network, as text.
type oracleCase struct{ addr, net string }

// randomCases makes n cases over IPv4, IPv6 and IPv4-mapped IPv6 addresses
// and networks of every length, half of the addresses drawn inside their
// network (random host bits) so that both answers are common.
func randomCases(r *rand.Rand, n int) []oracleCase {
	v4 := func() netip.Addr {
		var b [4]byte
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return netip.AddrFrom4(b)
	}
	v6 := func() netip.Addr {
		var b [16]byte
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return netip.AddrFrom16(b)
	}
	mapped := func(a netip.Addr) netip.Addr { return netip.AddrFrom16(a.As16()) }
	// inside returns a with its first bits bits replaced by base's.
	inside := func(base, a netip.Addr, bits int) netip.Addr {
		if base.BitLen() != a.BitLen() {
			return a
		}
		x, y := base.As16(), a.As16()
		off := 0
		if base.Is4() {
			off = 12 * 8
		}
		for i := 0; i < bits; i++ {
			bit := off + i
			m := byte(0x80 >> (bit % 8))
			y[bit/8] = y[bit/8]&^m | x[bit/8]&m
		}
		out := netip.AddrFrom16(y)
		if base.Is4() {
			out = out.Unmap()
		}
		return out
	}
	cases := make([]oracleCase, 0, n)
	for range n {
		var base netip.Addr
		var bits int
		netText := ""
		switch r.IntN(3) {
		case 0:
			base, bits = v4(), r.IntN(33)
		case 1:
			base, bits = v6(), r.IntN(129)
		default: // an IPv4-mapped IPv6 network, of any length
			base, bits = mapped(v4()), r.IntN(129)
		}
		netText = fmt.Sprintf("%s/%d", base, bits)
		var a netip.Addr
		switch r.IntN(6) {
		case 0:
			a = v4()
		case 1:
			a = v6()
		case 2:
			a = mapped(v4())
		default: // inside the network, as written (mapped stays mapped)
			a = v4()
			if base.Is6() {
				a = v6()
			}
			a = inside(base, a, bits)
			if base.Is4In6() && r.IntN(2) == 0 {
				a = a.Unmap() // the plain IPv4 peer of a mapped network
			}
		}
		cases = append(cases, oracleCase{a.String(), netText})
	}
	return cases
}

// TestMatchAgreesWithPythonIpaddress: over random addresses and networks,
// a Rules allowing only the network admits exactly the addresses Python's
// ipaddress puts in it, and one denying it refuses exactly those.
func TestMatchAgreesWithPythonIpaddress(t *testing.T) {
	python := extclient.Need(t, "python3")
	const n = 20000
	cases := randomCases(rand.New(rand.NewPCG(13, 1)), n)
	var in bytes.Buffer
	for _, c := range cases {
		fmt.Fprintf(&in, "%s %s\n", c.addr, c.net)
	}
	cmd := exec.Command(python, "-c", oracleScript)
	cmd.Stdin = &in
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python3: %v\n%s", err, stderr.String())
	}
	var want []bool
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		want = append(want, strings.TrimSpace(sc.Text()) == "1")
	}
	if len(want) != n {
		t.Fatalf("python3 answered %d cases, want %d", len(want), n)
	}
	quiet := slog.New(slog.DiscardHandler)
	members, wrong := 0, 0
	for i, c := range cases {
		prefixes, err := access.ParsePrefixes(c.net)
		if err != nil {
			t.Fatalf("ParsePrefixes(%q): %v", c.net, err)
		}
		peer := netip.MustParseAddr(c.addr)
		allow := access.New(access.Config{Allow: prefixes, Logger: quiet})
		deny := access.New(access.Config{Deny: prefixes, Logger: quiet})
		gotAllow, gotDeny := allow.Admit(peer), deny.Admit(peer)
		if want[i] {
			members++
		}
		if gotAllow != want[i] || gotDeny != !want[i] {
			wrong++
			if wrong <= 10 {
				t.Errorf("%s in %s (parsed %v): python says %v; allow-list admits: %v, deny-list admits: %v",
					c.addr, c.net, prefixes, want[i], gotAllow, gotDeny)
			}
		}
	}
	if wrong > 0 {
		t.Errorf("%d of %d cases disagree with python", wrong, n)
	}
	// Both answers must be common, or the comparison proves little.
	if members < n/5 || members > n*4/5 {
		t.Errorf("%d of %d cases are members: the generator is skewed", members, n)
	}
	t.Logf("%d cases, %d members", n, members)
}
