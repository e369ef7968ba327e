package config

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a log sink safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestWatcherReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sluice.yaml")
	writeFile(t, path, "shadow_mode: false\nlog: {level: info}\n")
	initial, err := Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	var changes []string
	w := NewWatcher(initial, WatcherConfig{
		Path:   path,
		Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		OnChange: func(old, next *Config) {
			changes = append(changes, strings.Join(changedSections(old, next), ","))
		},
	})

	// A good file is swapped in.
	writeFile(t, path, "shadow_mode: true\nlog: {level: debug}\n")
	if changed, err := w.Reload(); !changed || err != nil {
		t.Fatalf("Reload = %v, %v", changed, err)
	}
	if c := w.Current(); !c.ShadowMode || c.Log.Level != "debug" {
		t.Errorf("after reload: %+v", c)
	}
	if initial.ShadowMode {
		t.Error("the old snapshot was modified")
	}

	// A bad file is rejected, with its lines, and the old one stays.
	writeFile(t, path, "shadow_mode: false\nlog: {level: loud}\nstore: {timeout: fast}\n")
	if changed, err := w.Reload(); changed || err == nil {
		t.Fatalf("Reload of a bad file = %v, %v", changed, err)
	}
	if c := w.Current(); !c.ShadowMode {
		t.Error("a bad file replaced the configuration")
	}
	for _, want := range []string{"sluice.yaml:2: log.level", "sluice.yaml:3: store.timeout", "still serving the previous one"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("logs lack %q:\n%s", want, logs.String())
		}
	}

	// A field that needs a restart keeps its running value, with a warning;
	// the rest of the file applies.
	writeFile(t, path, "shadow_mode: false\nhttp: {addr: \"127.0.0.1:9\"}\nstore: {type: redis}\n")
	if changed, err := w.Reload(); !changed || err != nil {
		t.Fatalf("Reload = %v, %v", changed, err)
	}
	c := w.Current()
	if c.HTTP.Addr != DefaultHTTPAddr || c.Store.Type != "" || c.ShadowMode {
		t.Errorf("restart fields changed or shadow_mode did not: http %q store %q shadow %v", c.HTTP.Addr, c.Store.Type, c.ShadowMode)
	}
	for _, want := range []string{"http changed, which needs a restart", "store changed"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("logs lack %q", want)
		}
	}
	if len(changes) != 2 || changes[0] != "shadow_mode,log" || changes[1] != "shadow_mode,log" {
		t.Errorf("OnChange calls: %q", changes)
	}

	// The same content again changes nothing.
	if changed, err := w.Reload(); changed || err != nil {
		t.Errorf("Reload of the same file = %v, %v", changed, err)
	}
}

func TestWatcherPolls(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sluice.yaml")
	writeFile(t, path, "shadow_mode: false\n")
	initial, err := Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	changed := make(chan *Config, 4)
	w := NewWatcher(initial, WatcherConfig{
		Path: path, Interval: 10 * time.Millisecond,
		Logger:   slog.New(slog.NewTextHandler(&logs, nil)),
		OnChange: func(_, next *Config) { changed <- next },
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); w.Run(ctx) }()
	defer func() { cancel(); <-done }()

	// Replace the file by rename, as editors and ConfigMaps do.
	tmp := filepath.Join(dir, "new.yaml")
	writeFile(t, tmp, "shadow_mode: true\n")
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	select {
	case c := <-changed:
		if !c.ShadowMode {
			t.Errorf("polled config: %+v", c)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("the change was not picked up; logs:\n%s", logs.String())
	}

	// A bad file is logged once, not at every poll.
	writeFile(t, path, "shadow_mode: maybe\n")
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logs.String(), "rejected") && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	if n := strings.Count(logs.String(), "rejected the new configuration"); n != 1 {
		t.Errorf("a bad file was reported %d times:\n%s", n, logs.String())
	}
	if !w.Current().ShadowMode {
		t.Error("a bad file replaced the configuration")
	}
	// A deleted file keeps the configuration too.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	for !strings.Contains(logs.String(), "cannot read the file") && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), "cannot read the file") || !w.Current().ShadowMode {
		t.Errorf("a deleted file: %s", logs.String())
	}
}

func TestRestartFieldsExist(t *testing.T) {
	c := Default()
	for _, p := range RestartFields() {
		if !fieldByPath(c, p).IsValid() {
			t.Errorf("restart field %s does not exist", p)
		}
	}
}
