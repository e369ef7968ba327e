package rules

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Pattern is a parsed route pattern: the key_value of a route rule. The
// syntax, matched segment by segment against a request path (the decoded
// path, such as http.Request.URL.Path):
//
//   - "/api/chat"      literal segments match themselves exactly (case-sensitive);
//   - "/users/*/keys"  "*" as a whole segment matches exactly one non-empty segment;
//   - "/users/{id}"    "{name}" matches exactly one non-empty segment, like "*",
//     and names it for readers (names are letters, digits and _, unique in a pattern);
//   - "/api/*"         a trailing "/*" matches any suffix of one or more segments:
//     /api/x and /api/x/y, not /api itself;
//   - "/api/**"        a trailing "/**" matches any suffix, including none:
//     /api, /api/x and /api/x/y;
//   - "/"              the root path only;
//   - "*"              every path (the same as "/**").
//
// A single trailing slash is ignored on both sides: the pattern "/api/chat/"
// is written canonically as "/api/chat" and the path "/api/chat/" matches
// it. Patterns contain no whitespace, control characters, "?" or "#", no
// empty segments ("//"), no "." or ".." segments, and "*" or "{" only as a
// whole segment as above; "**" only as the last segment.
//
// The zero Pattern matches nothing. A Pattern is immutable and safe for
// concurrent use; Match does not allocate.
type Pattern struct {
	text     string
	segs     []patternSegment
	suffix   patternSuffix
	matchAll bool
	valid    bool
}

type patternSegment struct {
	literal  string // the text of a literal segment
	wildcard bool   // one segment: "*" or "{name}"
}

type patternSuffix uint8

const (
	suffixNone       patternSuffix = iota
	suffixOneOrMore                // trailing "/*"
	suffixZeroOrMore               // trailing "/**"
)

// MaxPatternNameLen is the longest {name} a route pattern may contain.
const MaxPatternNameLen = 64

// ParsePattern parses a route pattern (see Pattern for the syntax). Errors
// wrap ErrInvalid and say what was wrong and what is accepted.
func ParsePattern(text string) (Pattern, error) {
	fail := func(format string, args ...any) (Pattern, error) {
		return Pattern{}, fmt.Errorf("%w: route pattern %s: %s", ErrInvalid, quoteShort(text), fmt.Sprintf(format, args...))
	}
	if text == "*" {
		return Pattern{text: "*", matchAll: true, valid: true}, nil
	}
	if len(text) > MaxKeyValueLen {
		return fail("is %d bytes, at most %d are accepted", len(text), MaxKeyValueLen)
	}
	if text == "" || text[0] != '/' {
		return fail(`must start with "/" (such as /api/chat, /users/{id}, /api/**) or be "*" for every path`)
	}
	if !utf8.ValidString(text) {
		return fail("is not valid UTF-8")
	}
	for _, c := range text {
		if c <= ' ' || c == 0x7f || c == '?' || c == '#' || (c >= 0x80 && c <= 0x9f) {
			return fail("must not contain whitespace, control characters, '?' or '#' (a pattern matches the path only)")
		}
	}
	p := Pattern{valid: true}
	body := text[1:]
	if strings.HasSuffix(body, "/") {
		body = body[:len(body)-1] // one trailing slash is ignored
		if body == "" {
			return fail("empty segment (\"//\"); write each segment between single slashes")
		}
	}
	if body == "" {
		p.text = "/"
		return p, nil
	}
	parts := strings.Split(body, "/")
	var names []string
	for i, s := range parts {
		last := i == len(parts)-1
		switch {
		case s == "":
			return fail("empty segment (\"//\"); write each segment between single slashes")
		case s == "." || s == "..":
			return fail("%q segments are not allowed; write the clean path", s)
		case s == "**":
			if !last {
				return fail(`"**" may only be the last segment (as in /api/**)`)
			}
			p.suffix = suffixZeroOrMore
		case s == "*" && last:
			p.suffix = suffixOneOrMore
		case s == "*":
			p.segs = append(p.segs, patternSegment{wildcard: true})
		case s[0] == '{' && s[len(s)-1] == '}':
			name := s[1 : len(s)-1]
			if !validPatternName(name) {
				return fail("parameter %q: a name is 1 to %d letters, digits or _, not starting with a digit", s, MaxPatternNameLen)
			}
			for _, n := range names {
				if n == name {
					return fail("parameter {%s} appears twice", name)
				}
			}
			names = append(names, name)
			p.segs = append(p.segs, patternSegment{wildcard: true})
		case strings.ContainsAny(s, "*{}"):
			return fail("segment %q: '*', '{' and '}' are only accepted as a whole segment: *, ** or {name}", s)
		default:
			p.segs = append(p.segs, patternSegment{literal: s})
		}
	}
	p.text = "/" + body
	return p, nil
}

func validPatternName(name string) bool {
	if name == "" || len(name) > MaxPatternNameLen || (name[0] >= '0' && name[0] <= '9') {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
			return false
		}
	}
	return true
}

// String returns the pattern's canonical text: the text it was parsed from
// without a trailing slash. ParsePattern(p.String()) gives p again.
func (p Pattern) String() string { return p.text }

// Match reports whether path matches the pattern. path is a request path
// starting with "/" (anything else matches only the pattern "*"); a single
// trailing slash is ignored. Match does not allocate.
func (p Pattern) Match(path string) bool {
	if !p.valid {
		return false
	}
	if p.matchAll {
		return true
	}
	if path == "" || path[0] != '/' {
		return false
	}
	if len(path) > 1 && path[len(path)-1] == '/' {
		path = path[:len(path)-1]
	}
	rest := path[1:]
	more := rest != "" // whether segments remain; rest holds them
	for _, seg := range p.segs {
		if !more {
			return false
		}
		var s string
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			s, rest = rest[:i], rest[i+1:]
		} else {
			s, rest, more = rest, "", false
		}
		if seg.wildcard {
			if s == "" {
				return false
			}
		} else if s != seg.literal {
			return false
		}
	}
	switch p.suffix {
	case suffixZeroOrMore:
		return true
	case suffixOneOrMore:
		return more && rest != "" && rest[0] != '/'
	}
	return !more
}

// Specificity ranks patterns for choosing among several that match the same
// path: the higher, the more specific. It counts literal segments first,
// then one-segment wildcards ("*", "{name}"), then whether the pattern
// matches a fixed number of segments (no trailing "/*" or "/**"), so that
// /api/chat > /api/{id} > /api/* > /api/** > * (and "/**" and "*" rank 0).
// Two patterns with equal specificity are equally specific; the resolver
// breaks the tie by other means (such as priority).
func (p Pattern) Specificity() int {
	if !p.valid || p.matchAll {
		return 0
	}
	literals, wildcards := 0, 0
	for _, s := range p.segs {
		if s.wildcard {
			wildcards++
		} else {
			literals++
		}
	}
	// At most MaxKeyValueLen/2 segments, so each count fits in 10 bits.
	spec := literals<<20 | wildcards<<10
	switch p.suffix {
	case suffixNone:
		spec |= 2
	case suffixOneOrMore:
		spec |= 1
	}
	return spec
}

// quoteShort quotes s for an error message, shortened to at most 64 bytes.
func quoteShort(s string) string {
	const max = 64
	if len(s) <= max {
		return fmt.Sprintf("%q", s)
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%q…(%d bytes)", s[:cut], len(s))
}
