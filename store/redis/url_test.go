package redis

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/algorithm"
	"github.com/sluicehq/sluice/internal/servicetest"
)

func TestParseURL(t *testing.T) {
	type want struct {
		addrs            []string
		user, pass       string
		db               int
		master           string
		sentUser, sentPw string
		tls, single      bool
	}
	for _, tc := range []struct {
		url  string
		want want
	}{
		{"redis://127.0.0.1:6379", want{addrs: []string{"127.0.0.1:6379"}, single: true}},
		{"redis://localhost", want{addrs: []string{"localhost:6379"}, single: true}},
		{"redis://u:p%40ss@h:7000/3", want{addrs: []string{"h:7000"}, user: "u", pass: "p@ss", db: 3, single: true}},
		{"redis://:secret@h:1/", want{addrs: []string{"h:1"}, pass: "secret", single: true}},
		{"rediss://h:6380", want{addrs: []string{"h:6380"}, tls: true, single: true}},
		{"redis://[::1]:6379", want{addrs: []string{"[::1]:6379"}, single: true}},
		{"redis-sentinel://s1:26379,s2/mymaster", want{addrs: []string{"s1:26379", "s2:26379"}, master: "mymaster"}},
		{"redis-sentinel://pw@s1:5000/m/2?sentinel_password=x&sentinel_username=y", want{addrs: []string{"s1:5000"}, user: "pw", master: "m", db: 2, sentUser: "y", sentPw: "x"}},
		{"rediss-sentinel://s1/m", want{addrs: []string{"s1:26379"}, master: "m", tls: true}},
		{"redis+cluster://h1:7000,h2:7001,h3:7002", want{addrs: []string{"h1:7000", "h2:7001", "h3:7002"}}},
		{"rediss+cluster://u:p@h1:7000", want{addrs: []string{"h1:7000"}, user: "u", pass: "p", tls: true}},
	} {
		opt, err := ParseURL(tc.url)
		if err != nil {
			t.Errorf("ParseURL(%q): %v", tc.url, err)
			continue
		}
		got := want{addrs: opt.InitAddress, user: opt.Username, pass: opt.Password, db: opt.SelectDB, master: opt.Sentinel.MasterSet,
			sentUser: opt.Sentinel.Username, sentPw: opt.Sentinel.Password, tls: opt.TLSConfig != nil, single: opt.ForceSingleClient}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseURL(%q) = %+v, want %+v", tc.url, got, tc.want)
		}
	}
	for _, bad := range []string{
		"", "127.0.0.1:6379", "http://h", "redis://", "redis://h:0", "redis://h:x", "redis://h:1,h:2",
		"redis://h/x", "redis://h/1/2", "redis-sentinel://h", "redis+cluster://h/1", "redis://h?foo=1", "redis://h#frag",
		"redis://h:1,", "redis+cluster://,h:1",
	} {
		_, err := ParseURL(bad)
		if !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("ParseURL(%q): %v, want ErrInvalidConfig", bad, err)
		}
		if err != nil && !strings.Contains(err.Error(), "accepted:") {
			t.Errorf("ParseURL(%q): %v does not say what is accepted", bad, err)
		}
	}
	if _, err := ParseURL("redis://user:hunter2@h:1/x"); err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error shows the password: %v", err)
	}
}

func FuzzParseURL(f *testing.F) {
	for _, s := range []string{"redis://u:p@h:1/2", "redis-sentinel://a,b:3/m/1?sentinel_password=x", "redis+cluster://a:1,b:2", "rediss://[::1]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		opt, err := ParseURL(s)
		if err == nil && len(opt.InitAddress) == 0 {
			t.Fatalf("ParseURL(%q) accepted no address", s)
		}
	})
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []Config{{Prefix: "a{b"}, {Prefix: strings.Repeat("p", 65)}, {Timeout: -time.Second}, {URL: "bogus"}} {
		if err := c.Validate(); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%+v: %v, want ErrInvalidConfig", c, err)
		}
	}
	if err := (Config{}).Validate(); err != nil {
		t.Errorf("zero Config: %v", err)
	}
	if _, err := NewWithClient(nil, Config{}); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("NewWithClient(nil): %v", err)
	}
}

// TestDeployments opens a store from a URL for each kind of deployment and
// decides through it: standalone, Cluster, and Sentinel (a master and a
// Sentinel the test starts).
func TestDeployments(t *testing.T) {
	ctx := context.Background()
	decide := func(t *testing.T, url string) {
		t.Helper()
		s, err := New(Config{URL: url, Prefix: testPrefix(t), Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if err := s.Ping(ctx); err != nil {
			t.Fatal(err)
		}
		l := algorithm.MustParseLimit("1/1m")
		if d, err := s.Take(ctx, "deploy", l, 1); err != nil || !d.Allowed {
			t.Fatalf("first take: %+v %v", d, err)
		}
		if d, err := s.Take(ctx, "deploy", l, 1); err != nil || d.Allowed {
			t.Fatalf("second take: %+v %v", d, err)
		}
		if err := s.Reset(ctx, "deploy"); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("standalone", func(t *testing.T) {
		standaloneClient(t)
		decide(t, "redis://"+redisAddr()+"/0")
	})
	t.Run("cluster", func(t *testing.T) {
		clusterClient(t)
		addrs, _ := clusterAddrs()
		decide(t, "redis+cluster://"+strings.Join(addrs, ","))
	})
	t.Run("sentinel", func(t *testing.T) {
		master := servicetest.StartRedis(t)
		port, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		conf := filepath.Join(dir, "sentinel.conf")
		body := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\nsentinel monitor sluice 127.0.0.1 %d 1\n", port, dir, master.Port)
		if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("redis-server", conf, "--sentinel")
		if err := cmd.Start(); err != nil {
			servicetest.Unavailable(t, "cannot start a Sentinel: %v", err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		url := fmt.Sprintf("redis-sentinel://127.0.0.1:%d/sluice", port)
		deadline := time.Now().Add(10 * time.Second)
		for {
			s, err := New(Config{URL: url, Timeout: time.Second})
			if err == nil {
				s.Close()
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("Sentinel at %s: %v", url, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
		decide(t, url)
	})
}
