package config

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/policy"
	"github.com/sluicehq/sluice/rules"
)

func (c *Config) validatePolicies(p *problems) {
	seen := map[string]int{}
	for i, pol := range c.Policies {
		path := fmt.Sprintf("policies[%d]", i)
		if !validName(pol.Name) {
			p.add(path+".name", "%q: a policy name is 1 to 64 letters, digits, '.', '_' or '-'", pol.Name)
		} else if j, dup := seen[pol.Name]; dup {
			p.add(path+".name", "%q is also the name of policies[%d]", pol.Name, j)
		}
		seen[pol.Name] = i
		pol.validate(p, path)
	}
}

func (pol Policy) validate(p *problems, path string) {
	switch pol.RateLimitBy {
	case ByIP, ByUser, ByAll, ByRules:
		if pol.Identifier != "" {
			p.add(path+".identifier", "applies only to rateLimitBy: function")
		}
	case ByFunction:
		if strings.TrimSpace(pol.Identifier) == "" {
			p.add(path+".identifier", "required with rateLimitBy: function: a CEL expression returning the caller's key, such as request.headers[\"x-customer-id\"]")
		} else if _, err := policy.CompileCEL(pol.Identifier); err != nil {
			p.add(path+".identifier", "%v", err)
		}
	case "":
		p.add(path+".rateLimitBy", "required: ip, user, function, all or rules")
	default:
		p.add(path+".rateLimitBy", "%q is not accepted (accepted: ip, user, function, all, rules)", pol.RateLimitBy)
	}
	pol.validateLimit(p, path)
	if pol.Cost != nil && *pol.Cost < 0 {
		p.add(path+".cost", "must not be negative (0 only reads)")
	}
	switch pol.HeaderMode {
	case "", HeaderRetryAfter, HeaderNone:
	default:
		p.add(path+".headerMode", "%q is not accepted (accepted: retry-after, none)", pol.HeaderMode)
	}
	switch pol.Mode {
	case "", ModeStrict, ModeAsync:
	default:
		p.add(path+".mode", "%q is not accepted (accepted: strict, async)", pol.Mode)
	}
	if pol.Quota != nil {
		pol.Quota.validate(p, path+".quota")
	}
	pol.Deny.validate(p, path+".deny")
}

// validateLimit checks that the policy's limit is given in exactly one way.
func (pol Policy) validateLimit(p *problems, path string) {
	zuplo := pol.RequestsAllowed != 0
	switch {
	case pol.Limit != "" && (zuplo || pol.TimeWindowMinutes != 0 || pol.Algorithm != ""):
		p.add(path+".limit", "excludes requestsAllowed, timeWindowMinutes and algorithm: write them in the limit text, such as \"100/1m fixed_window\"")
		return
	case len(pol.Counters) > 0 && (zuplo || pol.Limit != ""):
		p.add(path+".counters", "excludes requestsAllowed and limit: a complex policy's allowances are its counters")
		return
	case pol.Limit == "" && !zuplo && len(pol.Counters) == 0 && pol.Quota == nil && pol.RateLimitBy != ByRules:
		p.add(path, "has no limit: give requestsAllowed and timeWindowMinutes, limit text (such as \"100/1m\"), counters or quota")
		return
	}
	if pol.Limit != "" {
		if _, err := sluice.ParseLimit(pol.Limit); err != nil {
			p.add(path+".limit", "%s", limitMessage(err))
		}
		return
	}
	if !zuplo && len(pol.Counters) == 0 {
		if pol.TimeWindowMinutes != 0 || pol.Algorithm != "" {
			p.add(path+".timeWindowMinutes", "applies only with requestsAllowed or counters")
		}
		return
	}
	if pol.TimeWindowMinutes <= 0 {
		p.add(path+".timeWindowMinutes", "required: the window in minutes, such as 1 (fractions allowed: 0.5 is 30s)")
		return
	}
	if w := time.Duration(pol.TimeWindowMinutes * float64(time.Minute)); w < time.Millisecond {
		p.add(path+".timeWindowMinutes", "%v is shorter than a millisecond", pol.TimeWindowMinutes)
		return
	}
	var a sluice.Algorithm
	if err := a.UnmarshalText([]byte(pol.Algorithm)); err != nil {
		p.add(path+".algorithm", "%s", limitMessage(err))
		return
	}
	if a == sluice.Quota {
		p.add(path+".algorithm", "quota takes a calendar period: use the quota option (or limit text such as \"5000/month\")")
		return
	}
	if zuplo {
		if _, err := pol.counterLimit(pol.RequestsAllowed); err != nil {
			p.add(path+".requestsAllowed", "%s", limitMessage(err))
		}
	}
	for _, name := range sortedKeys(pol.Counters) {
		if !validName(name) {
			p.add(path+".counters."+name, "a counter name is 1 to 64 letters, digits, '.', '_' or '-'")
			continue
		}
		if _, err := pol.counterLimit(pol.Counters[name]); err != nil {
			p.add(path+".counters."+name, "%s", limitMessage(err))
		}
	}
}

func (q *Quota) validate(p *problems, path string) {
	switch q.Period {
	case "day", "week", "month":
	case "":
		p.add(path+".period", "required: day, week or month")
		return
	default:
		p.add(path+".period", "%q is not a calendar period (accepted: day, week, month)", q.Period)
		return
	}
	if q.TZ != "" {
		if _, err := time.LoadLocation(q.TZ); err != nil || q.TZ == "Local" {
			p.add(path+".tz", "%q is not an IANA time zone (such as UTC or Europe/Berlin)", q.TZ)
			return
		}
	}
	if q.Requests < 1 {
		p.add(path+".requests", "required: the allowance per period, at least 1")
		return
	}
	if _, _, err := q.QuotaLimit(); err != nil {
		p.add(path+".requests", "%s", limitMessage(err))
	}
}

func (d Deny) validate(p *problems, path string) {
	for i, s := range d.IPs {
		if _, err := parsePrefix(s); err != nil {
			p.add(fmt.Sprintf("%s.ips[%d]", path, i), "%q is not an IP address or CIDR prefix (such as 203.0.113.7 or 10.0.0.0/8)", s)
		}
	}
	for i, s := range d.Identifiers {
		if s == "" {
			p.add(fmt.Sprintf("%s.identifiers[%d]", path, i), "is empty")
		}
	}
	for i, s := range d.UserAgents {
		if strings.TrimSpace(s) == "" {
			p.add(fmt.Sprintf("%s.user_agents[%d]", path, i), "is empty: it would match every caller")
		}
	}
	for i, s := range d.Countries {
		if len(s) != 2 || s[0] < 'A' || s[0] > 'Z' || s[1] < 'A' || s[1] > 'Z' {
			p.add(fmt.Sprintf("%s.countries[%d]", path, i), "%q is not an ISO 3166-1 alpha-2 code in capitals, such as DE", s)
		}
	}
	if len(d.Countries) > 0 && d.CountryHeader == "" {
		p.add(path+".country_header", "required with countries: the header a CDN in front sets to the caller's country, such as CF-IPCountry")
	}
}

func (c *Config) validateRoutes(p *problems) {
	policies := map[string]bool{}
	for _, pol := range c.Policies {
		policies[pol.Name] = true
	}
	type routeKey struct{ path, method string }
	seen := map[routeKey]int{}
	for i, r := range c.Routes {
		path := fmt.Sprintf("routes[%d]", i)
		pat, err := rules.ParsePattern(r.Path)
		if r.Path == "" {
			p.add(path+".path", "required: a path pattern such as /api/chat, /users/{id} or /api/**")
		} else if err != nil {
			p.add(path+".path", "%s", strings.TrimPrefix(err.Error(), rules.ErrInvalid.Error()+": "))
		}
		methods := r.Methods
		if len(methods) == 0 {
			methods = []string{"*"}
		}
		for j, m := range methods {
			if m != "*" && !validMethod(m) {
				p.add(fmt.Sprintf("%s.methods[%d]", path, j), "%q is not an HTTP method in capitals, such as GET", m)
				continue
			}
			k := routeKey{pat.String(), m}
			if prev, dup := seen[k]; dup && err == nil {
				p.add(path+".path", "%s %s is also routes[%d]", m, r.Path, prev)
			}
			seen[k] = i
		}
		if u, err := url.Parse(r.Upstream); r.Upstream == "" {
			p.add(path+".upstream", "required: the http:// or https:// URL to proxy to")
		} else if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			p.add(path+".upstream", "%q is not an http:// or https:// URL with a host", r.Upstream)
		}
		for j, name := range r.Policies {
			if !policies[name] {
				p.add(fmt.Sprintf("%s.policies[%d]", path, j), "no policy is named %q", name)
			}
		}
		switch r.Auth {
		case "", AuthNone:
		case AuthAPIKey:
			if !c.Auth.apiKeysConfigured() {
				p.add(path+".auth", "api_key needs auth.api_keys or auth.database: true")
			}
		case AuthJWT:
			if !c.Auth.JWT.configured() {
				p.add(path+".auth", "jwt needs auth.jwt.keys or auth.jwt.jwks.url")
			}
		case AuthAny:
			if !c.Auth.apiKeysConfigured() && !c.Auth.JWT.configured() {
				p.add(path+".auth", "any needs API keys (auth.api_keys, auth.database) or JWT keys (auth.jwt)")
			}
		default:
			p.add(path+".auth", "%q is not accepted (accepted: none, api_key, jwt, any)", r.Auth)
		}
	}
}

// validMethod reports whether m is an uppercase HTTP method token.
func validMethod(m string) bool {
	if m == "" || len(m) > 32 {
		return false
	}
	for i := 0; i < len(m); i++ {
		c := m[i]
		if !(c >= 'A' && c <= 'Z') && !(c >= '0' && c <= '9') && strings.IndexByte("!#$%&'*+-.^_`|~", c) < 0 {
			return false
		}
	}
	return true
}
