package gateway

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/policy"
)

// TestStreaming: server-sent events and chunked bodies reach the client as
// the upstream writes them, not when it is done.
func TestStreaming(t *testing.T) {
	for _, ct := range []string{"text/event-stream", "application/x-ndjson"} {
		t.Run(ct, func(t *testing.T) {
			release := make(chan struct{})
			up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", ct) // no Content-Length: chunked
				_, _ = io.WriteString(w, "data: first\n\n")
				w.(http.Flusher).Flush()
				select {
				case <-release:
				case <-r.Context().Done():
					return
				}
				_, _ = io.WriteString(w, "data: second\n\n")
			})
			clk := &clock{t: epoch}
			g := newGateway(t, Config{
				Routes:  []Route{{Path: "*", Upstream: up.URL, Policies: []*policy.Policy{{Name: "p", By: policy.ByIP, Limit: limit("10/1m")}}}},
				Limiter: newLimiter(t, clk), Policy: policy.Options{Now: clk.Now},
			})
			url, c := front(t, g)
			resp, err := c.Get(url + "/events")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.Header.Get("RateLimit") == "" {
				t.Error("no rate-limit headers on a streamed response")
			}
			br := bufio.NewReader(resp.Body)
			got := make(chan string, 1)
			go func() {
				line, _ := br.ReadString('\n')
				got <- line
			}()
			select {
			case line := <-got:
				if line != "data: first\n" {
					t.Errorf("first line %q", line)
				}
			case <-time.After(5 * time.Second):
				close(release)
				t.Fatal("the first event did not arrive before the upstream finished")
			}
			close(release)
			rest, err := io.ReadAll(br)
			if err != nil || string(rest) != "\ndata: second\n\n" {
				t.Errorf("rest %q, %v", rest, err)
			}
		})
	}
}

// TestWebSocketUpgrade: an Upgrade handshake passes through the policies
// and the proxy, and bytes then flow both ways.
func TestWebSocketUpgrade(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") || !strings.Contains(strings.ToLower(r.Header.Get("Connection")), "upgrade") {
			http.Error(w, "want an upgrade", http.StatusBadRequest)
			return
		}
		conn, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		_, _ = rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n")
		_ = rw.Flush()
		// Echo lines until the client closes.
		for {
			line, err := rw.ReadString('\n')
			if err != nil {
				return
			}
			_, _ = rw.WriteString("echo " + line)
			_ = rw.Flush()
		}
	})
	clk := &clock{t: epoch}
	g := newGateway(t, Config{
		Routes:  []Route{{Path: "/ws", Upstream: up.URL, Policies: []*policy.Policy{{Name: "ws", By: policy.ByIP, Limit: limit("10/1m")}}}},
		Limiter: newLimiter(t, clk), Policy: policy.Options{Now: clk.Now},
	})
	url, _ := front(t, g)
	conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "GET /ws HTTP/1.1\r\nHost: example\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Upgrade") != "websocket" ||
		resp.Header.Get("Sec-WebSocket-Accept") != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatalf("handshake: %d %v", resp.StatusCode, resp.Header)
	}
	if resp.Header.Get("RateLimit") == "" {
		t.Error("no rate-limit headers on the 101")
	}
	for _, msg := range []string{"hello\n", "again\n"} {
		if _, err := io.WriteString(conn, msg); err != nil {
			t.Fatal(err)
		}
		line, err := br.ReadString('\n')
		if err != nil || line != "echo "+msg {
			t.Fatalf("echo %q, %v", line, err)
		}
	}
}

// TestUpstreamFailures: an upstream that refuses connections is 502, one
// that does not answer in time 504, both problem+json; the policy call is
// finished (its headers are on the answer).
func TestUpstreamFailures(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + ln.Addr().String()
	ln.Close()
	slow := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	clk := &clock{t: epoch}
	pols := []*policy.Policy{{Name: "p", By: policy.ByIP, Limit: limit("10/1m")}}
	g := newGateway(t, Config{
		Routes: []Route{
			{Path: "/refused", Upstream: refused, Policies: pols},
			{Path: "/slow", Upstream: slow.URL, Policies: pols},
		},
		Limiter: newLimiter(t, clk), Policy: policy.Options{Now: clk.Now},
		Timeouts: Timeouts{ResponseHeader: 200 * time.Millisecond},
	})
	url, c := front(t, g)
	for _, tc := range []struct {
		path   string
		status int
		typ    string
	}{
		{"/refused", 502, ProblemUpstreamFailed},
		{"/slow", 504, ProblemUpstreamTimeout},
	} {
		resp, body := get(t, c, "GET", url+tc.path)
		p := problemOf(t, resp, body)
		if resp.StatusCode != tc.status || p.Type != tc.typ {
			t.Errorf("%s: %d %+v", tc.path, resp.StatusCode, p)
		}
		if resp.Header.Get("RateLimit") == "" {
			t.Errorf("%s: no rate-limit headers", tc.path)
		}
	}
}

// TestStreamingOutlastsWriteTimeout: a proxied response streams past the
// serving http.Server's WriteTimeout (which sluice serve sets for its
// decision API), as long as the upstream sends.
func TestStreamingOutlastsWriteTimeout(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range 6 {
			fmt.Fprintf(w, "data: %d\n\n", i)
			w.(http.Flusher).Flush()
			time.Sleep(100 * time.Millisecond)
		}
	})
	g := newGateway(t, Config{Routes: []Route{{Path: "*", Upstream: up.URL}}})
	t.Cleanup(func() { _ = g.Close() })
	srv := httptest.NewUnstartedServer(g)
	srv.Config.WriteTimeout = 200 * time.Millisecond
	srv.Start()
	t.Cleanup(srv.Close)
	resp, err := srv.Client().Get(srv.URL + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || strings.Count(string(body), "data: ") != 6 {
		t.Fatalf("after %s of streaming with a 200ms write timeout: %q, %v", 600*time.Millisecond, body, err)
	}
}
