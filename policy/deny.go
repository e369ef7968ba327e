package policy

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

// Deny lists callers a policy refuses outright, before anything is
// counted: the answer is 403 with reason denied, and the Observer is told.
type Deny struct {
	// IPs are client addresses and networks (a single address as /32 or
	// /128). The client address is found as for ByIP.
	IPs []netip.Prefix
	// Identifiers are caller identities as the policy sees them: the
	// subject for ByUser, the key for ByFunction, the address for ByIP
	// (the /64 network, such as "2001:db8::/64", for IPv6), and the user,
	// API key or address for ByRules.
	Identifiers []string
	// UserAgents are substrings of the User-Agent header, matched
	// case-insensitively.
	UserAgents []string
	// Countries are ISO 3166-1 alpha-2 codes, matched case-insensitively
	// against CountryHeader.
	Countries []string
	// CountryHeader is the request header a CDN in front sets to the
	// client's country, such as CF-IPCountry. Required with Countries.
	CountryHeader string
}

// The deny lists, as DenyList in an Event.
const (
	DenyIP         = "ip"
	DenyIdentifier = "identifier"
	DenyUserAgent  = "user_agent"
	DenyCountry    = "country"
)

func (d *Deny) validate() error {
	if len(d.Countries) > 0 && d.CountryHeader == "" {
		return errors.New("countries need CountryHeader, such as CF-IPCountry")
	}
	for _, p := range d.IPs {
		if !p.IsValid() {
			return fmt.Errorf("invalid prefix %v in IPs", p)
		}
	}
	for _, ua := range d.UserAgents {
		if ua == "" {
			return errors.New("an empty user agent would match every request")
		}
	}
	return nil
}

// denyList is a Deny prepared for matching.
type denyList struct {
	ips           []netip.Prefix
	identifiers   map[string]bool
	userAgents    []string // lower case
	countries     map[string]bool
	countryHeader string
}

func compileDeny(d Deny) denyList {
	l := denyList{countryHeader: d.CountryHeader}
	for _, p := range d.IPs {
		a := p.Addr().Unmap()
		bits := p.Bits()
		if p.Addr().Is4In6() {
			bits -= 96
		}
		l.ips = append(l.ips, netip.PrefixFrom(a, max(bits, 0)).Masked())
	}
	for _, id := range d.Identifiers {
		if l.identifiers == nil {
			l.identifiers = map[string]bool{}
		}
		l.identifiers[id] = true
	}
	for _, ua := range d.UserAgents {
		l.userAgents = append(l.userAgents, strings.ToLower(ua))
	}
	for _, c := range d.Countries {
		if l.countries == nil {
			l.countries = map[string]bool{}
		}
		l.countries[strings.ToUpper(strings.TrimSpace(c))] = true
	}
	return l
}

// matchRequest returns the list the request's address, user agent or
// country is on, or "".
func (l *denyList) matchRequest(r *http.Request, ip func() netip.Addr) string {
	if len(l.ips) > 0 && contains(l.ips, ip()) {
		return DenyIP
	}
	if len(l.userAgents) > 0 {
		ua := strings.ToLower(r.UserAgent())
		for _, s := range l.userAgents {
			if strings.Contains(ua, s) {
				return DenyUserAgent
			}
		}
	}
	if l.countries != nil {
		if c := strings.ToUpper(strings.TrimSpace(r.Header.Get(l.countryHeader))); c != "" && l.countries[c] {
			return DenyCountry
		}
	}
	return ""
}
