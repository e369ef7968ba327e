package rules

import (
	"context"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"
)

// Errors returned by repositories; test them with errors.Is.
var (
	// ErrNotFound: no rule has the given id.
	ErrNotFound = errors.New("rule not found")
	// ErrConflict: an enabled-or-not rule with the same key_type, key_value,
	// method and plan already exists.
	ErrConflict = errors.New("conflicting rule exists")
	// ErrUnavailable wraps failures to reach the database.
	ErrUnavailable = errors.New("rules database unavailable")
	// ErrNotMigrated: the database's schema is older than this program's;
	// run `sluice migrate` (or open with migration enabled).
	ErrNotMigrated = errors.New("rules database schema is not migrated")
)

// Filter selects rules for List. Zero fields do not filter.
type Filter struct {
	KeyType  KeyType
	KeyValue string
	Plan     string
	Enabled  *bool
	// Limit is the page size: 0 means 100, at most 1000.
	Limit int
	// Cursor is the NextCursor of the previous page; empty for the first.
	Cursor string
}

// Page sizes of List.
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
)

// PageSize returns the page size f asks for: DefaultPageSize when f.Limit
// is 0, at most MaxPageSize.
func (f Filter) PageSize() int {
	switch {
	case f.Limit <= 0:
		return DefaultPageSize
	case f.Limit > MaxPageSize:
		return MaxPageSize
	}
	return f.Limit
}

// Validate checks the filter: a known key type (when set), a page size that
// is not negative, and a cursor that came from a Page. Errors are
// *ValidationError. Repositories call it in List.
func (f Filter) Validate() error {
	e := &ValidationError{}
	if f.KeyType != "" && !f.KeyType.Valid() {
		e.add("key_type", "must be one of %s, got %s", keyTypeList, quoteShort(string(f.KeyType)))
	}
	if f.Limit < 0 {
		e.add("limit", "must be between 0 (meaning %d) and %d, got %d", DefaultPageSize, MaxPageSize, f.Limit)
	}
	if f.Cursor != "" {
		if _, _, err := DecodeCursor(f.Cursor); err != nil {
			e.add("cursor", "must be the next_cursor of a previous page")
		}
	}
	return e.err()
}

// Canonical returns f with KeyValue written the way a rule of f.KeyType
// stores it (see Rule.Canonical), so that filtering for ip 10.1.2.3/8 finds
// the rule stored as 10.0.0.0/8.
func (f Filter) Canonical() Filter {
	if f.KeyValue != "" && f.KeyType != "" {
		f.KeyValue = Rule{KeyType: f.KeyType, KeyValue: f.KeyValue}.Canonical().KeyValue
	}
	return f
}

// EncodeCursor returns the opaque cursor that continues a List after the
// rule created at createdAt with the given id (the last rule of a page).
// It is for Repository implementations.
func EncodeCursor(createdAt time.Time, id string) string {
	raw := strconv.FormatInt(createdAt.UnixMicro(), 10) + "," + id
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

// DecodeCursor returns the created_at (UTC, microseconds) and id an
// EncodeCursor cursor holds. Its errors are *ValidationError.
func DecodeCursor(cursor string) (createdAt time.Time, id string, err error) {
	bad := invalidField("cursor", "must be the next_cursor of a previous page")
	raw, decErr := base64.RawURLEncoding.DecodeString(cursor)
	if decErr != nil {
		return time.Time{}, "", bad
	}
	micros, id, ok := strings.Cut(string(raw), ",")
	us, convErr := strconv.ParseInt(micros, 10, 64)
	if !ok || convErr != nil || id == "" || len(id) > 64 {
		return time.Time{}, "", bad
	}
	return time.UnixMicro(us).UTC(), id, nil
}

// Page is one page of List results, ordered by created_at then id.
type Page struct {
	Rules []Rule
	// NextCursor fetches the next page; empty on the last page.
	NextCursor string
}

// Patch is a partial update: nil fields are left as they are.
type Patch struct {
	KeyType       *KeyType
	KeyValue      *string
	Method        *string
	Plan          *string
	Limit         *int64
	WindowSeconds *int64
	Algorithm     *string
	Burst         *int64
	TimeZone      *string
	Enabled       *bool
	Shadow        *bool
	Priority      *int
	Description   *string
}

// Apply returns r with the non-nil fields of p set. It does not validate.
func (p Patch) Apply(r Rule) Rule {
	set := func(dst *string, src *string) {
		if src != nil {
			*dst = *src
		}
	}
	if p.KeyType != nil {
		r.KeyType = *p.KeyType
	}
	set(&r.KeyValue, p.KeyValue)
	set(&r.Method, p.Method)
	set(&r.Plan, p.Plan)
	set(&r.Algorithm, p.Algorithm)
	set(&r.TimeZone, p.TimeZone)
	set(&r.Description, p.Description)
	if p.Limit != nil {
		r.Limit = *p.Limit
	}
	if p.WindowSeconds != nil {
		r.WindowSeconds = *p.WindowSeconds
	}
	if p.Burst != nil {
		r.Burst = *p.Burst
	}
	if p.Enabled != nil {
		r.Enabled = *p.Enabled
	}
	if p.Shadow != nil {
		r.Shadow = *p.Shadow
	}
	if p.Priority != nil {
		r.Priority = *p.Priority
	}
	return r
}

// Audit actions.
const (
	ActionCreate = "create"
	ActionUpdate = "update"
	ActionDelete = "delete"
)

// AuditEntry records one change to a rule, written in the same transaction
// as the change.
type AuditEntry struct {
	ID     int64     `json:"id"`
	At     time.Time `json:"at"`     // when the change was made, UTC
	Actor  string    `json:"actor"`  // the name of the admin token that made the change
	Action string    `json:"action"` // ActionCreate, ActionUpdate or ActionDelete
	RuleID string    `json:"rule_id"`
	Before *Rule     `json:"before"` // nil for create
	After  *Rule     `json:"after"`  // nil for delete
}

// MaxAuditEntries is the most entries one Audit call returns.
const MaxAuditEntries = 1000

// AuditLimit returns how many entries an Audit call with the given limit
// returns at most: 100 for 0, at most MaxAuditEntries. A negative limit is
// a *ValidationError. It is for Repository implementations.
func AuditLimit(limit int) (int, error) {
	switch {
	case limit < 0:
		return 0, invalidField("limit", "must be between 0 (meaning 100) and %d, got %d", MaxAuditEntries, limit)
	case limit == 0:
		return 100, nil
	case limit > MaxAuditEntries:
		return MaxAuditEntries, nil
	}
	return limit, nil
}

// Repository stores rules. Implementations: rules/sqlite and rules/postgres,
// both checked by the shared suite in rules/repotest; rules/rulesdb opens
// either from a DSN. Implementations are safe for concurrent use.
//
// Every write validates the rule (Rule.Validate; errors wrap ErrInvalid),
// stores it in canonical form (Rule.Canonical), sets timestamps (UTC,
// microsecond precision; updated_at strictly increases on every update),
// and writes an AuditEntry in the same transaction: a write that fails
// leaves no audit entry, and a write that returned nil is durable. Errors
// reaching the database wrap ErrUnavailable.
type Repository interface {
	// Create stores a new rule, assigning a UUID when r.ID is empty, and
	// returns it as stored. CreatedAt and UpdatedAt are set to now. A rule
	// with the same key_type, key_value, method and plan (or the same id)
	// gives ErrConflict.
	Create(ctx context.Context, r Rule, actor string) (Rule, error)
	// Get returns the rule with the given id, or ErrNotFound (also for an
	// id that is not a UUID).
	Get(ctx context.Context, id string) (Rule, error)
	// List returns a page of rules matching f, ordered by created_at then
	// id. An invalid filter gives an error wrapping ErrInvalid.
	List(ctx context.Context, f Filter) (Page, error)
	// Update applies p to the rule with the given id, validates the result,
	// and returns it as stored; ErrNotFound when there is no such rule,
	// ErrConflict when the patched key collides with another rule. A patch
	// that changes nothing returns the rule without writing or auditing.
	Update(ctx context.Context, id string, p Patch, actor string) (Rule, error)
	// Delete removes the rule with the given id, or returns ErrNotFound.
	Delete(ctx context.Context, id string, actor string) error
	// Enabled returns every enabled rule, ordered by created_at then id:
	// the resolver's snapshot, read in one consistent query.
	Enabled(ctx context.Context) ([]Rule, error)
	// Audit returns the audit entries of a rule (all rules if ruleID is
	// empty), oldest first, at most limit (0 means 100; at most
	// MaxAuditEntries).
	Audit(ctx context.Context, ruleID string, limit int) ([]AuditEntry, error)
	// Ping checks the database is reachable.
	Ping(ctx context.Context) error
	// Close releases the repository's connections.
	Close() error
}

// Watcher is the optional ability of a repository to announce changes made
// by any instance (PostgreSQL LISTEN/NOTIFY; SQLite polls the file's data
// version). Watch calls changed once as soon as it is watching (so that a
// change between the caller's first load and the start of watching is not
// lost), after every change, and after reconnecting (changes may have been
// missed meanwhile). Calls come from one goroutine, one at a time; several
// changes may be announced by one call. Watch returns nil when ctx ends,
// or an error when watching cannot continue (such as rejected credentials).
type Watcher interface {
	Watch(ctx context.Context, changed func()) error
}
