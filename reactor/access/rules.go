package access

import (
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgeloop/edgeloop/reactor"
)

var _ reactor.Admission = (*Rules)(nil)

// Config is what New builds a Rules from. Its zero value admits everyone.
type Config struct {
	// Allow, if not empty, lists the networks peers must come from.
	Allow []netip.Prefix
	// Deny lists networks whose peers are refused, whatever Allow says.
	Deny []netip.Prefix
	// MaxConns bounds the connections admitted and still open; 0: no limit.
	MaxConns int
	// MaxConnsPerIP bounds them per peer address; 0: no limit.
	MaxConnsPerIP int
	// Logger receives refusals, rate-limited (default slog.Default()).
	Logger *slog.Logger
	// LogInterval is the least time between two refusal lines (default
	// 10 s): the first refusal is logged at once, those that follow within
	// the interval in one summary line at its end.
	LogInterval time.Duration
}

// DefaultLogInterval is Config.LogInterval's default.
const DefaultLogInterval = 10 * time.Second

// Reason is why a peer was refused.
type Reason uint8

const (
	// Denied: the peer is in a Deny network.
	Denied Reason = iota
	// NotAllowed: Allow is not empty and the peer is in none of its networks.
	NotAllowed
	// MaxConns: MaxConns connections are open.
	MaxConns
	// MaxConnsPerIP: MaxConnsPerIP connections from the peer are open.
	MaxConnsPerIP
	numReasons
)

// String returns the reason as the log and the stats name it.
func (r Reason) String() string {
	switch r {
	case Denied:
		return "denied"
	case NotAllowed:
		return "not-allowed"
	case MaxConns:
		return "max-conns"
	case MaxConnsPerIP:
		return "max-conns-per-ip"
	}
	return fmt.Sprintf("Reason(%d)", uint8(r))
}

// Stats is a snapshot of a Rules' counters.
type Stats struct {
	// Refused counts refusals by Reason since New.
	Refused [numReasons]uint64
	// Open is the number of connections admitted and not yet released.
	Open int
	// Peers is the number of peer addresses with connections open, when
	// MaxConnsPerIP is set (0 otherwise: they are not tracked).
	Peers int
}

// Total returns the refusals for all reasons.
func (s Stats) Total() uint64 {
	var n uint64
	for _, v := range s.Refused {
		n += v
	}
	return n
}

// Rules is a reactor.Admission built from a Config; make one with New. It
// is safe for concurrent use, as the reactor's event loops call it. The
// lists are read without a lock (they never change); the counts of open
// connections are under one mutex, held for a map access.
type Rules struct {
	allow, deny []netip.Prefix
	max, perIP  int

	mu    sync.Mutex
	open  int
	peers map[netip.Addr]int // open connections by peer, when perIP > 0; no zero entries

	refused [numReasons]atomic.Uint64
	log     refusalLog
}

// New returns the Rules c describes. The prefixes are used as given after
// dropping host bits and unmapping IPv4-mapped networks (see
// ParsePrefixes); negative limits mean no limit.
func New(c Config) *Rules {
	r := &Rules{max: max(c.MaxConns, 0), perIP: max(c.MaxConnsPerIP, 0)}
	for _, p := range c.Allow {
		r.allow = append(r.allow, normalize(p))
	}
	for _, p := range c.Deny {
		r.deny = append(r.deny, normalize(p))
	}
	if r.perIP > 0 {
		r.peers = make(map[netip.Addr]int)
	}
	r.log.log = c.Logger
	if r.log.log == nil {
		r.log.log = slog.Default()
	}
	r.log.every = c.LogInterval
	if r.log.every <= 0 {
		r.log.every = DefaultLogInterval
	}
	return r
}

// Admit implements reactor.Admission: it reports whether a connection from
// peer is served, and counts it open if so. peer is compared unmapped and
// without a zone, whoever passes it.
func (r *Rules) Admit(peer netip.Addr) bool {
	peer = key(peer)
	if reason, ok := r.check(peer); !ok {
		r.refuse(peer, reason)
		return false
	}
	if r.max == 0 && r.perIP == 0 {
		r.mu.Lock()
		r.open++
		r.mu.Unlock()
		return true
	}
	r.mu.Lock()
	switch {
	case r.max > 0 && r.open >= r.max:
		r.mu.Unlock()
		r.refuse(peer, MaxConns)
		return false
	case r.perIP > 0 && r.peers[peer] >= r.perIP:
		r.mu.Unlock()
		r.refuse(peer, MaxConnsPerIP)
		return false
	}
	r.open++
	if r.perIP > 0 {
		r.peers[peer]++
	}
	r.mu.Unlock()
	return true
}

// Release implements reactor.Admission: a connection Admit admitted from
// peer has closed. A peer's entry goes when its last connection does, so
// that the table holds only peers with connections open.
func (r *Rules) Release(peer netip.Addr) {
	peer = key(peer)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.open > 0 {
		r.open--
	}
	if r.perIP > 0 {
		switch n := r.peers[peer]; {
		case n > 1:
			r.peers[peer] = n - 1
		case n == 1:
			delete(r.peers, peer)
		}
	}
}

// Allowed reports whether the lists admit peer, limits aside, and if not,
// why (Denied or NotAllowed).
func (r *Rules) Allowed(peer netip.Addr) (Reason, bool) { return r.check(key(peer)) }

// check applies the lists: deny wins, then a non-empty allow list must
// match.
func (r *Rules) check(peer netip.Addr) (Reason, bool) {
	if contains(r.deny, peer) {
		return Denied, false
	}
	if len(r.allow) > 0 && !contains(r.allow, peer) {
		return NotAllowed, false
	}
	return 0, true
}

// contains reports whether a network of list holds a. An IPv4 network
// never holds an IPv6 address, nor the reverse: peers come unmapped.
func contains(list []netip.Prefix, a netip.Addr) bool {
	for _, p := range list {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// key is peer as the Rules compares and counts it.
func key(peer netip.Addr) netip.Addr { return peer.Unmap().WithZone("") }

// Stats returns the counters now.
func (r *Rules) Stats() Stats {
	var s Stats
	for i := range r.refused {
		s.Refused[i] = r.refused[i].Load()
	}
	r.mu.Lock()
	s.Open, s.Peers = r.open, len(r.peers)
	r.mu.Unlock()
	return s
}

// refuse counts a refusal and logs it, rate-limited.
func (r *Rules) refuse(peer netip.Addr, reason Reason) {
	r.refused[reason].Add(1)
	r.log.refused(peer, reason)
}

// refusalLog logs refusals: the first of a quiet spell at once, the rest
// counted and logged in one line when the interval since the last line
// ends (a timer), so that a flood of refusals writes one line per interval
// and nothing is left unsaid when it stops.
type refusalLog struct {
	log   *slog.Logger
	every time.Duration

	mu      sync.Mutex
	next    time.Time          // no line before this
	pending [numReasons]uint64 // refusals since the last line
	last    netip.Addr         // the latest of them
	timer   *time.Timer        // will write the summary; nil if none is due
}

// refused logs or counts one refusal.
func (g *refusalLog) refused(peer netip.Addr, reason Reason) {
	now := time.Now()
	g.mu.Lock()
	if g.timer == nil && !now.Before(g.next) {
		g.next = now.Add(g.every)
		g.mu.Unlock()
		g.log.Info("access: connection refused", "peer", peer, "reason", reason.String())
		return
	}
	g.pending[reason]++
	g.last = peer
	if g.timer == nil {
		g.timer = time.AfterFunc(g.next.Sub(now), g.summary)
	}
	g.mu.Unlock()
}

// summary logs the refusals counted since the last line.
func (g *refusalLog) summary() {
	g.mu.Lock()
	p, last := g.pending, g.last
	g.pending, g.timer = [numReasons]uint64{}, nil
	g.next = time.Now().Add(g.every)
	g.mu.Unlock()
	attrs := []any{"count", uint64(0), "last_peer", last, "interval", g.every.String()}
	var total uint64
	for i, n := range p {
		if n > 0 {
			attrs = append(attrs, Reason(i).String(), n)
			total += n
		}
	}
	attrs[1] = total
	g.log.Info("access: connections refused", attrs...)
}
