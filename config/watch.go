package config

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultPollInterval is how often a Watcher looks at its file.
const DefaultPollInterval = time.Second

// WatcherConfig configures a Watcher.
type WatcherConfig struct {
	// Path is the configuration file. Empty means there is none: Reload
	// then re-reads the environment only, and nothing is polled.
	Path string
	// Env is the environment; nil means none.
	Env Env
	// Interval is how often Run looks for a change of the file (its
	// content's hash); 0 means DefaultPollInterval.
	Interval time.Duration
	// Logger receives reloads, rejected files (one record per problem) and
	// warnings about changes that need a restart; nil discards.
	Logger *slog.Logger
	// OnChange, when set, is called after a new snapshot is swapped in,
	// with the old and the new one, on the goroutine that reloaded.
	OnChange func(old, new *Config)
}

// Watcher holds the current configuration, an immutable snapshot, and
// replaces it when the file changes (Run) or on Reload (SIGHUP). A new file
// is parsed and validated whole before it is swapped in atomically; a bad
// file is rejected, its problems logged, and the old snapshot keeps
// serving. Fields that need a restart (RestartFields) keep their old
// values, with a warning. Safe for concurrent use.
type Watcher struct {
	cfg  WatcherConfig
	log  *slog.Logger
	cur  atomic.Pointer[Config]
	mu   sync.Mutex // serializes reloads
	seen [sha256.Size]byte
}

// NewWatcher returns a Watcher serving initial, the configuration already
// loaded from cfg.Path (its content is taken as seen).
func NewWatcher(initial *Config, cfg WatcherConfig) *Watcher {
	w := &Watcher{cfg: cfg, log: cfg.Logger}
	if w.log == nil {
		w.log = slog.New(slog.DiscardHandler)
	}
	if w.cfg.Interval <= 0 {
		w.cfg.Interval = DefaultPollInterval
	}
	w.cur.Store(initial)
	if cfg.Path != "" {
		if data, err := readFile(cfg.Path); err == nil {
			w.seen = sha256.Sum256(data)
		}
	}
	return w
}

// Current returns the configuration in force. Never modify it.
func (w *Watcher) Current() *Config { return w.cur.Load() }

// Reload re-reads the file and the environment now and swaps the result in
// if it is valid. It reports whether anything changed; a rejected file is
// an error (Problems) and changes nothing.
func (w *Watcher) Reload() (bool, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var data []byte
	if w.cfg.Path != "" {
		var err error
		if data, err = readFile(w.cfg.Path); err != nil {
			w.log.Error("config: reload failed; still serving the previous configuration", "err", err)
			return false, err
		}
		w.seen = sha256.Sum256(data)
	}
	return w.apply(data)
}

// apply parses data and swaps it in. w.mu is held.
func (w *Watcher) apply(data []byte) (bool, error) {
	next, err := Parse(w.cfg.Path, data, w.cfg.Env)
	if err != nil {
		var ps Problems
		if errors.As(err, &ps) {
			for _, p := range ps {
				w.log.Error("config: " + p.Error())
			}
		}
		w.log.Error("config: rejected the new configuration; still serving the previous one", "file", w.cfg.Path)
		return false, err
	}
	old := w.cur.Load()
	for _, path := range keepRestartFields(old, next) {
		w.log.Warn("config: "+path+" changed, which needs a restart; keeping the running value until then", "field", path)
	}
	changed := changedSections(old, next)
	if len(changed) == 0 {
		w.log.Info("config: reloaded, nothing changed", "file", w.cfg.Path)
		return false, nil
	}
	w.cur.Store(next)
	w.log.Info("config: reloaded", "file", w.cfg.Path, "changed", changed)
	if w.cfg.OnChange != nil {
		w.cfg.OnChange(old, next)
	}
	return true, nil
}

// Run polls the file every Interval until ctx is done, reloading when its
// content changes and has settled (the same in two reads a moment apart;
// an empty file is taken as being written, not as the defaults: use Reload
// to load one). A missing or unreadable file is logged once and keeps the
// old configuration. Run returns when ctx is done; with no Path it
// just waits.
func (w *Watcher) Run(ctx context.Context) {
	if w.cfg.Path == "" {
		<-ctx.Done()
		return
	}
	t := time.NewTicker(w.cfg.Interval)
	defer t.Stop()
	var lastErr string
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		data, err := w.settled()
		if err != nil {
			if err.Error() != lastErr {
				w.log.Warn("config: cannot read the file; still serving the previous configuration", "err", err)
				lastErr = err.Error()
			}
			continue
		}
		lastErr = ""
		if data == nil {
			continue // being written: look again at the next tick
		}
		sum := sha256.Sum256(data)
		w.mu.Lock()
		if sum != w.seen {
			w.seen = sum // a rejected content is reported once, not every poll
			_, _ = w.apply(data)
		}
		w.mu.Unlock()
	}
}

// settled reads the file twice, a moment apart, and returns its content
// only if it did not change in between and is not empty: a file being
// written in place (truncated, then written) must not be loaded half
// written. nil data means "not now".
func (w *Watcher) settled() ([]byte, error) {
	data, err := readFile(w.cfg.Path)
	if err != nil || len(bytes.TrimSpace(data)) == 0 {
		return nil, err
	}
	sum := sha256.Sum256(data)
	w.mu.Lock()
	same := sum == w.seen
	w.mu.Unlock()
	if same {
		return data, nil
	}
	time.Sleep(min(w.cfg.Interval/4, 100*time.Millisecond))
	again, err := readFile(w.cfg.Path)
	if err != nil || !bytes.Equal(data, again) {
		return nil, err
	}
	return data, nil
}

// RestartFields returns the paths of the fields (or whole sections) a
// reload cannot change: the listeners, the store, the rules database,
// Envoy's response headers, the log format, the shutdown timeout and
// delay, and auth.database (the API key table is opened at start).
// Everything else (limits: policies, routes, gateway; Envoy domains; shadow
// mode; admin tokens; log level) applies at once.
func RestartFields() []string {
	return []string{"http", "grpc", "admin.addr", "admin.pprof", "store", "rules", "envoy.headers", "log.format", "shutdown_timeout", "shutdown_delay", "auth.database"}
}

// keepRestartFields sets every restart-only field of next to its value in
// old, returning the paths that differed.
func keepRestartFields(old, next *Config) []string {
	var kept []string
	for _, path := range RestartFields() {
		o, n := fieldByPath(old, path), fieldByPath(next, path)
		if !reflect.DeepEqual(o.Interface(), n.Interface()) {
			kept = append(kept, path)
			n.Set(o)
		}
	}
	return kept
}

// changedSections returns the top-level fields that differ.
func changedSections(old, next *Config) []string {
	var out []string
	o, n := reflect.ValueOf(old).Elem(), reflect.ValueOf(next).Elem()
	names, index := fieldsOf(o.Type())
	for _, name := range names {
		i := index[name]
		if !reflect.DeepEqual(o.Field(i).Interface(), n.Field(i).Interface()) {
			out = append(out, name)
		}
	}
	return out
}

// fieldByPath returns the settable field of c at a dotted path of YAML names.
func fieldByPath(c *Config, path string) reflect.Value {
	v := reflect.ValueOf(c).Elem()
	for len(path) > 0 {
		var name string
		name, path, _ = strings.Cut(path, ".")
		_, index := fieldsOf(v.Type())
		i, ok := index[name]
		if !ok {
			return reflect.Value{}
		}
		v = v.Field(i)
	}
	return v
}
