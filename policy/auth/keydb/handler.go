package keydb

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"

	"github.com/sluicehq/sluice/rules/admin"
)

// BasePath is where the admin endpoint lives: the collection of keys.
const BasePath = "/api/api-keys"

// DefaultMaxBody caps request bodies, in bytes.
const DefaultMaxBody = 64 << 10

// KeyAdmin is what Handler needs of a store: *Store implements it.
type KeyAdmin interface {
	Create(ctx context.Context, consumer string, metadata map[string]any) (Key, string, error)
	Get(ctx context.Context, id string) (Key, error)
	List(ctx context.Context, consumer string) ([]Key, error)
	Delete(ctx context.Context, id string) error
}

var _ KeyAdmin = (*Store)(nil)

// HandlerConfig configures Handler.
type HandlerConfig struct {
	// Tokens are the accepted bearer tokens, the rules admin API's (see
	// admin.ParseTokens); at least one is required. Read-only tokens may
	// list keys but not create or delete them.
	Tokens []admin.Token
	// Logger receives a line per key created or deleted (never the key)
	// and every internal error; nil discards.
	Logger *slog.Logger
}

// Handler serves the admin endpoint of API keys:
//
//	POST   /api/api-keys       {"consumer": "acme", "metadata": {"plan": "pro"}}
//	                           → 201 the key's record and "key", the key itself, shown once
//	GET    /api/api-keys       → 200 {"keys": [...]}; ?consumer=acme filters
//	GET    /api/api-keys/{id}  → 200 the key's record
//	DELETE /api/api-keys/{id}  → 204
//
// Every request carries "Authorization: Bearer <admin token>". Errors are
// RFC 9457 problem details. Mount it for BasePath and BasePath+"/".
type Handler struct {
	keys   KeyAdmin
	tokens []admin.Token
	log    *slog.Logger
	mux    *http.ServeMux
}

// NewHandler returns the admin endpoint over keys. It fails without tokens.
func NewHandler(keys KeyAdmin, cfg HandlerConfig) (*Handler, error) {
	if keys == nil {
		return nil, errors.New("keydb: no key store")
	}
	if len(cfg.Tokens) == 0 {
		return nil, fmt.Errorf("keydb: no admin tokens configured; set %s", admin.TokensEnv)
	}
	h := &Handler{keys: keys, tokens: cfg.Tokens, log: cfg.Logger, mux: http.NewServeMux()}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	h.mux.HandleFunc("POST "+BasePath, h.create)
	h.mux.HandleFunc("GET "+BasePath, h.list)
	h.mux.HandleFunc("GET "+BasePath+"/{id}", h.get)
	h.mux.HandleFunc("DELETE "+BasePath+"/{id}", h.delete)
	return h, nil
}

// ServeHTTP authenticates the request and serves it.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	tok := h.authenticate(r)
	if tok == nil {
		w.Header().Set("WWW-Authenticate", `Bearer realm="sluice-admin"`)
		writeProblem(w, r, http.StatusUnauthorized, "unauthorized", "Authentication required",
			`send "Authorization: Bearer <admin token>"`)
		return
	}
	if tok.ReadOnly && r.Method != http.MethodGet && r.Method != http.MethodHead {
		writeProblem(w, r, http.StatusForbidden, "forbidden", "The token may not make changes",
			fmt.Sprintf("token %q is read-only", tok.Name))
		return
	}
	p, pattern := h.mux.Handler(r)
	if pattern == "" {
		// No route: the mux's own 404 or 405, as a problem.
		rec := &statusOnly{header: http.Header{}}
		p.ServeHTTP(rec, r)
		if rec.status == http.StatusMethodNotAllowed {
			w.Header().Set("Allow", rec.header.Get("Allow"))
			writeProblem(w, r, http.StatusMethodNotAllowed, "method-not-allowed", "Method not allowed",
				r.Method+" is not allowed here; allowed: "+rec.header.Get("Allow"))
			return
		}
		writeProblem(w, r, http.StatusNotFound, "not-found", "Not found", "no such resource: "+r.URL.Path)
		return
	}
	h.mux.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), actorKey{}, tok.Name)))
}

type actorKey struct{}

func actor(r *http.Request) string {
	s, _ := r.Context().Value(actorKey{}).(string)
	return s
}

// authenticate returns the token whose secret the request presents, or nil,
// comparing the secret's hash with every token's in constant time.
func (h *Handler) authenticate(r *http.Request) *admin.Token {
	scheme, cred, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return nil
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(cred)))
	var found *admin.Token
	for i := range h.tokens {
		if subtle.ConstantTimeCompare(sum[:], h.tokens[i].Hash[:]) == 1 {
			found = &h.tokens[i]
		}
	}
	return found
}

// createRequest is the body of POST.
type createRequest struct {
	Consumer string         `json:"consumer"`
	Metadata map[string]any `json:"metadata"`
}

// created is the answer to POST: the record and the key itself.
type created struct {
	Key
	// Secret is the API key itself, returned only here.
	Secret string `json:"key"`
}

func (h *Handler) create(w http.ResponseWriter, r *http.Request) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			writeProblem(w, r, http.StatusUnsupportedMediaType, "unsupported-media-type", "Unsupported content type",
				"send the body as application/json")
			return
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, DefaultMaxBody))
	if err != nil {
		writeProblem(w, r, http.StatusRequestEntityTooLarge, "body-too-large", "The request body is too large",
			fmt.Sprintf("at most %d bytes are accepted", DefaultMaxBody))
		return
	}
	var req createRequest
	if err := decodeJSON(body, &req); err != nil {
		writeProblem(w, r, http.StatusBadRequest, "invalid-json", "The request body is not acceptable JSON",
			err.Error()+`; want {"consumer": "<name>", "metadata": {…}}`)
		return
	}
	k, secret, err := h.keys.Create(r.Context(), req.Consumer, req.Metadata)
	if errors.Is(err, ErrInvalid) {
		writeProblem(w, r, http.StatusBadRequest, "invalid-api-key", "The API key is not valid", err.Error())
		return
	}
	if err != nil {
		h.internal(w, r, err)
		return
	}
	h.log.LogAttrs(r.Context(), slog.LevelInfo, "api key created",
		slog.String("id", k.ID), slog.String("consumer", k.Consumer), slog.String("actor", actor(r)))
	w.Header().Set("Location", BasePath+"/"+k.ID)
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, created{Key: k, Secret: secret})
}

func (h *Handler) list(w http.ResponseWriter, r *http.Request) {
	keys, err := h.keys.List(r.Context(), r.URL.Query().Get("consumer"))
	if err != nil {
		h.internal(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Keys []Key `json:"keys"`
	}{keys})
}

func (h *Handler) get(w http.ResponseWriter, r *http.Request) {
	k, err := h.keys.Get(r.Context(), r.PathValue("id"))
	if errors.Is(err, ErrNotFound) {
		writeProblem(w, r, http.StatusNotFound, "not-found", "Not found", "no API key "+quote(r.PathValue("id")))
		return
	}
	if err != nil {
		h.internal(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, k)
}

func (h *Handler) delete(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	err := h.keys.Delete(r.Context(), id)
	if errors.Is(err, ErrNotFound) {
		writeProblem(w, r, http.StatusNotFound, "not-found", "Not found", "no API key "+quote(id))
		return
	}
	if err != nil {
		h.internal(w, r, err)
		return
	}
	h.log.LogAttrs(r.Context(), slog.LevelInfo, "api key deleted", slog.String("id", id), slog.String("actor", actor(r)))
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) internal(w http.ResponseWriter, r *http.Request, err error) {
	h.log.LogAttrs(r.Context(), slog.LevelError, "api key admin", slog.String("method", r.Method),
		slog.String("path", r.URL.Path), slog.Any("error", err))
	w.Header().Set("Retry-After", "1")
	writeProblem(w, r, http.StatusServiceUnavailable, "unavailable", "The key database is unavailable",
		"the key database did not answer; try again")
}

// decodeJSON decodes one JSON value strictly: unknown fields and trailing
// data are errors, numbers stay json.Number.
func decodeJSON(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("data after the JSON value")
	}
	return nil
}

func quote(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return fmt.Sprintf("%q", s)
}

// statusOnly records what the mux's fallback handler would answer.
type statusOnly struct {
	header http.Header
	status int
}

// Header returns the recorded header.
func (s *statusOnly) Header() http.Header { return s.header }

// Write discards b.
func (s *statusOnly) Write(b []byte) (int, error) { return len(b), nil }

// WriteHeader records the status.
func (s *statusOnly) WriteHeader(code int) { s.status = code }

// problem is an RFC 9457 problem detail.
type problem struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail,omitempty"`
	Instance string `json:"instance,omitempty"`
}

func writeProblem(w http.ResponseWriter, r *http.Request, status int, kind, title, detail string) {
	w.Header().Set("Content-Type", admin.ProblemContentType)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(problem{ // the client went away: nothing to do
		Type: "urn:sluice:problem:" + kind, Title: title, Status: status, Detail: detail, Instance: r.URL.Path,
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // the client went away: nothing to do
}
