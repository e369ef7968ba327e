package policy

import (
	"net/http"
	"net/netip"
	"strings"
)

// DefaultIPv6Prefix is the prefix length IPv6 clients are grouped by when
// Options.IPv6Prefix is zero: one host commonly holds a whole /64.
const DefaultIPv6Prefix = 64

// The headers ClientIP can read the client address from.
const (
	HeaderXForwardedFor = "X-Forwarded-For"
	HeaderForwarded     = "Forwarded" // RFC 7239
)

// ClientIP returns the address of the client that sent r. The peer address
// (r.RemoteAddr) is the client unless it lies in trusted: then the
// forwarding header (HeaderXForwardedFor, or HeaderForwarded when header
// says so; "" means HeaderXForwardedFor) is read from the right, each hop a
// trusted proxy added, skipping hops that are themselves trusted, and the
// first untrusted hop is the client. A client cannot spoof its address by
// sending the header itself: its entries lie left of the ones the trusted
// proxies appended. An unparsable hop ends the walk at the trusted proxy
// that reported it. IPv4-mapped IPv6 addresses are unmapped; zones are
// dropped. The result is invalid (!IsValid) when RemoteAddr is not an
// address.
func ClientIP(r *http.Request, trusted []netip.Prefix, header string) netip.Addr {
	addr, ok := parseHost(r.RemoteAddr)
	if !ok {
		return netip.Addr{}
	}
	if !contains(trusted, addr) {
		return addr
	}
	forwarded := header == HeaderForwarded
	name := HeaderXForwardedFor
	if forwarded {
		name = HeaderForwarded
	}
	lines := r.Header.Values(name)
	for i := len(lines) - 1; i >= 0; i-- {
		rest := lines[i]
		for rest != "" {
			var hop string
			hop, rest = lastListMember(rest)
			if forwarded {
				hop = forwardedFor(hop)
			}
			if !forwarded && strings.TrimSpace(hop) == "" {
				continue // an empty member carries no hop
			}
			a, ok := parseHost(hop)
			if !ok {
				return addr
			}
			addr = a
			if !contains(trusted, addr) {
				return addr
			}
		}
	}
	return addr
}

// contains reports whether a lies in one of the prefixes.
func contains(prefixes []netip.Prefix, a netip.Addr) bool {
	for _, p := range prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// lastListMember splits a comma-separated list into its last member and
// the rest before it, honouring double-quoted strings (which Forwarded
// values may be).
func lastListMember(s string) (member, rest string) {
	quoted := false
	for i := len(s) - 1; i >= 0; i-- {
		switch s[i] {
		case '"':
			quoted = !quoted
		case ',':
			if !quoted {
				return s[i+1:], s[:i]
			}
		}
	}
	return s, ""
}

// forwardedFor returns the value of the for parameter of one
// forwarded-element (RFC 7239: `for=192.0.2.60;proto=http;by=203.0.113.43`),
// unquoted, or "" when there is none.
func forwardedFor(element string) string {
	for element != "" {
		var pair string
		pair, element, _ = strings.Cut(element, ";")
		k, v, ok := strings.Cut(strings.TrimSpace(pair), "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(k), "for") {
			continue
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
			v = strings.ReplaceAll(v[1:len(v)-1], `\`, "")
		}
		return v
	}
	return ""
}

// parseHost parses an address with or without a port ("192.0.2.1",
// "192.0.2.1:80", "[2001:db8::1]:80", "2001:db8::1", "[2001:db8::1]"),
// unmapped and without zone.
func parseHost(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return netip.Addr{}, false
	}
	var a netip.Addr
	var err error
	switch {
	case s[0] == '[' && s[len(s)-1] == ']':
		a, err = netip.ParseAddr(s[1 : len(s)-1])
	case s[0] == '[' || strings.Count(s, ":") == 1: // with a port
		var ap netip.AddrPort
		ap, err = netip.ParseAddrPort(s)
		a = ap.Addr()
	default:
		a, err = netip.ParseAddr(s)
	}
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap().WithZone(""), true
}

// ipIdentity is the counter identity of a client address: an IPv4 address
// as is, an IPv6 address as its network of the given prefix length (such
// as "2001:db8:1:2::/64"), "unknown" for an invalid address.
func ipIdentity(a netip.Addr, v6bits int) string {
	switch {
	case !a.IsValid():
		return "unknown"
	case a.Is4() || v6bits >= 128:
		return a.String()
	}
	p, err := a.Prefix(v6bits)
	if err != nil {
		return a.String()
	}
	return p.String()
}
