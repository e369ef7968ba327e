// Package admin is the admin HTTP API of the rules: JSON over HTTP under
// /api/rate-rules, to create, list, read, update and delete rate-limit
// rules and read their audit log. Every request carries a bearer token;
// read-only tokens may only read. Errors are RFC 9457 problem details.
// docs/api.md documents the API, with curl examples that a test runs.
package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/sluicehq/sluice/rules"
)

// BasePath is where the API lives: the collection of rules.
const BasePath = "/api/rate-rules"

// DefaultMaxBody is the default cap on request bodies, in bytes.
const DefaultMaxBody = 64 << 10

// Invalidator is told to reload the rules after every change made through
// the API, so that this instance applies it at once (*rules.Resolver).
type Invalidator interface {
	Invalidate()
}

// Config configures the admin API.
type Config struct {
	// Tokens are the accepted bearer tokens; at least one is required.
	// See ParseTokens for the text form (SLUICE_ADMIN_TOKENS).
	Tokens []Token
	// MaxBody caps request bodies, in bytes; 0 means DefaultMaxBody.
	// Larger bodies get 413.
	MaxBody int64
	// Resolver, when set, is invalidated after every change.
	Resolver Invalidator
	// Logger receives one line per change and every internal error; nil
	// discards.
	Logger *slog.Logger
}

// Validate checks the config: at least one token, token names valid and
// unique, MaxBody not negative.
func (c Config) Validate() error {
	if len(c.Tokens) == 0 {
		return fmt.Errorf("no tokens configured; set %s or Config.Tokens", TokensEnv)
	}
	seen := map[string]bool{}
	for _, t := range c.Tokens {
		if err := checkTokenName(t.Name); err != nil {
			return err
		}
		if seen[t.Name] {
			return fmt.Errorf("token name %q appears twice", t.Name)
		}
		seen[t.Name] = true
	}
	if c.MaxBody < 0 {
		return fmt.Errorf("MaxBody must not be negative, got %d", c.MaxBody)
	}
	return nil
}

// Handler serves the admin API. It is an http.Handler for the paths under
// BasePath; mount it in a parent mux for BasePath and BasePath+"/".
type Handler struct {
	repo    rules.Repository
	tokens  []Token
	maxBody int64
	inv     Invalidator
	log     *slog.Logger
	mux     *http.ServeMux
}

// New returns the admin API over repo. It fails when no token is
// configured, when two tokens share a name, or when MaxBody is negative.
func New(repo rules.Repository, cfg Config) (*Handler, error) {
	if repo == nil {
		return nil, errors.New("admin: nil repository")
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("admin: %w", err)
	}
	h := &Handler{
		repo:    repo,
		tokens:  append([]Token(nil), cfg.Tokens...),
		maxBody: cfg.MaxBody,
		inv:     cfg.Resolver,
		log:     cfg.Logger,
		mux:     http.NewServeMux(),
	}
	if h.maxBody == 0 {
		h.maxBody = DefaultMaxBody
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	h.routes()
	return h, nil
}

// routes registers every endpoint, each with and without a trailing
// slash. A path registered without a method answers the other methods
// with 405.
func (h *Handler) routes() {
	for _, p := range []string{BasePath, BasePath + "/{$}"} {
		h.mux.HandleFunc("POST "+p, h.create)
		h.mux.HandleFunc("GET "+p, h.list)
		h.mux.HandleFunc(p, h.notAllowed("GET, HEAD, POST"))
	}
	for _, p := range []string{BasePath + "/{id}", BasePath + "/{id}/{$}"} {
		h.mux.HandleFunc("GET "+p, h.get)
		h.mux.HandleFunc("PATCH "+p, h.update)
		h.mux.HandleFunc("DELETE "+p, h.remove)
		h.mux.HandleFunc(p, h.notAllowed("GET, HEAD, PATCH, DELETE"))
	}
	for _, p := range []string{BasePath + "/{id}/audit", BasePath + "/{id}/audit/{$}"} {
		h.mux.HandleFunc("GET "+p, h.audit)
		h.mux.HandleFunc(p, h.notAllowed("GET, HEAD"))
	}
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, r, http.StatusNotFound, ProblemNotFound, "no such endpoint; the API lives under "+BasePath)
	})
}

// ServeHTTP authenticates the request, checks the token may do what is
// asked, and serves it. A panic in a handler becomes a 500 problem.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			h.log.Error("admin: panic serving request", "method", r.Method, "path", r.URL.Path, "panic", v)
			writeProblem(w, r, http.StatusInternalServerError, ProblemInternal, "")
		}
	}()
	tok := authenticate(h.tokens, r)
	if tok == nil {
		challenge := `Bearer realm="sluice-admin"`
		detail := "send an admin token as: Authorization: Bearer <secret>"
		if r.Header.Get("Authorization") != "" {
			challenge += `, error="invalid_token"`
			detail = "the token is not valid"
		}
		w.Header().Set("WWW-Authenticate", challenge)
		writeProblem(w, r, http.StatusUnauthorized, ProblemUnauthorized, detail)
		return
	}
	if tok.ReadOnly && !safeMethod(r.Method) {
		writeProblem(w, r, http.StatusForbidden, ProblemForbidden,
			fmt.Sprintf("token %q is read-only; %s needs a read-write token", tok.Name, r.Method))
		return
	}
	h.mux.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), actorKey{}, tok.Name)))
}

// safeMethod reports whether m only reads.
func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// actorKey keys the authenticated token's name in a request's context.
type actorKey struct{}

// actor returns the name of the token that authenticated r.
func actor(r *http.Request) string {
	s, _ := r.Context().Value(actorKey{}).(string)
	return s
}

func (h *Handler) notAllowed(allow string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		writeProblem(w, r, http.StatusMethodNotAllowed, ProblemMethodNotAllowed,
			fmt.Sprintf("%s is not allowed here; allowed: %s", r.Method, allow))
	}
}

// changed is called after every successful write.
func (h *Handler) changed(r *http.Request, action, id string) {
	h.log.Info("admin: rule changed", "action", action, "id", id, "actor", actor(r))
	if h.inv != nil {
		h.inv.Invalidate()
	}
}

// repoError answers a repository error with the matching problem.
func (h *Handler) repoError(w http.ResponseWriter, r *http.Request, err error) {
	var ve *rules.ValidationError
	switch {
	case errors.As(err, &ve):
		writeProblem(w, r, http.StatusBadRequest, ProblemInvalidRule, "one or more fields are not valid; see errors", ve.Fields...)
	case errors.Is(err, rules.ErrInvalid):
		writeProblem(w, r, http.StatusBadRequest, ProblemInvalidRule, err.Error())
	case errors.Is(err, rules.ErrNotFound):
		writeProblem(w, r, http.StatusNotFound, ProblemNotFound, "no rule has this id")
	case errors.Is(err, rules.ErrConflict):
		writeProblem(w, r, http.StatusConflict, ProblemConflict,
			"a rule with the same key_type, key_value, method and plan exists; update it instead")
	case errors.Is(err, rules.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		h.log.Warn("admin: rules database unavailable", "method", r.Method, "path", r.URL.Path, "err", err)
		w.Header().Set("Retry-After", "5")
		writeProblem(w, r, http.StatusServiceUnavailable, ProblemUnavailable, "try again shortly")
	default:
		h.log.Error("admin: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		writeProblem(w, r, http.StatusInternalServerError, ProblemInternal, "")
	}
}
