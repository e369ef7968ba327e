package admin

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// TokensEnv is the environment variable the sluice binary reads admin
// tokens from, in the form ParseTokens accepts.
const TokensEnv = "SLUICE_ADMIN_TOKENS"

// MinSecretLen is the shortest token secret accepted.
const MinSecretLen = 16

// Token is one admin API credential. Only the SHA-256 hash of its secret is
// kept; requests present the secret as "Authorization: Bearer <secret>".
type Token struct {
	// Name identifies the token in logs and is the actor recorded in the
	// audit log for its changes.
	Name string
	// Hash is the SHA-256 of the secret.
	Hash [sha256.Size]byte
	// ReadOnly tokens may only read (GET, HEAD); writes get 403.
	ReadOnly bool
}

// NewToken returns the token with the given name and secret.
func NewToken(name, secret string, readOnly bool) Token {
	return Token{Name: name, Hash: sha256.Sum256([]byte(secret)), ReadOnly: readOnly}
}

// ParseTokens parses a comma-separated list of tokens, each written
// "name:secret", "name:secret:ro" (read-only) or "name:secret:rw", such as
// "ops:9f8e7d6c5b4a39281706:rw,grafana:0a1b2c3d4e5f60718293:ro". Names are
// letters, digits, '.', '_' and '-', and unique; secrets are at least
// MinSecretLen bytes with no ',' or whitespace. Spaces around entries are
// ignored; an empty list gives no tokens.
func ParseTokens(s string) ([]Token, error) {
	var toks []Token
	seen := map[string]bool{}
	for i, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		bad := func(format string, args ...any) error {
			return fmt.Errorf("admin token %d: %s; accepted: name:secret[:ro|:rw], comma-separated", i+1, fmt.Sprintf(format, args...))
		}
		name, secret, ok := strings.Cut(item, ":")
		if !ok {
			return nil, bad("missing ':' between name and secret")
		}
		ro := false
		if rest, ok := strings.CutSuffix(secret, ":ro"); ok {
			secret, ro = rest, true
		} else if rest, ok := strings.CutSuffix(secret, ":rw"); ok {
			secret = rest
		}
		if err := checkTokenName(name); err != nil {
			return nil, bad("%v", err)
		}
		if seen[name] {
			return nil, bad("name %q appears twice", name)
		}
		seen[name] = true
		if len(secret) < MinSecretLen {
			return nil, bad("token %q: the secret must be at least %d bytes", name, MinSecretLen)
		}
		if strings.ContainsAny(secret, " \t\r\n") {
			return nil, bad("token %q: the secret must not contain whitespace", name)
		}
		toks = append(toks, NewToken(name, secret, ro))
	}
	return toks, nil
}

func checkTokenName(name string) error {
	if name == "" || len(name) > 64 {
		return errors.New("a name is 1 to 64 bytes")
	}
	for _, c := range name {
		if !(c == '.' || c == '_' || c == '-' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
			return fmt.Errorf("name %q: names are letters, digits, '.', '_' and '-'", name)
		}
	}
	return nil
}

// authenticate returns the token whose secret the request presents, or
// nil. It hashes the presented secret and compares it with every token's
// hash in constant time, so the time taken says nothing about the secret
// or about which token matched.
func authenticate(tokens []Token, r *http.Request) *Token {
	scheme, cred, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return nil
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(cred)))
	var found *Token
	for i := range tokens {
		if subtle.ConstantTimeCompare(sum[:], tokens[i].Hash[:]) == 1 {
			found = &tokens[i]
		}
	}
	return found
}
