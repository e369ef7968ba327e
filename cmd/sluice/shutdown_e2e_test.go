package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	sluicev1 "github.com/sluicehq/sluice/proto/sluice/v1"
)

// loadStats counts what the load loop of TestE2EShutdownUnderLoad saw.
type loadStats struct {
	complete     atomic.Int64 // a response, read whole and well-formed
	beforeSignal atomic.Int64 // complete responses before SIGTERM
	refused      atomic.Int64 // no response, after SIGTERM: the listener had closed
	mu           sync.Mutex
	failures     []string // a broken response, or an error before SIGTERM
	signalled    atomic.Bool
}

func (s *loadStats) fail(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.failures) < 20 {
		s.failures = append(s.failures, fmt.Sprintf(format, args...))
	}
}

// TestE2EShutdownUnderLoad sends SIGTERM while 20 HTTP clients and 4 gRPC
// clients keep asking for decisions: every request that got a response got
// a complete one, no request failed before the signal, and the process
// exits 0.
func TestE2EShutdownUnderLoad(t *testing.T) {
	dir := t.TempDir()
	p := startServe(t, dir, loopbackEnv)
	var st loadStats
	var wg sync.WaitGroup
	stop := make(chan struct{})
	tr := &http.Transport{MaxIdleConnsPerHost: 32}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	for c := range 20 {
		wg.Go(func() { httpLoad(client, p.http, c, stop, &st) })
	}
	lim := sluicev1.NewLimiterClient(p.grpcConn())
	for c := range 4 {
		wg.Go(func() { grpcLoad(lim, c, stop, &st) })
	}

	time.Sleep(time.Second)
	st.beforeSignal.Store(st.complete.Load())
	st.signalled.Store(true)
	p.signal(syscall.SIGTERM)
	code := p.wait(30 * time.Second)
	close(stop)
	wg.Wait()

	t.Logf("%d complete responses (%d before SIGTERM), %d requests refused after SIGTERM",
		st.complete.Load(), st.beforeSignal.Load(), st.refused.Load())
	if code != 0 {
		t.Errorf("exit code after SIGTERM under load: %d", code)
	}
	if st.beforeSignal.Load() < 100 {
		t.Errorf("only %d decisions in the second before SIGTERM: the load did not run", st.beforeSignal.Load())
	}
	for _, f := range st.failures {
		t.Error(f)
	}
	if !strings.Contains(p.out.String(), "server: stopped") {
		t.Errorf("no graceful stop in the log:\n%s", p.out.String())
	}
}

// httpLoad asks for decisions until stop, checking every response.
func httpLoad(c *http.Client, addr string, id int, stop <-chan struct{}, st *loadStats) {
	url := "http://" + addr + "/v1/limit"
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		default:
		}
		signalled := st.signalled.Load()
		body := fmt.Sprintf(`{"key":"load:%d:%d","limit":"1000/1m"}`, id, i%50)
		resp, err := c.Post(url, "application/json", strings.NewReader(body))
		if err != nil {
			if signalled || st.signalled.Load() {
				st.refused.Add(1)
				time.Sleep(time.Millisecond)
				continue
			}
			st.fail("HTTP client %d: a request failed before SIGTERM: %v", id, err)
			return
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		var d decision
		switch {
		case err != nil:
			st.fail("HTTP client %d: a response was cut: status %d, %d bytes, %v", id, resp.StatusCode, len(b), err)
		case resp.StatusCode != 200 && resp.StatusCode != 429:
			st.fail("HTTP client %d: status %d: %s", id, resp.StatusCode, b)
		case json.Unmarshal(b, &d) != nil || d.Limit != 1000 || d.Reason == "":
			st.fail("HTTP client %d: a malformed decision: %q", id, b)
		default:
			st.complete.Add(1)
		}
	}
}

// grpcLoad asks for decisions over gRPC until stop.
func grpcLoad(lim sluicev1.LimiterClient, id int, stop <-chan struct{}, st *loadStats) {
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		default:
		}
		signalled := st.signalled.Load()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		resp, err := lim.Limit(ctx, &sluicev1.LimitRequest{Spec: &sluicev1.LimitSpec{Key: fmt.Sprintf("gload:%d:%d", id, i%50), Limit: "1000/1m"}})
		cancel()
		switch {
		case err != nil && (signalled || st.signalled.Load()) && status.Code(err) == codes.Unavailable:
			st.refused.Add(1)
			time.Sleep(time.Millisecond)
		case err != nil:
			st.fail("gRPC client %d: %v", id, err)
			return
		case resp.GetDecision().GetLimit() != 1000:
			st.fail("gRPC client %d: a malformed decision: %v", id, resp)
		default:
			st.complete.Add(1)
		}
	}
}

// TestE2ESecondSignalStopsAtOnce: the first SIGTERM starts a graceful stop
// (here a 30s drain delay), and a second one ends the process at once, as
// an operator pressing Ctrl-C twice expects.
func TestE2ESecondSignalStopsAtOnce(t *testing.T) {
	p := startServe(t, t.TempDir(), append(loopbackEnv, "SLUICE_SHUTDOWN_DELAY=30s"))
	p.signal(syscall.SIGTERM)
	p.waitLog("draining", 10*time.Second)
	select {
	case <-p.done:
		t.Fatalf("exited during the drain delay:\n%s", p.out.String())
	case <-time.After(300 * time.Millisecond):
	}
	start := time.Now()
	p.signal(syscall.SIGTERM)
	if code := p.wait(10 * time.Second); code != 128+int(syscall.SIGTERM) || time.Since(start) > 5*time.Second {
		t.Errorf("after a second SIGTERM: exit code %d after %s, want %d at once", code, time.Since(start), 128+int(syscall.SIGTERM))
	}
}
