package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"unicode"
	"unicode/utf8"

	"github.com/sluicehq/sluice/policy"
)

// ErrKeyNotFound is returned by a KeyStore for a hash it does not hold.
var ErrKeyNotFound = errors.New("api key not found")

// KeyHash is the SHA-256 hash of an API key: the only form in which keys
// are stored.
type KeyHash [sha256.Size]byte

// HashKey returns the hash of the API key key.
func HashKey(key string) KeyHash { return sha256.Sum256([]byte(key)) }

// ParseKeyHash parses the hex form of a KeyHash (64 hex digits, as
// `printf %s "$KEY" | sha256sum` prints it).
func ParseKeyHash(s string) (KeyHash, error) {
	var h KeyHash
	if len(s) != hex.EncodedLen(len(h)) {
		return h, fmt.Errorf("key hash %q: want %d hex digits (the SHA-256 of the key), got %d characters", truncate(s), hex.EncodedLen(len(h)), len(s))
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil {
		return h, fmt.Errorf("key hash %q: want hex digits: %w", truncate(s), err)
	}
	return h, nil
}

// String returns the hash as 64 lowercase hex digits.
func (h KeyHash) String() string { return hex.EncodeToString(h[:]) }

// KeyPrefix begins every API key GenerateKey makes.
const KeyPrefix = "sk_"

// MinKeyLen is the shortest API key accepted in configuration.
const MinKeyLen = 16

// GenerateKey returns a new random API key: KeyPrefix and 32 random bytes
// in unpadded base64url (46 characters in all).
func GenerateKey() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generate api key: %w", err)
	}
	return KeyPrefix + base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// Consumer is who an API key belongs to.
type Consumer struct {
	// Name is the consumer name: the subject of the policy.User.
	Name string
	// Metadata is the key's metadata, such as "customerId" and "plan", and
	// under policy.DataAPIKeyID ("apiKeyId") the key's public ID: the Data
	// of the policy.User. Treat it as read-only: it is shared.
	Metadata map[string]any
}

// withKeyID returns a copy of metadata with the key's public ID added
// under policy.DataAPIKeyID, unless metadata sets it already.
func withKeyID(metadata map[string]any, id string) map[string]any {
	if _, ok := metadata[policy.DataAPIKeyID]; ok {
		return metadata
	}
	md := make(map[string]any, len(metadata)+1)
	maps.Copy(md, metadata)
	md[policy.DataAPIKeyID] = id
	return md
}

// WithKeyID returns the consumer named name with metadata and, under
// policy.DataAPIKeyID, the key's public ID id (unless metadata has one), as
// a KeyStore returns it.
func WithKeyID(name string, metadata map[string]any, id string) Consumer {
	return Consumer{Name: name, Metadata: withKeyID(metadata, id)}
}

// DefaultKeyID returns the public ID of a configured key that has none:
// "key_" and the first 16 hex digits of the SHA-256 of its hash, which
// identifies the key in rules (api_key) and analytics without revealing it.
func DefaultKeyID(h KeyHash) string {
	sum := sha256.Sum256(h[:])
	return "key_" + hex.EncodeToString(sum[:8])
}

// MaxConsumerLen is the longest consumer name accepted, in bytes.
const MaxConsumerLen = 256

// ValidateConsumer checks a consumer name: 1 to MaxConsumerLen bytes of
// UTF-8 without control characters.
func ValidateConsumer(name string) error {
	switch {
	case name == "":
		return errors.New("consumer name is empty; name who the key belongs to")
	case len(name) > MaxConsumerLen:
		return fmt.Errorf("consumer name is %d bytes, at most %d are accepted", len(name), MaxConsumerLen)
	case !utf8.ValidString(name):
		return errors.New("consumer name is not valid UTF-8")
	}
	for _, c := range name {
		if unicode.IsControl(c) {
			return fmt.Errorf("consumer name %q contains a control character", truncate(name))
		}
	}
	return nil
}

// KeyStore finds the consumer of an API key by the key's hash. A lookup by
// hash rather than by key means the key itself is never stored, and the
// time a lookup takes depends only on the hash, which says nothing usable
// about the key. MemoryKeyStore and keydb.Store implement it.
type KeyStore interface {
	// LookupKey returns the consumer of the key with hash h, or an error
	// wrapping ErrKeyNotFound. Other errors mean the store failed.
	LookupKey(ctx context.Context, h KeyHash) (Consumer, error)
}

// APIKey is one API key in configuration.
type APIKey struct {
	// Consumer is who the key belongs to: the subject of the user.
	// Required.
	Consumer string
	// KeyHash is the hex SHA-256 of the key. Exactly one of KeyHash and
	// Key is required; prefer KeyHash, which keeps the key out of files.
	KeyHash string
	// Key is the key itself, at least MinKeyLen bytes; it is hashed when
	// loaded and not kept.
	Key string
	// ID is the key's public ID, the api_key that rules match and
	// analytics show. Empty means DefaultKeyID.
	ID string
	// Metadata is available to policies as the user's Data, such as
	// {"customerId": "c_42", "plan": "pro"}.
	Metadata map[string]any
}

// hash validates k and returns its hash.
func (k APIKey) hash() (KeyHash, error) {
	if err := ValidateConsumer(k.Consumer); err != nil {
		return KeyHash{}, err
	}
	switch {
	case k.Key != "" && k.KeyHash != "":
		return KeyHash{}, fmt.Errorf("consumer %q: set key or key hash, not both", k.Consumer)
	case k.Key != "":
		if len(k.Key) < MinKeyLen || len(k.Key) > MaxCredentialLen {
			return KeyHash{}, fmt.Errorf("consumer %q: a key is %d to %d bytes", k.Consumer, MinKeyLen, MaxCredentialLen)
		}
		return HashKey(k.Key), nil
	case k.KeyHash != "":
		h, err := ParseKeyHash(k.KeyHash)
		if err != nil {
			return KeyHash{}, fmt.Errorf("consumer %q: %w", k.Consumer, err)
		}
		return h, nil
	}
	return KeyHash{}, fmt.Errorf("consumer %q: set the key hash (hex SHA-256 of the key) or the key", k.Consumer)
}

// MemoryKeyStore is a KeyStore over a fixed set of keys, from
// configuration. It is immutable and safe for concurrent use; a new
// configuration makes a new one.
type MemoryKeyStore struct {
	keys map[KeyHash]Consumer
}

var _ KeyStore = (*MemoryKeyStore)(nil)

// NewMemoryKeyStore returns a store holding keys. It fails when a key is
// invalid or two keys are the same.
func NewMemoryKeyStore(keys []APIKey) (*MemoryKeyStore, error) {
	m := &MemoryKeyStore{keys: make(map[KeyHash]Consumer, len(keys))}
	for i, k := range keys {
		h, err := k.hash()
		if err != nil {
			return nil, fmt.Errorf("api key %d: %w", i+1, err)
		}
		if prev, dup := m.keys[h]; dup {
			return nil, fmt.Errorf("api key %d (consumer %q): the same key is already given to consumer %q", i+1, k.Consumer, prev.Name)
		}
		id := k.ID
		if id == "" {
			id = DefaultKeyID(h)
		}
		m.keys[h] = WithKeyID(k.Consumer, k.Metadata, id)
	}
	return m, nil
}

// LookupKey returns the consumer of the key with hash h.
func (m *MemoryKeyStore) LookupKey(_ context.Context, h KeyHash) (Consumer, error) {
	c, ok := m.keys[h]
	if !ok {
		return Consumer{}, ErrKeyNotFound
	}
	return c, nil
}

// Len returns the number of keys in the store.
func (m *MemoryKeyStore) Len() int { return len(m.keys) }

// APIKeyConfig configures an APIKeyAuth.
type APIKeyConfig struct {
	// Keys holds the keys. Required.
	Keys KeyStore
	// Header is the request header carrying the key, such as X-API-Key.
	// Empty means "Authorization: Bearer <key>".
	Header string
	// Realm is the realm of the WWW-Authenticate challenge; empty means
	// DefaultRealm.
	Realm string
}

// APIKeyAuth authenticates requests by API key: the key's consumer becomes
// the user's subject and its metadata the user's Data. It is safe for
// concurrent use.
type APIKeyAuth struct {
	keys KeyStore
	src  credentialSource
}

var _ Authenticator = (*APIKeyAuth)(nil)

// NewAPIKey returns an API key authenticator. It fails without a KeyStore
// or with an invalid Header or Realm.
func NewAPIKey(cfg APIKeyConfig) (*APIKeyAuth, error) {
	if cfg.Keys == nil {
		return nil, errors.New("api key auth: no key store")
	}
	src, err := newCredentialSource(cfg.Header, cfg.Realm)
	if err != nil {
		return nil, fmt.Errorf("api key auth: %w", err)
	}
	return &APIKeyAuth{keys: cfg.Keys, src: src}, nil
}

// Authenticate returns the consumer of the key r carries as a user.
func (a *APIKeyAuth) Authenticate(r *http.Request) (policy.User, error) {
	key, err := a.src.read(r)
	if err != nil {
		return policy.User{}, err
	}
	c, err := a.keys.LookupKey(r.Context(), HashKey(key))
	switch {
	case errors.Is(err, ErrKeyNotFound):
		return policy.User{}, invalidCredentials("the API key is not known", nil)
	case err != nil:
		return policy.User{}, fmt.Errorf("api key auth: look up key: %w", err)
	}
	return policy.User{Subject: c.Name, Data: c.Metadata}, nil
}

// Challenge returns the WWW-Authenticate value of a 401.
func (a *APIKeyAuth) Challenge() string { return a.src.challenge() }

// truncate shortens s for an error message.
func truncate(s string) string {
	if len(s) > 80 {
		return s[:77] + "..."
	}
	return s
}
