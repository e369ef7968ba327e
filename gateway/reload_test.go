package gateway

import (
	"context"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestReloadDropsNothing: routes are swapped hundreds of times while
// clients send requests over keep-alive connections; every request gets
// an answer from one of the upstreams, and a slow request started before
// a swap finishes on the upstream it started with.
func TestReloadDropsNothing(t *testing.T) {
	a := newUpstream(t, func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "a") })
	b := newUpstream(t, func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "b") })
	release := make(chan struct{})
	slow := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		<-release
		_, _ = io.WriteString(w, "slow")
	})
	routes := func(up string) []Route {
		return []Route{{Path: "/x", Upstream: up}, {Path: "/slow", Upstream: slow.URL}}
	}
	g := newGateway(t, Config{Routes: routes(a.URL)})
	url, c := front(t, g)

	// A slow request in flight on the first table.
	slowDone := make(chan string, 1)
	go func() {
		resp, err := c.Get(url + "/slow")
		if err != nil {
			slowDone <- err.Error()
			return
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		slowDone <- string(body)
	}()
	for slow.hits.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	// The slow route disappears from the table while the request is in flight.
	if err := g.Update([]Route{{Path: "/x", Upstream: b.URL}}); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer cancel()
	var ok, failed atomic.Int64
	var seen sync.Map
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for ctx.Err() == nil {
				resp, err := c.Get(url + "/x")
				if err != nil {
					failed.Add(1)
					t.Errorf("request failed: %v", err)
					return
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != 200 || (string(body) != "a" && string(body) != "b") {
					failed.Add(1)
					t.Errorf("answer %d %q %v", resp.StatusCode, body, err)
					return
				}
				seen.Store(string(body), true)
				ok.Add(1)
			}
		})
	}
	swaps := 0
	for ctx.Err() == nil {
		up := a.URL
		if swaps%2 == 1 {
			up = b.URL
		}
		if err := g.Update(routes(up)); err != nil {
			t.Fatal(err)
		}
		swaps++
		time.Sleep(time.Millisecond)
	}
	wg.Wait()
	// A bad table never replaces a good one.
	if err := g.Update([]Route{{Path: "no-slash", Upstream: a.URL}}); err == nil {
		t.Error("an invalid route table was accepted")
	}
	if resp, body := get(t, c, "GET", url+"/x"); resp.StatusCode != 200 {
		t.Errorf("after a rejected update: %d %s", resp.StatusCode, body)
	}
	close(release)
	if got := <-slowDone; got != "slow" {
		t.Errorf("in-flight request across the reload: %q", got)
	}
	_, sawA := seen.Load("a")
	_, sawB := seen.Load("b")
	t.Logf("%d requests, %d swaps, %d failed", ok.Load(), swaps, failed.Load())
	if failed.Load() != 0 || ok.Load() == 0 || swaps < 10 || !sawA || !sawB {
		t.Errorf("ok %d failed %d swaps %d a %v b %v", ok.Load(), failed.Load(), swaps, sawA, sawB)
	}
}
