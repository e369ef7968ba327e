package gateway

import (
	"errors"
	"net/http"
	"path"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/policy"
)

func TestRouting(t *testing.T) {
	chat := newUpstream(t, nil)
	api := newUpstream(t, nil)
	base := newUpstream(t, nil)
	g := newGateway(t, Config{Routes: []Route{
		{Path: "/api/**", Upstream: api.URL},
		{Path: "/api/chat", Methods: []string{"post", "GET"}, Upstream: chat.URL},
		{Path: "/v2/{id}/items", Upstream: base.URL + "/base?fixed=1"},
	}})
	url, c := front(t, g)

	for _, tc := range []struct {
		method, path string
		status       int
		up           *upstream
		body         string
	}{
		// The most specific pattern wins, whatever the order.
		{"GET", "/api/chat", 200, chat, "ok /api/chat"},
		{"POST", "/api/chat/", 200, chat, "ok /api/chat/"},
		{"HEAD", "/api/chat", 200, chat, ""},
		{"DELETE", "/api/chat", 200, api, "ok /api/chat"}, // /api/** takes other methods
		{"GET", "/api", 200, api, "ok /api"},
		{"GET", "/api/x/y?q=1", 200, api, "ok /api/x/y?q=1"},
		// The upstream's path prefixes the request's; queries merge.
		{"GET", "/v2/42/items?q=1", 200, base, "ok /base/v2/42/items?fixed=1&q=1"},
	} {
		before := tc.up.hits.Load()
		resp, body := get(t, c, tc.method, url+tc.path)
		if resp.StatusCode != tc.status || body != tc.body {
			t.Errorf("%s %s: %d %q, want %d %q", tc.method, tc.path, resp.StatusCode, body, tc.status, tc.body)
		}
		if tc.up.hits.Load() != before+1 {
			t.Errorf("%s %s: went to the wrong upstream", tc.method, tc.path)
		}
	}

	t.Run("404", func(t *testing.T) {
		resp, body := get(t, c, "GET", url+"/nowhere")
		p := problemOf(t, resp, body)
		if resp.StatusCode != 404 || p.Type != ProblemNoRoute || p.Instance != "/nowhere" {
			t.Errorf("got %d %+v", resp.StatusCode, p)
		}
	})
	t.Run("405", func(t *testing.T) {
		g2 := newGateway(t, Config{Routes: []Route{
			{Path: "/only-get", Methods: []string{"GET"}, Upstream: chat.URL},
			{Path: "/only-get", Methods: []string{"PUT"}, Upstream: chat.URL},
		}})
		url2, c2 := front(t, g2)
		resp, body := get(t, c2, "POST", url2+"/only-get")
		p := problemOf(t, resp, body)
		if resp.StatusCode != 405 || p.Type != ProblemMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD, PUT" {
			t.Errorf("got %d %v %+v", resp.StatusCode, resp.Header, p)
		}
	})
	t.Run("paths that are not canonical", func(t *testing.T) {
		for _, path := range []string{"/api/../admin", "/api/./x", "//api/x", "/api//x", "/api/%2e%2e/admin"} {
			before := api.hits.Load()
			resp, body := get(t, c, "GET", url+path)
			p := problemOf(t, resp, body)
			if resp.StatusCode != 400 || p.Type != ProblemBadPath {
				t.Errorf("%s: %d %+v", path, resp.StatusCode, p)
			}
			if api.hits.Load() != before {
				t.Errorf("%s reached the upstream", path)
			}
		}
	})
}

func TestInvalidRoutes(t *testing.T) {
	up := newUpstream(t, nil)
	for _, tc := range []struct {
		name  string
		route Route
		want  string
	}{
		{"no path", Route{Upstream: up.URL}, "route pattern"},
		{"bad pattern", Route{Path: "/a/**/b", Upstream: up.URL}, `"**" may only be the last`},
		{"no upstream", Route{Path: "/a"}, "not an http:// or https:// URL"},
		{"ftp upstream", Route{Path: "/a", Upstream: "ftp://x"}, "not an http:// or https:// URL"},
		{"bad method", Route{Path: "/a", Upstream: up.URL, Methods: []string{"GE T"}}, "not an HTTP method"},
		{"policies without limiter", Route{Path: "/a", Upstream: up.URL, Policies: []*policy.Policy{{Name: "p", By: policy.ByAll, Limit: limit("1/s")}}}, "Config.Limiter is nil"},
		{"no policies, no limiter", Route{Path: "/a", Upstream: up.URL}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(Config{Routes: []Route{tc.route}})
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidRoute) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want ErrInvalidRoute with %q", err, tc.want)
			}
		})
	}
}

func TestHopByHopAndForwardedHeaders(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "X-Up-Private")
		w.Header().Set("X-Up-Private", "secret")
		w.Header().Set("Keep-Alive", "timeout=5")
		w.Header().Set("Sluice-Increments", "compute=3")
		w.Header().Set("X-Up-Public", "yes")
	})
	g := newGateway(t, Config{Routes: []Route{{Path: "*", Upstream: up.URL}}})
	url, c := front(t, g)
	resp, _ := get(t, c, "GET", url+"/x",
		"Connection", "X-Private", "X-Private", "1", "Proxy-Authorization", "Basic eA==", "Te", "trailers, deflate",
		"X-Forwarded-For", "203.0.113.9", "X-Forwarded-Proto", "https", "X-Forwarded-Host", "evil.example", "Forwarded", "for=203.0.113.9")
	in := up.lastRequest()
	for _, h := range []string{"X-Private", "Proxy-Authorization", "Connection"} {
		if v := in.Header.Get(h); v != "" {
			t.Errorf("upstream got hop-by-hop %s: %q", h, v)
		}
	}
	// The client is not a trusted proxy: its forwarding headers are replaced.
	host := strings.TrimPrefix(url, "http://")
	if got := in.Header.Values("X-Forwarded-For"); len(got) != 1 || got[0] != "127.0.0.1" {
		t.Errorf("X-Forwarded-For %q, want just the peer", got)
	}
	if in.Header.Get("X-Forwarded-Proto") != "http" || in.Header.Get("X-Forwarded-Host") != host || in.Header.Get("Forwarded") != "" {
		t.Errorf("forwarding headers %v", in.Header)
	}
	if in.Host != strings.TrimPrefix(up.URL, "http://") {
		t.Errorf("upstream Host %q", in.Host)
	}
	for _, h := range []string{"X-Up-Private", "Keep-Alive", "Sluice-Increments"} {
		if v := resp.Header.Get(h); v != "" {
			t.Errorf("client got %s: %q", h, v)
		}
	}
	if resp.Header.Get("X-Up-Public") != "yes" {
		t.Error("an end-to-end header was lost")
	}

	t.Run("trusted proxy", func(t *testing.T) {
		g := newGateway(t, Config{
			Routes: []Route{{Path: "*", Upstream: up.URL, PreserveHost: true}},
			Policy: policyOptionsTrusting("127.0.0.0/8"),
		})
		url, c := front(t, g)
		get(t, c, "GET", url+"/x", "X-Forwarded-For", "203.0.113.9", "X-Forwarded-Proto", "https", "X-Forwarded-Host", "api.example")
		in := up.lastRequest()
		if got := in.Header.Get("X-Forwarded-For"); got != "203.0.113.9, 127.0.0.1" {
			t.Errorf("X-Forwarded-For %q", got)
		}
		if in.Header.Get("X-Forwarded-Proto") != "https" || in.Header.Get("X-Forwarded-Host") != "api.example" {
			t.Errorf("forwarding headers %v", in.Header)
		}
		if in.Host != strings.TrimPrefix(url, "http://") {
			t.Errorf("PreserveHost: upstream Host %q", in.Host)
		}
	})
}

// FuzzCleanPath: a path cleanPath accepts is what path.Clean makes of it
// (but for one trailing slash), so no upstream can read it otherwise.
func FuzzCleanPath(f *testing.F) {
	for _, s := range []string{"/", "/a/b", "/a/../b", "//a", "/a/", "/a//b", "/./a", "", "a/b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if !cleanPath(p) {
			return
		}
		want := p
		if len(p) > 1 {
			want = strings.TrimSuffix(p, "/")
		}
		if got := path.Clean(p); got != want {
			t.Fatalf("cleanPath(%q) but path.Clean gives %q", p, got)
		}
	})
}
