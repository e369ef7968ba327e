package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
)

// Defaults of JWKSConfig.
const (
	// DefaultJWKSTTL is how long fetched keys are used before they are
	// fetched again.
	DefaultJWKSTTL = 10 * time.Minute
	// DefaultJWKSMinRefresh is the least time between two fetches: a token
	// with an unknown kid triggers at most one fetch per interval, so
	// tokens with made-up kids cannot hammer the identity provider.
	DefaultJWKSMinRefresh = 10 * time.Second
	// DefaultJWKSFetchTimeout bounds one fetch.
	DefaultJWKSFetchTimeout = 5 * time.Second
	// MaxJWKSBytes caps the size of a JWKS document.
	MaxJWKSBytes = 1 << 20
)

// JWKSConfig configures a JWKS key set.
type JWKSConfig struct {
	// URL is the JWKS document, such as
	// https://issuer.example/.well-known/jwks.json. Required; http:// is
	// accepted for identity providers on a trusted network.
	URL string
	// Client fetches the document. Nil means http.DefaultClient (each
	// fetch is bounded by FetchTimeout).
	Client *http.Client
	// TTL is how long fetched keys are used before the next request
	// fetches them again. Zero means DefaultJWKSTTL. When a fetch fails the
	// keys from before stay in use.
	TTL time.Duration
	// MinRefresh is the least time between two fetches, whatever the
	// cause: expiry, a token with an unknown kid, or an earlier failure.
	// Zero means DefaultJWKSMinRefresh.
	MinRefresh time.Duration
	// FetchTimeout bounds one fetch. Zero means DefaultJWKSFetchTimeout.
	FetchTimeout time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// JWKS is a KeySet fetched from a JWKS URL and cached. It starts no
// goroutine: requests fetch the document when the cached keys have
// expired, or when a token names a key ID the cache lacks (key rotation),
// at most once per MinRefresh; concurrent requests wait for one fetch. It
// is safe for concurrent use and needs no Close.
type JWKS struct {
	url        string
	client     *http.Client
	ttl        time.Duration
	minRefresh time.Duration
	timeout    time.Duration
	now        func() time.Time

	snap    atomic.Pointer[jwksSnapshot]
	fetchMu chan struct{} // a lock that waiting can give up on: one fetch at a time
	// Guarded by fetchMu:
	lastAttempt time.Time
	lastErr     error
}

// jwksSnapshot is one fetched document's keys.
type jwksSnapshot struct {
	keys    []Key
	fetched time.Time
}

var _ KeySet = (*JWKS)(nil)

// NewJWKS returns the key set at cfg.URL. It does not fetch: call Refresh
// to fetch at start (and fail early), or let the first token do it.
func NewJWKS(cfg JWKSConfig) (*JWKS, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("jwks url %q: want an https:// (or http://) URL with a host", cfg.URL)
	}
	if cfg.TTL < 0 || cfg.MinRefresh < 0 || cfg.FetchTimeout < 0 {
		return nil, errors.New("jwks: TTL, MinRefresh and FetchTimeout must not be negative")
	}
	j := &JWKS{
		url:        cfg.URL,
		client:     cfg.Client,
		ttl:        orDefault(cfg.TTL, DefaultJWKSTTL),
		minRefresh: orDefault(cfg.MinRefresh, DefaultJWKSMinRefresh),
		timeout:    orDefault(cfg.FetchTimeout, DefaultJWKSFetchTimeout),
		now:        cfg.Now,
		fetchMu:    make(chan struct{}, 1),
	}
	if j.client == nil {
		j.client = http.DefaultClient
	}
	if j.now == nil {
		j.now = time.Now
	}
	return j, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// Key returns the key for kid and alg, fetching the document when the
// cache has expired or lacks kid (rate-limited by MinRefresh).
func (j *JWKS) Key(ctx context.Context, kid, alg string) (Key, error) {
	s := j.snap.Load()
	if s == nil || j.now().Sub(s.fetched) >= j.ttl {
		// With keys from before, a request does not wait for another's
		// fetch: it uses them meanwhile.
		var err error
		if s, err = j.refresh(ctx, s, s == nil); s == nil {
			return Key{}, fmt.Errorf("%w: %w", ErrKeysUnavailable, err)
		}
	}
	k, err := selectKey(s.keys, kid, alg)
	if errors.Is(err, ErrUnknownKey) && kid != "" {
		// Perhaps the keys were rotated: fetch again, unless that was done
		// within MinRefresh.
		if s2, _ := j.refresh(ctx, s, true); s2 != nil && s2 != s {
			k, err = selectKey(s2.keys, kid, alg)
		}
	}
	return k, err
}

// Refresh fetches the document now, unless a fetch was made within
// MinRefresh, and returns the error of the latest fetch. Call it at start
// to find a wrong URL at once.
func (j *JWKS) Refresh(ctx context.Context) error {
	_, err := j.refresh(ctx, j.snap.Load(), true)
	return err
}

// refresh fetches the document unless another caller replaced seen while
// this one waited, or the last attempt is within MinRefresh. It returns the
// current snapshot (nil when no fetch ever succeeded) and the error of the
// latest attempt. Unless wait is set, it returns at once when another
// caller is fetching.
func (j *JWKS) refresh(ctx context.Context, seen *jwksSnapshot, wait bool) (*jwksSnapshot, error) {
	if wait {
		select {
		case j.fetchMu <- struct{}{}:
		case <-ctx.Done():
			return j.snap.Load(), fmt.Errorf("jwks: wait for fetch: %w", context.Cause(ctx))
		}
	} else {
		select {
		case j.fetchMu <- struct{}{}:
		default:
			return j.snap.Load(), nil
		}
	}
	defer func() { <-j.fetchMu }()
	cur := j.snap.Load()
	if cur != seen {
		return cur, nil
	}
	now := j.now()
	if !j.lastAttempt.IsZero() && now.Sub(j.lastAttempt) < j.minRefresh {
		return cur, j.lastErr
	}
	j.lastAttempt = now
	// The fetch outlives a caller that goes away: others may be waiting.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), j.timeout)
	defer cancel()
	keys, err := j.fetch(fctx)
	j.lastErr = err
	if err != nil {
		return cur, err
	}
	next := &jwksSnapshot{keys: keys, fetched: now}
	j.snap.Store(next)
	return next, nil
}

// fetch gets and parses the document.
func (j *JWKS) fetch(ctx context.Context) ([]Key, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, j.url, nil)
	if err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := j.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("jwks: fetch %s: %w", j.url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096)) // let the connection be reused
		return nil, fmt.Errorf("jwks: fetch %s: status %s", j.url, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxJWKSBytes+1))
	if err != nil {
		return nil, fmt.Errorf("jwks: read %s: %w", j.url, err)
	}
	if len(body) > MaxJWKSBytes {
		return nil, fmt.Errorf("jwks: %s is larger than %d bytes", j.url, MaxJWKSBytes)
	}
	keys, err := ParseJWKS(body)
	if err != nil {
		return nil, fmt.Errorf("jwks: %s: %w", j.url, err)
	}
	return keys, nil
}

// jwk is one JSON Web Key (RFC 7517), the members read.
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
	N   string `json:"n"`
	E   string `json:"e"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

// ParseJWKS returns the signature keys of a JWKS document: RSA keys (of at
// least MinRSABits) and EC keys on P-256, P-384 and P-521. Keys of other
// types, for encryption ("use": "enc") or with an algorithm not supported
// are skipped; symmetric ("oct") keys are never taken from a JWKS. It fails
// when the document is malformed, a key of a supported type is malformed,
// or no key is left.
func ParseJWKS(data []byte) ([]Key, error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("not a JWKS document: %w", err)
	}
	var keys []Key
	for i, raw := range doc.Keys {
		var k jwk
		if err := json.Unmarshal(raw, &k); err != nil {
			return nil, fmt.Errorf("key %d: %w", i, err)
		}
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		var pub any
		var err error
		switch k.Kty {
		case "RSA":
			pub, err = rsaFromJWK(k)
		case "EC":
			pub, err = ecFromJWK(k)
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("key %d (kid %q): %w", i, k.Kid, err)
		}
		key := Key{ID: k.Kid, Algorithm: k.Alg, Public: pub}
		if err := checkKey(pub); err != nil {
			return nil, fmt.Errorf("key %d (kid %q): %w", i, k.Kid, err)
		}
		if k.Alg != "" && !key.verifies(k.Alg) {
			continue // an algorithm not supported, or not of the key's type
		}
		keys = append(keys, key)
	}
	if len(keys) == 0 {
		return nil, errors.New("no usable signature key (RSA, or EC on P-256/384/521)")
	}
	return keys, nil
}

func rsaFromJWK(k jwk) (*rsa.PublicKey, error) {
	n, err := b64(k.N)
	if err != nil || len(n) == 0 {
		return nil, fmt.Errorf("RSA member n: want base64url: %v", err)
	}
	e, err := b64(k.E)
	if err != nil || len(e) == 0 || len(e) > 4 {
		return nil, errors.New("RSA member e: want a base64url exponent of 1 to 4 bytes")
	}
	exp := int(new(big.Int).SetBytes(e).Int64())
	if exp < 3 || exp%2 == 0 {
		return nil, fmt.Errorf("RSA exponent %d is not acceptable", exp)
	}
	return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: exp}, nil
}

func ecFromJWK(k jwk) (*ecdsa.PublicKey, error) {
	var curve elliptic.Curve
	switch k.Crv {
	case "P-256":
		curve = elliptic.P256()
	case "P-384":
		curve = elliptic.P384()
	case "P-521":
		curve = elliptic.P521()
	default:
		return nil, fmt.Errorf("EC curve %q is not supported; accepted: P-256, P-384, P-521", k.Crv)
	}
	size := (curve.Params().BitSize + 7) / 8
	x, errX := b64(k.X)
	y, errY := b64(k.Y)
	if errX != nil || errY != nil || len(x) != size || len(y) != size {
		return nil, fmt.Errorf("EC members x and y: want %d bytes each in base64url", size)
	}
	point := make([]byte, 0, 1+2*size)
	point = append(append(append(point, 4), x...), y...)
	pub, err := ecdsa.ParseUncompressedPublicKey(curve, point)
	if err != nil {
		return nil, fmt.Errorf("EC point: %w", err)
	}
	return pub, nil
}

// b64 decodes base64url with or without padding.
func b64(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}
