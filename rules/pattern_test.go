package rules_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/rules"
)

func TestPatternMatch(t *testing.T) {
	cases := []struct {
		pattern string
		match   []string
		noMatch []string
	}{
		{"/api/chat", []string{"/api/chat", "/api/chat/"}, []string{"/api", "/api/chat/x", "/api/Chat", "/api/chatx", "api/chat", "", "/api//chat"}},
		{"/", []string{"/"}, []string{"/a", ""}},
		{"/users/*/keys", []string{"/users/1/keys", "/users/alice/keys/"}, []string{"/users/keys", "/users//keys", "/users/1/2/keys"}},
		{"/users/{id}", []string{"/users/1", "/users/1/"}, []string{"/users", "/users/", "/users/1/posts"}},
		{"/users/{id}/posts/{post}", []string{"/users/1/posts/2"}, []string{"/users/1/posts", "/users/1/posts/2/3"}},
		{"/api/*", []string{"/api/x", "/api/x/y", "/api/x/"}, []string{"/api", "/api/", "/apix", "/api//x"}},
		{"/api/**", []string{"/api", "/api/", "/api/x", "/api/x/y/z"}, []string{"/apix", "/ap", "/"}},
		{"/**", []string{"/", "/a", "/a/b"}, []string{"", "a"}},
		{"*", []string{"/", "/a/b", "", "anything"}, nil},
		{"/*", []string{"/a", "/a/b"}, []string{"/"}},
		{"/v1/{tenant}/**", []string{"/v1/acme", "/v1/acme/x/y"}, []string{"/v1", "/v1/"}},
		{"/caf\u00e9/x", []string{"/caf\u00e9/x"}, []string{"/cafe/x"}},
	}
	for _, c := range cases {
		p, err := rules.ParsePattern(c.pattern)
		if err != nil {
			t.Fatalf("ParsePattern(%q): %v", c.pattern, err)
		}
		for _, path := range c.match {
			if !p.Match(path) {
				t.Errorf("%q does not match %q", c.pattern, path)
			}
		}
		for _, path := range c.noMatch {
			if p.Match(path) {
				t.Errorf("%q matches %q", c.pattern, path)
			}
		}
	}
	if (rules.Pattern{}).Match("/") {
		t.Error("the zero Pattern matches")
	}
}

func TestParsePatternRejects(t *testing.T) {
	for _, bad := range []string{
		"", "api", "**", "//", "/a//b", "/a/**/b", "/a/b*", "/a/*b", "/{", "/{}", "/{1a}", "/{a-b}",
		"/{a}/{a}", "/a b", "/a?b", "/a#b", "/a\tb", "/a/./b", "/a/..", "/\xff", "/{" + strings.Repeat("n", 65) + "}",
		"/" + strings.Repeat("a", rules.MaxKeyValueLen),
	} {
		if p, err := rules.ParsePattern(bad); !errors.Is(err, rules.ErrInvalid) {
			t.Errorf("ParsePattern(%q) = %q, %v; want an error wrapping ErrInvalid", bad, p, err)
		}
	}
}

func TestPatternString(t *testing.T) {
	for in, want := range map[string]string{
		"/api/chat/": "/api/chat", "/": "/", "/a/*/": "/a/*", "/a/**": "/a/**", "*": "*", "/{id}/": "/{id}",
	} {
		p, err := rules.ParsePattern(in)
		if err != nil || p.String() != want {
			t.Errorf("ParsePattern(%q).String() = %q, %v; want %q", in, p.String(), err, want)
		}
	}
}

func TestPatternSpecificity(t *testing.T) {
	// Each more specific than the next.
	order := []string{"/api/chat/send", "/api/chat", "/api/{id}", "/api/*", "/api/**", "/*", "*"}
	for i := 0; i+1 < len(order); i++ {
		a, _ := rules.ParsePattern(order[i])
		b, _ := rules.ParsePattern(order[i+1])
		if a.Specificity() < b.Specificity() || (i < len(order)-3 && a.Specificity() == b.Specificity()) {
			t.Errorf("%q (%d) not more specific than %q (%d)", order[i], a.Specificity(), order[i+1], b.Specificity())
		}
	}
	a, _ := rules.ParsePattern("/a/{x}")
	b, _ := rules.ParsePattern("/a/*")
	c, _ := rules.ParsePattern("/a/*/")
	if a.Specificity() <= b.Specificity() {
		t.Errorf("/a/{x} (one segment) should outrank /a/* (any suffix)")
	}
	if b.Specificity() != c.Specificity() {
		t.Error("equal patterns differ in specificity")
	}
}

func TestPatternMatchAllocations(t *testing.T) {
	p, err := rules.ParsePattern("/v1/{tenant}/users/*/keys/**")
	if err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(1000, func() { p.Match("/v1/acme/users/42/keys/a/b/c/") }); n != 0 {
		t.Errorf("Match allocates %.0f times", n)
	}
}

func BenchmarkPatternMatch(b *testing.B) {
	p, _ := rules.ParsePattern("/v1/{tenant}/users/*/keys/**")
	b.ReportAllocs()
	for b.Loop() {
		p.Match("/v1/acme/users/42/keys/a/b/c")
	}
}

// FuzzParsePattern checks that parsing and matching never panic, that a
// pattern's canonical text parses back to the same pattern, and that a
// pattern of literal segments matches its own text.
func FuzzParsePattern(f *testing.F) {
	for _, s := range []string{
		"/api/chat", "/", "*", "/users/{id}", "/a/*/b", "/api/*", "/api/**", "/a//b", "/{a}/{a}", "/a/**/b",
		"/\xff", "/caf\u00e9/", "/a/./b", "/" + strings.Repeat("x/", 100),
	} {
		f.Add(s, "/api/chat/x")
	}
	f.Fuzz(func(t *testing.T, text, path string) {
		p, err := rules.ParsePattern(text)
		_ = p.Match(path)
		_ = p.Specificity()
		if err != nil {
			if !errors.Is(err, rules.ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		q, err := rules.ParsePattern(p.String())
		if err != nil || q.String() != p.String() || q.Specificity() != p.Specificity() {
			t.Fatalf("canonical %q of %q does not parse back: %v", p.String(), text, err)
		}
		if q.Match(path) != p.Match(path) {
			t.Fatalf("%q and its canonical form %q disagree on %q", text, p.String(), path)
		}
		if !strings.ContainsAny(p.String(), "*{") && !p.Match(p.String()) {
			t.Fatalf("literal pattern %q does not match itself", p.String())
		}
	})
}
