package rules

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/sluicehq/sluice/algorithm"
	"github.com/sluicehq/sluice/store"
)

// Wildcard is the key_value of a rule that matches every value of its key
// type.
const Wildcard = "*"

// Attributes describe one request to resolve: who is calling, from where,
// on what. Empty fields are unknown and match no rule of their key type
// (an anonymous caller has no user_id rules; a request without a route has
// no route rules). Global rules always apply; plan-scoped rules apply only
// when Plan equals their plan. Values are not length-checked here: counter
// keys carry them, and the limiter rejects over-long keys, so bound
// identities where they enter (headers, tokens).
type Attributes struct {
	// UserID is the authenticated user, if any.
	UserID string
	// IP is the caller's address in text form ("203.0.113.7", "2001:db8::1").
	// An IPv4-mapped IPv6 address counts as its IPv4 address. Text that is
	// not an address matches no ip rule.
	IP string
	// APIKey identifies the caller's API key. It becomes part of counter
	// keys, so pass the key's public identifier or a hash, never the secret.
	APIKey string
	// Route is the request path, without the query string ("/api/chat").
	Route string
	// Method is the HTTP method ("GET"), compared case-insensitively with a
	// route rule's method.
	Method string
	// Plan is the caller's plan ("free", "pro"), if known.
	Plan string
}

// Match is one limit that applies to a request: the winning rule of one key
// type, the counter it counts on, and its limit.
type Match struct {
	// Rule is the winning rule. It points into an immutable snapshot and
	// must not be modified.
	Rule *Rule
	// KeyType is the rule's key type.
	KeyType KeyType
	// Key is the counter key, built with store.JoinKey("rule", key type,
	// resolved value...). For user_id, api_key and ip it holds the caller's
	// value, so every caller has its own counter whichever rule matched;
	// for route it holds the rule's pattern and method (and plan, when the
	// rule has one), one counter shared by every caller of the route; for
	// plan it holds the plan, one counter shared by every caller on the
	// plan; for global there is one counter (per plan, when scoped).
	Key string
	// Limit is the rule's limit.
	Limit algorithm.Limit
	// Shadow reports that the rule is in shadow mode: evaluate and record
	// its decision, but never block on it.
	Shadow bool
	// Fallback reports that no rules were ever loaded and this match comes
	// from the resolver's configured fallback.
	Fallback bool
}

// Resolution levels, most specific first.
const (
	levelExact  = iota // the key value itself
	levelPrefix        // a CIDR or a route pattern; longer first
	levelPlan          // "*" scoped to the caller's plan
	levelAny           // "*"
)

// entry is one compiled rule.
type entry struct {
	rule   *Rule
	limit  algorithm.Limit
	level  int
	spec   int    // specificity within the level: CIDR bits, pattern specificity
	key    string // the counter key when it does not depend on the caller
	plan   string
	method string
	pat    Pattern
	shadow bool
}

// outranks reports whether a wins over b when both match: lower level,
// then higher specificity, then plan- and method-scoped before unscoped,
// then higher priority, then the smaller id (so the winner is stable).
func outranks(a, b *entry) bool { return compareEntries(a, b) < 0 }

func compareEntries(a, b *entry) int {
	if c := cmp.Compare(a.level, b.level); c != 0 {
		return c
	}
	if c := cmp.Compare(b.spec, a.spec); c != 0 {
		return c
	}
	if c := cmp.Compare(boolRank(a.plan != ""), boolRank(b.plan != "")); c != 0 {
		return c
	}
	if c := cmp.Compare(boolRank(a.method != ""), boolRank(b.method != "")); c != 0 {
		return c
	}
	if c := cmp.Compare(b.rule.Priority, a.rule.Priority); c != 0 {
		return c
	}
	return cmp.Compare(a.rule.ID, b.rule.ID)
}

// boolRank orders true before false.
func boolRank(b bool) int {
	if b {
		return 0
	}
	return 1
}

// applies reports whether e's plan and method scopes admit the request.
func (e *entry) applies(a *Attributes) bool {
	if e.plan != "" && e.plan != a.Plan {
		return false
	}
	return e.methodOK(a)
}

// methodOK reports whether e's method scope admits the request.
func (e *entry) methodOK(a *Attributes) bool {
	return e.method == "" || e.method == a.Method || strings.EqualFold(e.method, a.Method)
}

// group holds the rules that share one key (an exact value, a CIDR prefix,
// "*"), split by plan scope. Within a group a plan-scoped rule outranks an
// unscoped one (see compareEntries), so a lookup tries the caller's plan
// first and never scans the rules of other plans. Entries are held by
// value, and groups by value in their maps, so a lookup touches little
// memory.
type group struct {
	byPlan map[string][]entry // nil until a plan-scoped rule is added
	open   []entry            // rules without a plan
}

func (g *group) add(e *entry) {
	if e.plan == "" {
		g.open = append(g.open, *e)
		return
	}
	if g.byPlan == nil {
		g.byPlan = map[string][]entry{}
	}
	g.byPlan[e.plan] = append(g.byPlan[e.plan], *e)
}

func (g *group) sort() {
	byRank := func(a, b entry) int { return compareEntries(&a, &b) }
	for _, es := range g.byPlan {
		slices.SortFunc(es, byRank)
	}
	slices.SortFunc(g.open, byRank)
}

// first returns the winning rule of the group for a, or nil. The zero
// group has none.
func (g group) first(a *Attributes) *entry {
	if g.byPlan != nil && a.Plan != "" {
		es := g.byPlan[a.Plan]
		for i := range es {
			if es[i].methodOK(a) {
				return &es[i]
			}
		}
	}
	for i := range g.open {
		if g.open[i].methodOK(a) {
			return &g.open[i]
		}
	}
	return nil
}

// addTo adds e to the group m[k], creating it.
func addTo[K comparable](m map[K]group, k K, e *entry) {
	g := m[k]
	g.add(e)
	m[k] = g
}

func sortGroups[K comparable](m map[K]group) {
	for _, g := range m {
		g.sort() // sorts the shared backing arrays in place
	}
}

// Index is a compiled, immutable set of rules that resolves requests
// without I/O. Build one with NewIndex; it is safe for concurrent use.
// The Resolver swaps a new Index in atomically on every refresh.
type Index struct {
	users   valueTable
	apiKeys valueTable
	plans   valueTable
	ips     ipTable
	routes  routeTable
	global  group
	rules   int
	skipped []error
}

// valueTable holds the rules of a key type matched by exact value.
type valueTable struct {
	exact map[string]group
	any   group // "*"
}

// NewIndex compiles rules into an Index. Disabled rules are left out. A
// rule that fails Rule.Validate is left out too, and reported by Skipped:
// one bad row never hides the others. Rules are compiled in their
// Canonical form.
func NewIndex(rs []Rule) *Index {
	ix := &Index{
		users:   valueTable{exact: map[string]group{}},
		apiKeys: valueTable{exact: map[string]group{}},
		plans:   valueTable{exact: map[string]group{}},
		ips:     newIPTable(),
		routes:  newRouteTable(),
	}
	own := slices.Clone(rs) // entries point into this copy, never into the caller's slice
	for i := range own {
		r := &own[i]
		if !r.Enabled {
			continue
		}
		if err := ix.add(r); err != nil {
			ix.skipped = append(ix.skipped, fmt.Errorf("rule %s (%s %q): %w", r.ID, r.KeyType, r.KeyValue, err))
			continue
		}
		ix.rules++
	}
	ix.users.sort()
	ix.apiKeys.sort()
	ix.plans.sort()
	ix.ips.sort()
	ix.routes.sort()
	ix.global.sort()
	return ix
}

// Len returns the number of rules in the index.
func (ix *Index) Len() int { return ix.rules }

// Skipped returns one error for each enabled rule NewIndex left out.
func (ix *Index) Skipped() []error { return slices.Clone(ix.skipped) }

func (ix *Index) add(r *Rule) error {
	*r = r.Canonical()
	lim, err := r.AlgorithmLimit() // validates r
	if err != nil {
		return err
	}
	e := &entry{rule: r, limit: lim, plan: r.Plan, method: strings.ToUpper(r.Method), level: levelExact, shadow: r.Shadow}
	if r.KeyValue == Wildcard {
		e.level = levelAny
		if r.Plan != "" {
			e.level = levelPlan
		}
	}
	switch r.KeyType {
	case KeyUserID:
		ix.users.add(e)
	case KeyAPIKey:
		ix.apiKeys.add(e)
	case KeyPlan:
		ix.plans.add(e)
	case KeyIP:
		return ix.ips.add(e)
	case KeyRoute:
		return ix.routes.add(e)
	case KeyGlobal:
		e.key = sharedKey(KeyGlobal, r.Plan)
		ix.global.add(e)
	default:
		return fmt.Errorf("unknown key type %q", r.KeyType)
	}
	return nil
}

// sharedKey is the counter key of a rule whose counter does not depend on
// the caller: "rule", the key type, the parts, and the rule's plan when it
// has one (so that plan-scoped twins never share a counter).
func sharedKey(kt KeyType, plan string, parts ...string) string {
	all := append([]string{"rule", string(kt)}, parts...)
	if plan != "" {
		all = append(all, plan)
	}
	return store.JoinKey(all...)
}

func (t *valueTable) add(e *entry) {
	if e.level == levelExact {
		// The caller's value equals the rule's: the key can be built now.
		e.key = store.JoinKey("rule", string(e.rule.KeyType), e.rule.KeyValue)
		addTo(t.exact, e.rule.KeyValue, e)
		return
	}
	t.any.add(e)
}

func (t *valueTable) sort() {
	sortGroups(t.exact)
	t.any.sort()
}

// lookup returns the winning entry for value v, or nil.
func (t *valueTable) lookup(v string, a *Attributes) *entry {
	if v == "" {
		return nil
	}
	if e := t.exact[v].first(a); e != nil {
		return e
	}
	return t.any.first(a)
}

// Resolve appends to out, and returns, the limits that apply to the
// request a: for each key type, the winning enabled rule (exact value >
// CIDR or route pattern, longest first > "*" scoped to the caller's plan >
// "*"; ties go to plan- and method-scoped rules, then to the higher
// priority, then to the smaller id). Matches come in the order user_id,
// api_key, ip, route, plan, global. Every match is its own counter; check
// them together, all-or-nothing. With out[:0] of a reused slice, the only
// allocations are the counter keys that hold a caller's value: one per
// user_id, api_key or ip match whose rule is not an exact value, and one
// per plan match of a "*" plan rule.
func (ix *Index) Resolve(a Attributes, out []Match) []Match {
	return ix.resolve(&a, out, false)
}

func (ix *Index) resolve(a *Attributes, out []Match, fallback bool) []Match {
	if e := ix.users.lookup(a.UserID, a); e != nil {
		out = appendMatch(out, e, KeyUserID, a.UserID, fallback)
	}
	if e := ix.apiKeys.lookup(a.APIKey, a); e != nil {
		out = appendMatch(out, e, KeyAPIKey, a.APIKey, fallback)
	}
	if a.IP != "" {
		out = ix.ips.resolve(a, out, fallback)
	}
	if e := ix.routes.lookup(a); e != nil {
		out = appendMatch(out, e, KeyRoute, "", fallback)
	}
	if e := ix.plans.lookup(a.Plan, a); e != nil {
		out = appendMatch(out, e, KeyPlan, a.Plan, fallback)
	}
	if e := ix.global.first(a); e != nil {
		out = appendMatch(out, e, KeyGlobal, "", fallback)
	}
	return out
}

// appendMatch appends e's match; value is the caller's value, used for the
// counter key when e's key depends on the caller.
func appendMatch(out []Match, e *entry, kt KeyType, value string, fallback bool) []Match {
	key := e.key
	if key == "" {
		key = store.JoinKey("rule", string(kt), value)
	}
	return append(out, Match{
		Rule:     e.rule,
		KeyType:  kt,
		Key:      key,
		Limit:    e.limit,
		Shadow:   e.shadow,
		Fallback: fallback,
	})
}

// ipTable holds ip rules: exact addresses, CIDR prefixes by family, "*".
type ipTable struct {
	exact  map[netip.Addr]group
	v4, v6 cidrTable
	any    group
}

// u128 is an address as a number: IPv4 in lo, IPv6 in hi and lo.
type u128 struct{ hi, lo uint64 }

func (x u128) less(y u128) bool { return x.hi < y.hi || (x.hi == y.hi && x.lo < y.lo) }

func addrNum(a netip.Addr) u128 {
	b := a.As16()
	return u128{hi: binary.BigEndian.Uint64(b[:8]), lo: binary.BigEndian.Uint64(b[8:])}
}

// cidrTable holds the CIDR rules of one address family as address ranges
// sorted by start (then shorter prefix first), each linked to the nearest
// prefix that contains it. CIDR prefixes either nest or are disjoint, so
// the longest prefix holding an address is the last one starting at or
// before it, or one of that prefix's ancestors: a binary search and a
// short walk up, whatever the number of prefixes and lengths.
type cidrTable struct {
	byPrefix map[netip.Prefix]group // while building
	nodes    []cidrNode
}

type cidrNode struct {
	start, end u128
	bits       int
	parent     int // index of the nearest containing node, -1 for none
	g          group
}

func (ct *cidrTable) add(p netip.Prefix, e *entry) {
	if ct.byPrefix == nil {
		ct.byPrefix = map[netip.Prefix]group{}
	}
	addTo(ct.byPrefix, p, e)
}

// build sorts the groups and turns the prefixes into linked ranges.
func (ct *cidrTable) build() {
	for p, g := range ct.byPrefix {
		g.sort()
		start := addrNum(p.Addr())
		hostBits := p.Addr().BitLen() - p.Bits()
		end := start
		switch {
		case hostBits >= 64:
			end.lo = ^uint64(0)
			end.hi |= ^uint64(0) >> (128 - hostBits)
		case hostBits > 0:
			end.lo |= ^uint64(0) >> (64 - hostBits)
		}
		ct.nodes = append(ct.nodes, cidrNode{start: start, end: end, bits: p.Bits(), g: g})
	}
	ct.byPrefix = nil
	slices.SortFunc(ct.nodes, func(a, b cidrNode) int {
		if a.start != b.start {
			if a.start.less(b.start) {
				return -1
			}
			return 1
		}
		return cmp.Compare(a.bits, b.bits)
	})
	var open []int // the chain of nodes containing the current one
	for i := range ct.nodes {
		n := &ct.nodes[i]
		for len(open) > 0 && ct.nodes[open[len(open)-1]].end.less(n.start) {
			open = open[:len(open)-1]
		}
		n.parent = -1
		if len(open) > 0 {
			n.parent = open[len(open)-1]
		}
		open = append(open, i)
	}
}

// lookup returns the rule of the longest prefix holding x that applies
// to a, or nil.
func (ct *cidrTable) lookup(x u128, a *Attributes) *entry {
	// The last node starting at or before x.
	i, _ := slices.BinarySearchFunc(ct.nodes, x, func(n cidrNode, x u128) int {
		if x.less(n.start) {
			return 1
		}
		return -1
	})
	for i--; i >= 0; i = ct.nodes[i].parent {
		n := &ct.nodes[i]
		if !n.end.less(x) {
			if e := n.g.first(a); e != nil {
				return e
			}
		}
	}
	return nil
}

func newIPTable() ipTable {
	return ipTable{
		exact: map[netip.Addr]group{},
	}
}

func (t *ipTable) add(e *entry) error {
	v := e.rule.KeyValue
	switch {
	case e.level != levelExact:
		t.any.add(e)
	case strings.Contains(v, "/"):
		p, err := netip.ParsePrefix(v)
		if err != nil {
			return fmt.Errorf("ip key value: %w", err)
		}
		p = canonicalPrefix(p)
		e.level, e.spec = levelPrefix, p.Bits()
		if p.Addr().Is4() {
			t.v4.add(p, e)
		} else {
			t.v6.add(p, e)
		}
	default:
		addr, err := netip.ParseAddr(v)
		if err != nil {
			return fmt.Errorf("ip key value: %w", err)
		}
		addr = addr.Unmap().WithZone("")
		e.key = store.JoinKey("rule", string(KeyIP), addr.String())
		addTo(t.exact, addr, e)
	}
	return nil
}

// canonicalPrefix masks p and turns an IPv4-mapped IPv6 prefix into IPv4.
func canonicalPrefix(p netip.Prefix) netip.Prefix {
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p.Masked()
}

func (t *ipTable) sort() {
	sortGroups(t.exact)
	t.v4.build()
	t.v6.build()
	t.any.sort()
}

func (t *ipTable) resolve(a *Attributes, out []Match, fallback bool) []Match {
	addr, err := netip.ParseAddr(a.IP)
	if err != nil {
		return out
	}
	addr = addr.Unmap().WithZone("")
	e := t.exact[addr].first(a)
	if e == nil {
		e = t.lookupPrefix(addr, a)
	}
	if e == nil {
		e = t.any.first(a)
	}
	if e == nil {
		return out
	}
	// The counter is the caller's address in canonical form, so that
	// "::ffff:10.0.0.1" and "10.0.0.1" share it. The common case (text
	// already canonical) costs no extra allocation.
	var buf [64]byte
	canon := addr.AppendTo(buf[:0])
	value := a.IP
	if string(canon) != a.IP {
		value = string(canon)
	}
	return appendMatch(out, e, KeyIP, value, fallback)
}

// lookupPrefix returns the rule of the longest CIDR prefix holding addr
// that applies to a, or nil.
func (t *ipTable) lookupPrefix(addr netip.Addr, a *Attributes) *entry {
	if addr.Is4() {
		return t.v4.lookup(addrNum(addr), a)
	}
	return t.v6.lookup(addrNum(addr), a)
}

// routeTable holds route rules. Patterns are bucketed by their literal
// prefix (the whole segments before the first wildcard), so a lookup visits
// only the buckets named by the prefixes of the path instead of every
// pattern, and only at the depths some bucket has.
type routeTable struct {
	buckets map[string][]*entry // sorted by compareEntries
	depths  uint64              // bit d set: some bucket key has d segments (63: 63 or more)
	any     group
}

func newRouteTable() routeTable {
	return routeTable{buckets: map[string][]*entry{}}
}

func (t *routeTable) add(e *entry) error {
	r := e.rule
	if e.level != levelExact {
		e.key = sharedKey(KeyRoute, r.Plan, r.KeyValue, e.method)
		t.any.add(e)
		return nil
	}
	p, err := ParsePattern(r.KeyValue)
	if err != nil {
		return fmt.Errorf("route key value: %w", err)
	}
	// The canonical text, so "/api/chat/" and "/api/chat" share a counter.
	e.key = sharedKey(KeyRoute, r.Plan, p.String(), e.method)
	prefix, literal := literalPrefix(p.String())
	e.pat, e.spec = p, p.Specificity()
	if !literal {
		e.level = levelPrefix
	}
	t.buckets[prefix] = append(t.buckets[prefix], e)
	t.depths |= depthBit(strings.Count(prefix, "/"))
	return nil
}

func depthBit(d int) uint64 { return 1 << min(d, 63) }

func (t *routeTable) sort() {
	for _, es := range t.buckets {
		slices.SortFunc(es, compareEntries)
	}
	t.any.sort()
}

// lookup returns the winning route rule for a.Route, or nil.
func (t *routeTable) lookup(a *Attributes) *entry {
	path := a.Route
	if path == "" {
		return nil
	}
	var best *entry
	if path[0] == '/' {
		if len(path) > 1 {
			path = strings.TrimSuffix(path, "/") // as Pattern.Match does
		}
		consider := func(prefix string) {
			for _, e := range t.buckets[prefix] {
				if best != nil && !outranks(e, best) {
					return // sorted: nothing later in this bucket can win
				}
				if e.applies(a) && e.pat.Match(path) {
					best = e
					return
				}
			}
		}
		if t.depths&1 != 0 {
			consider("")
		}
		depth := 1
		for i := 1; i < len(path); i++ {
			if path[i] == '/' {
				if t.depths&depthBit(depth) != 0 {
					consider(path[:i])
				}
				depth++
			}
		}
		if t.depths&depthBit(depth) != 0 {
			consider(path)
		}
	}
	if best != nil {
		return best
	}
	return t.any.first(a)
}

// literalPrefix returns the segments of a canonical route pattern (see
// Pattern) before its first wildcard segment ("*", "**", "{name}"), without
// a trailing slash, and whether the whole pattern is literal. Every path
// the pattern matches starts with this prefix at a segment boundary.
func literalPrefix(pattern string) (prefix string, literal bool) {
	i := strings.IndexAny(pattern, "*{")
	if i < 0 {
		return strings.TrimSuffix(pattern, "/"), true
	}
	slash := strings.LastIndexByte(pattern[:i], '/')
	if slash <= 0 {
		return "", false
	}
	return pattern[:slash], false
}
