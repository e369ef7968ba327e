package envoyrls

import (
	"sort"
	"strings"
)

// tree is the compiled, immutable form of the configured domains. Update
// builds a new one and swaps it in.
type tree struct {
	domains map[string]level
}

// level holds the descriptors of one depth under one parent, by key.
type level map[string]*choices

// choices are the descriptors sharing a key: by exact value, by value
// prefix (a value ending in '*'), and the key-only one.
type choices struct {
	exact    map[string]*node
	prefixes []prefixNode // longest prefix first
	any      *node
}

type prefixNode struct {
	prefix string
	node   *node
}

// node is one compiled Descriptor.
type node struct {
	limit    *compiledLimit // nil: no rate_limit at this depth
	shadow   bool
	detailed bool
	// stat is the node's path for metrics, in the style of
	// envoyproxy/ratelimit: "key" for a key-only descriptor, "key_value"
	// for one with a value, joined with '.'.
	stat     string
	children level
}

// compile builds the tree of valid domains; call ValidateDomains first.
func compile(ds []Domain) (*tree, error) {
	if err := ValidateDomains(ds); err != nil {
		return nil, err
	}
	t := &tree{domains: make(map[string]level, len(ds))}
	for _, d := range ds {
		t.domains[d.Domain] = compileLevel(d.Descriptors, "")
	}
	return t, nil
}

func compileLevel(ds []Descriptor, parentStat string) level {
	if len(ds) == 0 {
		return nil
	}
	lv := make(level, len(ds))
	for _, d := range ds {
		c := lv[d.Key]
		if c == nil {
			c = &choices{exact: map[string]*node{}}
			lv[d.Key] = c
		}
		stat := d.Key
		if d.Value != "" {
			stat += "_" + d.Value
		}
		if parentStat != "" {
			stat = parentStat + "." + stat
		}
		n := &node{shadow: d.ShadowMode, detailed: d.DetailedMetric, stat: stat, children: compileLevel(d.Descriptors, stat)}
		if d.RateLimit != nil {
			cl, _ := d.RateLimit.compile() // validated
			n.limit = &cl
		}
		switch {
		case d.Value == "":
			c.any = n
		case strings.HasSuffix(d.Value, "*"):
			c.prefixes = append(c.prefixes, prefixNode{prefix: strings.TrimSuffix(d.Value, "*"), node: n})
		default:
			c.exact[d.Value] = n
		}
	}
	for _, c := range lv {
		sort.SliceStable(c.prefixes, func(i, j int) bool { return len(c.prefixes[i].prefix) > len(c.prefixes[j].prefix) })
	}
	return lv
}

// entry is one (key, value) of a request descriptor.
type entry struct{ key, value string }

// lookup walks the domain's tree along the entries as envoyproxy/ratelimit
// does: at each depth the descriptor with the entry's key and exact value,
// else the one whose value is a matching prefix ("/api/*"), else the
// key-only one. It returns the node of the last entry, or nil when some
// entry matches nothing (or the domain is unknown).
func (t *tree) lookup(domain string, entries []entry) *node {
	lv, ok := t.domains[domain]
	if !ok || len(entries) == 0 {
		return nil
	}
	var n *node
	for _, e := range entries {
		c := lv[e.key]
		if c == nil {
			return nil
		}
		n = c.exact[e.value]
		if n == nil {
			for _, p := range c.prefixes {
				if strings.HasPrefix(e.value, p.prefix) {
					n = p.node
					break
				}
			}
		}
		if n == nil {
			n = c.any
		}
		if n == nil {
			return nil
		}
		lv = n.children
	}
	return n
}

// hasDomain reports whether the domain is configured.
func (t *tree) hasDomain(domain string) bool {
	_, ok := t.domains[domain]
	return ok
}
