package gateway

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/sluicehq/sluice/policy"
	"github.com/sluicehq/sluice/policy/auth"
	"github.com/sluicehq/sluice/rules"
)

// ErrInvalidRoute is wrapped by every error about a malformed Route.
var ErrInvalidRoute = errors.New("invalid route")

// Route sends the requests whose path matches Path, and whose method is
// one of Methods, to Upstream, after Auth and Policies let them through.
type Route struct {
	// Name identifies the route in logs. Empty means Path.
	Name string
	// Path is a route pattern (see rules.ParsePattern): /api/chat,
	// /users/{id}, /api/* (one or more segments), /api/** (any suffix),
	// * (every path). Required. When several routes match a request, the
	// most specific pattern wins (rules.Pattern.Specificity); among equally
	// specific ones, the first in the list.
	Path string
	// Methods restricts the route to these HTTP methods (GET also allows
	// HEAD). Empty means any method.
	Methods []string
	// Upstream is the http:// or https:// URL requests are sent to. Its
	// path, if any, is prefixed to the request's path, and its query
	// merged with the request's. Required.
	Upstream string
	// PreserveHost sends the client's Host header upstream instead of the
	// upstream's host name.
	PreserveHost bool
	// Auth, when set, authenticates every request before the policies run
	// (see auth.Middleware): credentials missing or wrong get 401.
	Auth auth.Authenticator
	// Policies are the rate-limit policies applied, in order, with
	// Config.Limiter and Config.Policy. Empty means none.
	Policies []*policy.Policy
}

// route is a compiled Route.
type route struct {
	name     string
	pattern  rules.Pattern
	methods  []string // nil: any
	upstream *url.URL
	handler  http.Handler
}

// allows reports whether the route takes method.
func (rt *route) allows(method string) bool {
	if rt.methods == nil {
		return true
	}
	return slices.Contains(rt.methods, method) || (method == http.MethodHead && slices.Contains(rt.methods, http.MethodGet))
}

// compile checks rt and builds its handler.
func (g *Gateway) compile(i int, rt Route) (*route, error) {
	name := rt.Name
	if name == "" {
		name = rt.Path
	}
	fail := func(format string, args ...any) (*route, error) {
		return nil, fmt.Errorf("%w: route %d (%s): %s", ErrInvalidRoute, i+1, name, fmt.Sprintf(format, args...))
	}
	pat, err := rules.ParsePattern(rt.Path)
	if err != nil {
		return fail("%v", err)
	}
	var methods []string
	for _, m := range rt.Methods {
		m = strings.ToUpper(strings.TrimSpace(m))
		if !validMethod(m) {
			return fail("method %q is not an HTTP method token", m)
		}
		if !slices.Contains(methods, m) {
			methods = append(methods, m)
		}
	}
	u, err := url.Parse(rt.Upstream)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Fragment != "" {
		return fail("upstream %q is not an http:// or https:// URL with a host", rt.Upstream)
	}
	var h http.Handler
	var set *policy.Set
	if len(rt.Policies) > 0 {
		if g.lim == nil {
			return fail("it has policies and Config.Limiter is nil")
		}
		if set, err = policy.NewSetWith(g.lim, g.opts, rt.Policies...); err != nil {
			return fail("%v", err)
		}
	}
	h = &proxyHandler{set: set, proxy: g.newProxy(name, u, rt.PreserveHost)}
	if rt.Auth != nil {
		h = auth.Middleware(rt.Auth, auth.MiddlewareConfig{Logger: g.log})(h)
	}
	return &route{name: name, pattern: pat, methods: methods, upstream: u, handler: h}, nil
}

// validMethod reports whether m is an RFC 9110 token.
func validMethod(m string) bool {
	if m == "" || len(m) > 32 {
		return false
	}
	for i := 0; i < len(m); i++ {
		c := m[i]
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// table is an immutable set of compiled routes, most specific first.
type table struct {
	routes []*route
}

// buildTable compiles routes into a table.
func (g *Gateway) buildTable(routes []Route) (*table, error) {
	t := &table{routes: make([]*route, 0, len(routes))}
	var errs []error
	for i, rt := range routes {
		c, err := g.compile(i, rt)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		t.routes = append(t.routes, c)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	slices.SortStableFunc(t.routes, func(a, b *route) int {
		return b.pattern.Specificity() - a.pattern.Specificity()
	})
	return t, nil
}

// lookup returns the route for r, or nil and the methods the routes
// matching r's path allow (nil when none matches the path).
func (t *table) lookup(method, path string) (*route, []string) {
	var allow []string
	for _, rt := range t.routes {
		if !rt.pattern.Match(path) {
			continue
		}
		if rt.allows(method) {
			return rt, nil
		}
		for _, m := range rt.methods {
			if !slices.Contains(allow, m) {
				allow = append(allow, m)
			}
		}
		if slices.Contains(rt.methods, http.MethodGet) && !slices.Contains(allow, http.MethodHead) {
			allow = append(allow, http.MethodHead)
		}
	}
	return nil, allow
}

// cleanPath reports whether path is a canonical absolute path: starting
// with "/", with no empty ("//"), "." or ".." segments (one trailing slash
// is allowed). Others are refused: an upstream that normalizes them could
// otherwise be reached under a route other than the one matched.
func cleanPath(path string) bool {
	if path == "" || path[0] != '/' {
		return false
	}
	if path == "/" {
		return true
	}
	for seg := range strings.SplitSeq(strings.TrimSuffix(path[1:], "/"), "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
	}
	return true
}
