package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
)

// The JWT signing algorithms accepted.
const (
	HS256 = "HS256"
	HS384 = "HS384"
	HS512 = "HS512"
	RS256 = "RS256"
	RS384 = "RS384"
	RS512 = "RS512"
	PS256 = "PS256"
	PS384 = "PS384"
	PS512 = "PS512"
	ES256 = "ES256"
	ES384 = "ES384"
	ES512 = "ES512"
)

// SupportedAlgorithms lists every algorithm a Key may have. "none" is never
// accepted.
func SupportedAlgorithms() []string {
	return []string{HS256, HS384, HS512, RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512}
}

// MinHMACKeyLen is the shortest HMAC secret accepted, in bytes.
const MinHMACKeyLen = 32

// MinRSABits is the smallest RSA modulus accepted, in bits.
const MinRSABits = 2048

// ErrUnknownKey is wrapped by the error of a KeySet that has no key for a
// token's key ID and algorithm: the token cannot be verified, so it is
// rejected as invalid.
var ErrUnknownKey = errors.New("no key for the token")

// ErrKeysUnavailable is wrapped by the error of a KeySet that could not get
// its keys (a JWKS URL that did not answer and no keys from before): the
// request gets 503, not 401.
var ErrKeysUnavailable = errors.New("jwt keys unavailable")

// Key is one verification key of JWTs.
type Key struct {
	// ID is the key ID ("kid") tokens name the key by; empty matches
	// tokens whatever their kid when no key has that ID.
	ID string
	// Algorithm is the one algorithm the key verifies, such as RS256.
	// Empty (JWKS keys without "alg") means any algorithm of the key's
	// type: HS* for []byte, RS* and PS* for RSA, ES256/384/512 for P-256/384/521.
	Algorithm string
	// Public is the key: a []byte HMAC secret, an *rsa.PublicKey or an
	// *ecdsa.PublicKey.
	Public any
}

// NewKey returns the key with id and alg around pub, checking that they fit
// together: alg one of SupportedAlgorithms, pub of alg's type and strong
// enough (HMAC secrets of at least MinHMACKeyLen bytes, RSA moduli of at
// least MinRSABits, the ECDSA curve of alg).
func NewKey(id, alg string, pub any) (Key, error) {
	k := Key{ID: id, Algorithm: alg, Public: pub}
	if !slices.Contains(SupportedAlgorithms(), alg) {
		return Key{}, fmt.Errorf("key %q: algorithm %q is not supported; accepted: %v", id, alg, SupportedAlgorithms())
	}
	if err := checkKey(k.Public); err != nil {
		return Key{}, fmt.Errorf("key %q: %w", id, err)
	}
	if !k.verifies(alg) {
		return Key{}, fmt.Errorf("key %q: a %s cannot verify %s tokens", id, keyType(pub), alg)
	}
	return k, nil
}

// KeyFromPEM returns the key with id and alg from PEM data holding a public
// key ("PUBLIC KEY", "RSA PUBLIC KEY") or a certificate whose public key is
// used. Private keys are refused: give the gateway only what it needs.
func KeyFromPEM(id, alg string, data []byte) (Key, error) {
	pub, err := ParsePublicKeyPEM(data)
	if err != nil {
		return Key{}, fmt.Errorf("key %q: %w", id, err)
	}
	return NewKey(id, alg, pub)
}

// ParsePublicKeyPEM returns the RSA or ECDSA public key in the first PEM
// block of data.
func ParsePublicKeyPEM(data []byte) (any, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block found; want -----BEGIN PUBLIC KEY-----")
	}
	var pub any
	var err error
	switch block.Type {
	case "PUBLIC KEY":
		pub, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		pub, err = x509.ParsePKCS1PublicKey(block.Bytes)
	case "CERTIFICATE":
		var cert *x509.Certificate
		if cert, err = x509.ParseCertificate(block.Bytes); err == nil {
			pub = cert.PublicKey
		}
	case "PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY", "ENCRYPTED PRIVATE KEY":
		return nil, fmt.Errorf("PEM block %q is a private key; give the public key (openssl pkey -pubout)", block.Type)
	default:
		return nil, fmt.Errorf("PEM block %q is not accepted; want PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("parse PEM %s: %w", block.Type, err)
	}
	switch pub.(type) {
	case *rsa.PublicKey, *ecdsa.PublicKey:
		return pub, nil
	}
	return nil, fmt.Errorf("PEM %s holds a %T; want an RSA or ECDSA public key", block.Type, pub)
}

// checkKey checks that pub is a key type and strength accepted.
func checkKey(pub any) error {
	switch p := pub.(type) {
	case []byte:
		if len(p) < MinHMACKeyLen {
			return fmt.Errorf("an HMAC secret is at least %d bytes, got %d", MinHMACKeyLen, len(p))
		}
	case *rsa.PublicKey:
		if p == nil || p.N == nil || p.N.BitLen() < MinRSABits {
			return fmt.Errorf("an RSA key has at least %d bits", MinRSABits)
		}
	case *ecdsa.PublicKey:
		if p == nil || curveAlgorithm(p.Curve) == "" {
			return errors.New("an ECDSA key is on P-256, P-384 or P-521")
		}
	default:
		return fmt.Errorf("a %T is not a verification key; want []byte, *rsa.PublicKey or *ecdsa.PublicKey", pub)
	}
	return nil
}

// verifies reports whether k may verify a token signed with alg: alg is
// k's Algorithm when set, and always of k's type. This is what stops
// algorithm confusion: an RSA key never verifies an HS256 token, whatever
// the token claims.
func (k Key) verifies(alg string) bool {
	if k.Algorithm != "" && k.Algorithm != alg {
		return false
	}
	switch p := k.Public.(type) {
	case []byte:
		return alg == HS256 || alg == HS384 || alg == HS512
	case *rsa.PublicKey:
		switch alg {
		case RS256, RS384, RS512, PS256, PS384, PS512:
			return true
		}
		return false
	case *ecdsa.PublicKey:
		return alg == curveAlgorithm(p.Curve)
	}
	return false
}

// curveAlgorithm returns the ES algorithm of an ECDSA curve, or "".
func curveAlgorithm(c elliptic.Curve) string {
	switch c {
	case elliptic.P256():
		return ES256
	case elliptic.P384():
		return ES384
	case elliptic.P521():
		return ES512
	}
	return ""
}

// keyType names the type of a key for messages.
func keyType(pub any) string {
	switch pub.(type) {
	case []byte:
		return "HMAC secret"
	case *rsa.PublicKey:
		return "RSA key"
	case *ecdsa.PublicKey:
		return "ECDSA key"
	}
	return fmt.Sprintf("%T", pub)
}

// KeySet finds the key that verifies a token. StaticKeys and JWKS
// implement it.
type KeySet interface {
	// Key returns the key with ID kid (empty when the token names none)
	// that verifies tokens signed with alg. Its error wraps ErrUnknownKey
	// when there is none, ErrKeysUnavailable when the keys could not be
	// fetched.
	Key(ctx context.Context, kid, alg string) (Key, error)
}

// StaticKeys is a KeySet of keys fixed at construction, such as keys from
// PEM files and HMAC secrets in configuration. It is immutable.
type StaticKeys struct {
	keys []Key
}

var _ KeySet = (*StaticKeys)(nil)

// NewStaticKeys returns the key set of keys, each made with NewKey or
// KeyFromPEM. It fails without keys, or when two keys share an ID.
func NewStaticKeys(keys ...Key) (*StaticKeys, error) {
	if len(keys) == 0 {
		return nil, errors.New("no jwt keys")
	}
	seen := map[string]bool{}
	for _, k := range keys {
		if _, err := NewKey(k.ID, k.Algorithm, k.Public); err != nil {
			return nil, err
		}
		if seen[k.ID] {
			return nil, fmt.Errorf("two keys have the ID %q", k.ID)
		}
		seen[k.ID] = true
	}
	return &StaticKeys{keys: slices.Clone(keys)}, nil
}

// Key returns the key for kid and alg.
func (s *StaticKeys) Key(_ context.Context, kid, alg string) (Key, error) {
	return selectKey(s.keys, kid, alg)
}

// Algorithms returns the algorithms of the keys: the algorithms a JWTAuth
// over s accepts by default.
func (s *StaticKeys) Algorithms() []string {
	var algs []string
	for _, k := range s.keys {
		if !slices.Contains(algs, k.Algorithm) {
			algs = append(algs, k.Algorithm)
		}
	}
	return algs
}

// selectKey returns the key of keys for a token with kid and alg: the key
// with that ID; else, for a token without a kid or with one no key has,
// the only key without an ID that verifies alg (a key from a PEM file
// has none); else, for a token without a kid, the only key verifying alg.
func selectKey(keys []Key, kid, alg string) (Key, error) {
	if kid != "" {
		for _, k := range keys {
			if k.ID == kid {
				if !k.verifies(alg) {
					return Key{}, fmt.Errorf("%w: key %q does not verify %s tokens", ErrUnknownKey, kid, alg)
				}
				return k, nil
			}
		}
	}
	var found []Key
	for _, k := range keys {
		if k.ID == "" && k.verifies(alg) {
			found = append(found, k)
		}
	}
	if len(found) == 0 && kid == "" {
		for _, k := range keys {
			if k.verifies(alg) {
				found = append(found, k)
			}
		}
	}
	if len(found) != 1 {
		if kid == "" {
			return Key{}, fmt.Errorf("%w: the token names no key (kid) and %d keys verify %s", ErrUnknownKey, len(found), alg)
		}
		return Key{}, fmt.Errorf("%w: no key %q for %s", ErrUnknownKey, kid, alg)
	}
	return found[0], nil
}
