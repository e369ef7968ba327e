package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/sluicehq/sluice"
)

func newTestHandler(t *testing.T) http.Handler {
	t.Helper()
	lim := sluice.New(nil, sluice.Config{})
	t.Cleanup(func() { _ = lim.Close() })
	h, err := newHandler(lim)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// call sends GET /v1/items with key from the peer remote and an optional
// X-Forwarded-For; it returns the status and the answering policy.
func call(h http.Handler, key, remote, xff string) (int, string) {
	r := httptest.NewRequest(http.MethodGet, "/v1/items", nil)
	r.RemoteAddr = remote
	if key != "" {
		r.Header.Set("Authorization", "Bearer "+key)
	}
	if xff != "" {
		r.Header.Set("X-Forwarded-For", xff)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	var p struct{ Policy string }
	_ = json.Unmarshal(w.Body.Bytes(), &p)
	return w.Code, p.Policy
}

func TestPerUser(t *testing.T) {
	h := newTestHandler(t)
	for i := 1; i <= 5; i++ {
		if code, _ := call(h, "key-alice", "192.0.2.1:1000", ""); code != 200 {
			t.Fatalf("alice call %d: %d", i, code)
		}
	}
	if code, pol := call(h, "key-alice", "192.0.2.1:1000", ""); code != 429 || pol != "per-user" {
		t.Errorf("alice call 6: %d by %q, want 429 by per-user", code, pol)
	}
	// Alice from another network is still alice.
	if code, pol := call(h, "key-alice", "198.51.100.1:1000", ""); code != 429 || pol != "per-user" {
		t.Errorf("alice elsewhere: %d by %q", code, pol)
	}
	if code, _ := call(h, "key-bob", "192.0.2.1:1000", ""); code != 200 {
		t.Errorf("bob on alice's address: %d", code)
	}
	if code, _ := call(h, "", "192.0.2.1:1000", ""); code != 401 {
		t.Errorf("no API key: %d, want 401", code)
	}
}

func TestPerIP(t *testing.T) {
	h := newTestHandler(t)
	// Four users behind one address: 20 calls pass, then the address is full.
	users := []string{"key-alice", "key-bob", "key-carol", "key-dave"}
	for i := range 20 {
		if code, _ := call(h, users[i%4], "192.0.2.7:1000", ""); code != 200 {
			t.Fatalf("call %d: %d", i+1, code)
		}
	}
	if code, pol := call(h, "key-erin", "192.0.2.7:1000", ""); code != 429 || pol != "per-ip" {
		t.Errorf("call 21: %d by %q, want 429 by per-ip", code, pol)
	}
	// A client cannot escape by claiming another address...
	if code, pol := call(h, "key-erin", "192.0.2.7:1000", "203.0.113.50"); code != 429 || pol != "per-ip" {
		t.Errorf("spoofed X-Forwarded-For: %d by %q, want 429 by per-ip", code, pol)
	}
	// ...but the load balancer's word is taken.
	if code, _ := call(h, "key-erin", "10.1.2.3:1000", "203.0.113.50"); code != 200 {
		t.Errorf("through the load balancer: %d", code)
	}
	if code, pol := call(h, "key-erin", "10.1.2.3:1000", "192.0.2.7"); code != 429 || pol != "per-ip" {
		t.Errorf("192.0.2.7 through the load balancer: %d by %q", code, pol)
	}
}
