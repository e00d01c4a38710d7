package access_test

import (
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgeloop/edgeloop/internal/logtest"
	"github.com/edgeloop/edgeloop/reactor/access"
)

func TestParsePrefixes(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     string // the prefixes, comma-joined; "" with err set
		err      string // a part of the error, or "" for none
	}{
		{"empty", "", "", ""},
		{"spaces only", "  ", "", ""},
		{"v4 and v6", "10.0.0.0/8,::1/128", "10.0.0.0/8,::1/128", ""},
		{"bare v4 is /32", "192.0.2.7", "192.0.2.7/32", ""},
		{"bare v6 is /128", "2001:db8::1", "2001:db8::1/128", ""},
		{"host bits dropped", "10.1.2.3/8", "10.0.0.0/8", ""},
		{"spaces around entries", " 10.0.0.0/8 , 2001:db8::/32 ", "10.0.0.0/8,2001:db8::/32", ""},
		{"v4-mapped network unmapped", "::ffff:10.0.0.0/104", "10.0.0.0/8", ""},
		{"v4-mapped address unmapped", "::ffff:10.1.2.3", "10.1.2.3/32", ""},
		{"v4-mapped short stays v6", "::ffff:0:0/80", "::/80", ""},
		{"empty entry", "10.0.0.0/8,,::1", "", "entry 2"},
		{"trailing comma", "10.0.0.0/8,", "", "entry 2"},
		{"not an address", "example.com", "", `"example.com" is not an IP address`},
		{"bad length", "10.0.0.0/33", "", "not a network in CIDR notation"},
		{"bad v6 length", "::/129", "", "not a network in CIDR notation"},
		{"zone", "fe80::1%eth0", "", "zone"},
		{"port", "10.0.0.1:80", "", "not an IP address"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := access.ParsePrefixes(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("ParsePrefixes(%q) = %v, %v; want an error with %q", tc.in, got, err, tc.err)
				}
				if !strings.HasPrefix(err.Error(), "access: ") {
					t.Errorf("error %q lacks the package prefix", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParsePrefixes(%q): %v", tc.in, err)
			}
			var s []string
			for _, p := range got {
				s = append(s, p.String())
			}
			if j := strings.Join(s, ","); j != tc.want {
				t.Errorf("ParsePrefixes(%q) = %s, want %s", tc.in, j, tc.want)
			}
		})
	}
}

// quiet is a logger that drops everything.
var quiet = slog.New(slog.DiscardHandler)

func prefixes(t *testing.T, s string) []netip.Prefix {
	t.Helper()
	p, err := access.ParsePrefixes(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestAdmitLists(t *testing.T) {
	a := netip.MustParseAddr
	for _, tc := range []struct {
		name        string
		allow, deny string
		peer        netip.Addr
		admit       bool
		reason      access.Reason
	}{
		{"no lists admits all", "", "", a("203.0.113.9"), true, 0},
		{"allowed", "10.0.0.0/8", "", a("10.9.9.9"), true, 0},
		{"not allowed", "10.0.0.0/8", "", a("11.0.0.1"), false, access.NotAllowed},
		{"denied", "", "10.0.0.0/8", a("10.0.0.1"), false, access.Denied},
		{"deny wins over allow", "10.0.0.0/8", "10.1.0.0/16", a("10.1.2.3"), false, access.Denied},
		{"allow beside deny", "10.0.0.0/8", "10.1.0.0/16", a("10.2.0.1"), true, 0},
		{"v4-mapped peer is v4", "10.0.0.0/8", "", a("::ffff:10.0.0.1"), true, 0},
		{"v4-mapped peer denied", "", "10.0.0.0/8", a("::ffff:10.0.0.1"), false, access.Denied},
		{"v4 network never holds v6", "0.0.0.0/0", "", a("2001:db8::1"), false, access.NotAllowed},
		{"v6 network never holds v4", "::/0", "", a("192.0.2.1"), false, access.NotAllowed},
		{"zone ignored", "", "fe80::/10", a("fe80::1%eth0"), false, access.Denied},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := access.New(access.Config{Allow: prefixes(t, tc.allow), Deny: prefixes(t, tc.deny), Logger: quiet})
			if got := r.Admit(tc.peer); got != tc.admit {
				t.Fatalf("Admit(%v) = %v, want %v", tc.peer, got, tc.admit)
			}
			st := r.Stats()
			if tc.admit {
				if st.Total() != 0 || st.Open != 1 {
					t.Errorf("after an admission: %+v, want no refusal and 1 open", st)
				}
				return
			}
			if st.Refused[tc.reason] != 1 || st.Total() != 1 || st.Open != 0 {
				t.Errorf("after a refusal for %v: %+v", tc.reason, st)
			}
		})
	}
}

func TestLimits(t *testing.T) {
	p1, p2, p3 := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2"), netip.MustParseAddr("2001:db8::3")
	t.Run("max-conns", func(t *testing.T) {
		r := access.New(access.Config{MaxConns: 2, Logger: quiet})
		if !r.Admit(p1) || !r.Admit(p2) {
			t.Fatal("the first two were refused")
		}
		if r.Admit(p3) {
			t.Fatal("a third was admitted over MaxConns=2")
		}
		if st := r.Stats(); st.Refused[access.MaxConns] != 1 || st.Open != 2 {
			t.Fatalf("stats %+v", st)
		}
		r.Release(p1)
		if !r.Admit(p3) {
			t.Fatal("refused after a release made room")
		}
	})
	t.Run("max-conns-per-ip", func(t *testing.T) {
		r := access.New(access.Config{MaxConnsPerIP: 2, Logger: quiet})
		mapped := netip.AddrFrom16(p1.As16()) // the same peer, as a dual-stack socket says it
		if !r.Admit(p1) || !r.Admit(mapped) {
			t.Fatal("the first two were refused")
		}
		if r.Admit(p1) {
			t.Fatal("a third from one peer was admitted over MaxConnsPerIP=2")
		}
		if !r.Admit(p2) {
			t.Fatal("another peer was refused")
		}
		if st := r.Stats(); st.Refused[access.MaxConnsPerIP] != 1 || st.Open != 3 || st.Peers != 2 {
			t.Fatalf("stats %+v, want 1 refusal, 3 open, 2 peers", st)
		}
		r.Release(mapped)
		if !r.Admit(p1) {
			t.Fatal("refused after a release made room")
		}
		r.Release(p1)
		r.Release(p1)
		r.Release(p2)
		if st := r.Stats(); st.Open != 0 || st.Peers != 0 {
			t.Fatalf("after every release: %+v, want nothing open and no peer kept", st)
		}
	})
	t.Run("concurrent", func(t *testing.T) {
		// Many goroutines, as many loops: every admission released leaves
		// nothing behind, and the limit is never exceeded.
		r := access.New(access.Config{MaxConns: 50, MaxConnsPerIP: 5, Logger: quiet})
		var wg sync.WaitGroup
		var mu sync.Mutex
		open, peak := 0, 0
		for g := range 16 {
			wg.Go(func() {
				for i := range 2000 {
					p := netip.AddrFrom4([4]byte{10, 0, byte(g), byte(i % 7)})
					if !r.Admit(p) {
						continue
					}
					mu.Lock()
					open++
					peak = max(peak, open)
					mu.Unlock()
					mu.Lock()
					open--
					mu.Unlock()
					r.Release(p)
				}
			})
		}
		wg.Wait()
		if st := r.Stats(); st.Open != 0 || st.Peers != 0 {
			t.Fatalf("after every release: %+v", st)
		}
		if peak > 50 {
			t.Fatalf("%d open at once, over MaxConns=50", peak)
		}
	})
}

// TestRefusalLogRateLimited: a flood of refusals writes the first at once
// and then at most one summary line per interval, whose counts add up to
// every refusal: nothing is lost, nothing floods.
func TestRefusalLogRateLimited(t *testing.T) {
	var rec logtest.Recorder
	const every = 200 * time.Millisecond
	r := access.New(access.Config{Deny: prefixes(t, "0.0.0.0/0"), Logger: slog.New(&rec), LogInterval: every})
	const n = 20000
	start := time.Now()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range n / 4 {
				r.Admit(netip.AddrFrom4([4]byte{10, byte(g), byte(i >> 8), byte(i)}))
			}
		})
	}
	wg.Wait()
	if rec.Count() == 0 {
		t.Fatal("the first refusal was not logged at once")
	}
	counted := func() uint64 {
		var sum uint64
		for _, x := range rec.Records() {
			switch x.Msg {
			case "access: connection refused":
				sum++
			case "access: connections refused":
				sum += x.Attrs["count"].(uint64)
			}
		}
		return sum
	}
	deadline := time.Now().Add(10 * time.Second)
	for counted() < n && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	elapsed := time.Since(start)
	if got := counted(); got != n {
		t.Fatalf("the log accounts for %d refusals, want %d", got, n)
	}
	lines := rec.Count()
	// One at once, then one per interval begun since.
	if limit := 2 + int(elapsed/every); lines > limit {
		t.Fatalf("%d refusals gave %d log lines in %v; want at most %d (one per %v)", n, lines, elapsed, limit, every)
	}
	if st := r.Stats(); st.Refused[access.Denied] != n {
		t.Errorf("counted %d denials, want %d", st.Refused[access.Denied], n)
	}
	t.Logf("%d refusals, %d lines in %v", n, lines, elapsed)
}
