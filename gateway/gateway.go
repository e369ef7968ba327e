package gateway

import (
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/policy"
)

// Config configures a Gateway.
type Config struct {
	// Routes are the initial routes; Update replaces them.
	Routes []Route
	// Limiter keeps the counters of the routes' policies. Required when a
	// route has policies.
	Limiter *sluice.Limiter
	// Policy holds the options of every route's policy set: trusted
	// proxies (also believed for X-Forwarded-* sent upstream), IPv6
	// grouping, rate-limit headers, observer. Its Logger defaults to
	// Logger.
	Policy policy.Options
	// Logger receives upstream failures and authentication failures; nil
	// discards.
	Logger *slog.Logger
	// Transport sends requests upstream. Nil means NewTransport(Timeouts),
	// owned by the Gateway (Close closes its idle connections).
	Transport http.RoundTripper
	// Timeouts configure the Transport the Gateway makes when Transport is
	// nil; ignored otherwise.
	Timeouts Timeouts
}

// Gateway is an http.Handler that proxies requests to the upstreams of
// its routes. It is safe for concurrent use, including Update while
// requests are served.
type Gateway struct {
	lim       *sluice.Limiter
	opts      policy.Options
	log       *slog.Logger
	transport http.RoundTripper
	owned     *http.Transport // the Transport New made, nil otherwise
	buffers   *bufferPool
	table     atomic.Pointer[table]
}

var _ http.Handler = (*Gateway)(nil)

// New returns a Gateway serving cfg.Routes. It fails, naming each bad
// route, when a route's path, methods, upstream or policies are invalid.
func New(cfg Config) (*Gateway, error) {
	g := &Gateway{lim: cfg.Limiter, opts: cfg.Policy, log: cfg.Logger, transport: cfg.Transport, buffers: newBufferPool()}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	if g.opts.Logger == nil {
		g.opts.Logger = g.log
	}
	if g.transport == nil {
		g.owned = NewTransport(cfg.Timeouts)
		g.transport = g.owned
	}
	t, err := g.buildTable(cfg.Routes)
	if err != nil {
		g.Close()
		return nil, err
	}
	g.table.Store(t)
	return g, nil
}

// Update replaces the routes. The new routes are validated and compiled
// first: on error the old ones stay in use. Requests already being served
// finish on the routes they started with; connections are not touched.
func (g *Gateway) Update(routes []Route) error {
	t, err := g.buildTable(routes)
	if err != nil {
		return err
	}
	g.table.Store(t)
	return nil
}

// Close closes the idle upstream connections of the Transport New made.
// The Gateway keeps working (new connections are dialed); Close is for
// the end of the process or of a test.
func (g *Gateway) Close() error {
	if g.owned != nil {
		g.owned.CloseIdleConnections()
	}
	return nil
}

// ServeHTTP sends r to its route's upstream, or answers 400 (a path that
// is not canonical), 404 (no route) or 405 (no route for the method).
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	if !cleanPath(path) {
		writeProblem(w, r, http.StatusBadRequest, ProblemBadPath, problemTitleBadPath,
			"the path must be absolute with no empty, \".\" or \"..\" segments")
		return
	}
	rt, allow := g.table.Load().lookup(r.Method, path)
	switch {
	case rt != nil:
		rt.handler.ServeHTTP(w, r)
	case allow != nil:
		w.Header().Set("Allow", strings.Join(allow, ", "))
		writeProblem(w, r, http.StatusMethodNotAllowed, ProblemMethodNotAllowed, problemTitleMethod,
			r.Method+" is not allowed on "+path+"; allowed: "+strings.Join(allow, ", "))
	default:
		writeProblem(w, r, http.StatusNotFound, ProblemNoRoute, problemTitleNoRoute, "no route matches "+path)
	}
}

// peerTrusted reports whether r's peer is one of the trusted proxies.
func (g *Gateway) peerTrusted(r *http.Request) bool {
	if len(g.opts.TrustedProxies) == 0 {
		return false
	}
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	ip := ap.Addr().Unmap().WithZone("")
	for _, p := range g.opts.TrustedProxies {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}
