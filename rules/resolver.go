package rules

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Defaults of ResolverConfig.
const (
	DefaultTTL         = 60 * time.Second
	DefaultDebounce    = 250 * time.Millisecond
	DefaultLoadTimeout = 10 * time.Second
	// minRetry is the first delay before retrying a failed load; it doubles
	// up to the TTL.
	minRetry = time.Second
)

// ResolverConfig configures a Resolver. The zero value is usable: rules
// are refreshed every minute and no fallback applies.
type ResolverConfig struct {
	// TTL is how often the rules are reloaded in the background; 0 means
	// DefaultTTL. It bounds how long a change made on another instance
	// takes to apply when the repository cannot announce changes (SQLite).
	TTL time.Duration
	// Debounce is how long the resolver waits after a change notification
	// (PostgreSQL LISTEN/NOTIFY) before reloading, so that a burst of
	// changes costs one reload; 0 means DefaultDebounce.
	Debounce time.Duration
	// LoadTimeout bounds one load of the rules; 0 means DefaultLoadTimeout.
	LoadTimeout time.Duration
	// Fallback holds the rules that apply while no rules were ever loaded
	// (the database was unreachable from the start), such as one user_id
	// "*" rule of 100 per minute. Their Enabled field is ignored; they
	// must otherwise be valid. Matches from them are marked Fallback. With
	// no fallback, nothing is limited until rules load.
	Fallback []Rule
	// Logger receives load failures and skipped rules; nil discards.
	Logger *slog.Logger
	// Registerer, when set, receives the resolver's metrics:
	// sluice_rules_loaded, sluice_rules_skipped, sluice_rules_cache_age_seconds,
	// sluice_rules_refreshes_total, sluice_rules_refresh_errors_total and
	// sluice_rules_fallback_total.
	Registerer prometheus.Registerer
	// Now is the clock used for the cache age; nil means time.Now.
	Now func() time.Time
}

// Validate checks the config: durations must not be negative and every
// fallback rule must be valid.
func (c ResolverConfig) Validate() error {
	if c.TTL < 0 || c.Debounce < 0 || c.LoadTimeout < 0 {
		return fmt.Errorf("TTL, Debounce and LoadTimeout must not be negative, got %s, %s, %s", c.TTL, c.Debounce, c.LoadTimeout)
	}
	if bad := c.fallbackIndex().Skipped(); len(bad) > 0 {
		return fmt.Errorf("invalid fallback: %w", errors.Join(bad...))
	}
	return nil
}

// fallbackIndex compiles the fallback rules, all enabled.
func (c ResolverConfig) fallbackIndex() *Index {
	fb := slices.Clone(c.Fallback)
	for i := range fb {
		fb[i].Enabled = true
	}
	return NewIndex(fb)
}

// Resolver serves rule resolution from an in-process snapshot of every
// enabled rule, so no request waits on the database. A goroutine owned by
// the Resolver reloads the snapshot every TTL, on Invalidate, and on change
// notifications when the repository is a Watcher; Close stops it. When a
// load fails the last snapshot keeps serving; when none was ever loaded
// the fallback rules apply. A request whose caller has no rule is answered
// from the snapshot too (no rule is a cached answer). Safe for concurrent
// use.
type Resolver struct {
	repo     Repository
	ttl      time.Duration
	debounce time.Duration
	timeout  time.Duration
	log      *slog.Logger
	now      func() time.Time
	fallback *Index
	started  time.Time
	m        *resolverMetrics

	snap      atomic.Pointer[snapshot]
	loadMu    sync.Mutex // serializes loads so an older one never replaces a newer
	kick      chan struct{}
	notify    chan struct{}
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// snapshot is one loaded, compiled set of rules.
type snapshot struct {
	ix       *Index
	loadedAt time.Time
}

// NewResolver returns a Resolver over repo and starts its refresh
// goroutine, which loads the rules at once; until that first load
// completes, Resolve serves the fallback. Call Refresh to wait for a load,
// and Close to stop the goroutine. It fails on an invalid config (a bad
// fallback rule, a negative duration) or when registering metrics fails.
func NewResolver(repo Repository, cfg ResolverConfig) (*Resolver, error) {
	if repo == nil {
		return nil, errors.New("rules: NewResolver: nil repository")
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("rules: NewResolver: %w", err)
	}
	r := &Resolver{
		repo:     repo,
		ttl:      orDefault(cfg.TTL, DefaultTTL),
		debounce: orDefault(cfg.Debounce, DefaultDebounce),
		timeout:  orDefault(cfg.LoadTimeout, DefaultLoadTimeout),
		log:      cfg.Logger,
		now:      cfg.Now,
		kick:     make(chan struct{}, 1),
		notify:   make(chan struct{}, 1),
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.now == nil {
		r.now = time.Now
	}
	r.started = r.now()
	r.fallback = cfg.fallbackIndex()
	m, err := newResolverMetrics(cfg.Registerer, r.age)
	if err != nil {
		return nil, fmt.Errorf("rules: NewResolver: %w", err)
	}
	r.m = m

	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	r.wg.Add(1)
	go r.run(ctx)
	if w, ok := repo.(Watcher); ok {
		r.wg.Add(1)
		go r.watch(ctx, w)
	}
	return r, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// Resolve appends to out, and returns, the limits that apply to the
// request a, from the current snapshot (see Index.Resolve). It never
// blocks on the database and never fails: with no snapshot ever loaded it
// resolves against the fallback rules, marks those matches Fallback and
// counts the resolution in sluice_rules_fallback_total.
func (r *Resolver) Resolve(a Attributes, out []Match) []Match {
	if s := r.snap.Load(); s != nil {
		return s.ix.resolve(&a, out, false)
	}
	r.m.fallback.Inc()
	return r.fallback.resolve(&a, out, true)
}

// Snapshot returns the current index and when it was loaded; the index is
// nil when no load has succeeded yet.
func (r *Resolver) Snapshot() (*Index, time.Time) {
	s := r.snap.Load()
	if s == nil {
		return nil, time.Time{}
	}
	return s.ix, s.loadedAt
}

// Invalidate asks the refresh goroutine to reload now, without waiting:
// a load that starts after the call is guaranteed. The admin API calls it
// after every write so that this instance applies the change at once.
func (r *Resolver) Invalidate() {
	select {
	case r.kick <- struct{}{}:
	default: // a reload is already pending
	}
}

// Refresh loads the rules now and waits for the load. On failure the
// current snapshot (or the fallback) keeps serving and the error, wrapping
// the repository's, is returned.
func (r *Resolver) Refresh(ctx context.Context) error {
	return r.load(ctx)
}

// Close stops the refresh goroutine (and the repository's change feed)
// and waits for them, then unregisters the metrics. Resolve keeps serving
// the last snapshot after Close. Close the Resolver before the repository,
// which it does not close.
func (r *Resolver) Close() error {
	r.closeOnce.Do(func() {
		r.cancel()
		r.wg.Wait()
		r.m.unregister()
	})
	return nil
}

// load reads every enabled rule, compiles them and swaps the new snapshot in.
func (r *Resolver) load(ctx context.Context) error {
	r.loadMu.Lock()
	defer r.loadMu.Unlock()
	lctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	rs, err := r.repo.Enabled(lctx)
	if err != nil {
		err = fmt.Errorf("rules: loading rules: %w", err)
		if ctx.Err() != nil {
			return err // the caller gave up (or Close): not a database failure
		}
		r.m.refreshes.Inc()
		r.m.refreshErrors.Inc()
		if s := r.snap.Load(); s != nil {
			r.log.Warn("rules: reload failed; serving the last loaded rules",
				"err", err, "rules", s.ix.Len(), "loaded_at", s.loadedAt)
		} else {
			r.log.Error("rules: load failed and no rules were ever loaded; serving the fallback",
				"err", err, "fallback_rules", r.fallback.Len())
		}
		return err
	}
	r.m.refreshes.Inc()
	ix := NewIndex(rs)
	for _, e := range ix.skipped {
		r.log.Warn("rules: rule left out of the snapshot", "err", e)
	}
	r.snap.Store(&snapshot{ix: ix, loadedAt: r.now()})
	r.m.loaded.Set(float64(ix.Len()))
	r.m.skipped.Set(float64(len(ix.skipped)))
	return nil
}

// age is the cache age: seconds since the last successful load, or since
// the resolver started when none succeeded.
func (r *Resolver) age() float64 {
	since := r.started
	if s := r.snap.Load(); s != nil {
		since = s.loadedAt
	}
	return r.now().Sub(since).Seconds()
}

// run is the refresh goroutine: it loads at once, then every TTL, on
// Invalidate, and after a debounced change notification. After a failed
// load it retries sooner, backing off from one second up to the TTL.
func (r *Resolver) run(ctx context.Context) {
	defer r.wg.Done()
	timer := time.NewTimer(0)
	defer timer.Stop()
	retry := minRetry
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-r.kick:
		case <-r.notify:
			if !sleep(ctx, r.debounce) {
				return
			}
			select { // notifications during the debounce are covered by this load
			case <-r.notify:
			default:
			}
		}
		next := r.ttl
		if err := r.load(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			next = min(retry, r.ttl)
			retry *= 2
		} else {
			retry = minRetry
		}
		timer.Reset(next)
	}
}

// watch runs the repository's change feed until ctx ends, restarting it
// with backoff when it fails, and reloading after each restart since
// notifications may have been missed meanwhile.
func (r *Resolver) watch(ctx context.Context, w Watcher) {
	defer r.wg.Done()
	changed := func() {
		select {
		case r.notify <- struct{}{}:
		default:
		}
	}
	backoff := minRetry
	for {
		start := r.now()
		err := w.Watch(ctx, changed)
		if ctx.Err() != nil {
			return
		}
		r.log.Warn("rules: change feed stopped; restarting", "err", err, "retry_in", backoff)
		if r.now().Sub(start) > r.ttl {
			backoff = minRetry // it ran for a while: this is a new failure
		}
		if !sleep(ctx, backoff) {
			return
		}
		backoff = min(backoff*2, r.ttl)
		changed()
	}
}

// sleep waits d or until ctx ends, reporting whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// resolverMetrics are the Resolver's Prometheus metrics.
type resolverMetrics struct {
	loaded        prometheus.Gauge
	skipped       prometheus.Gauge
	refreshes     prometheus.Counter
	refreshErrors prometheus.Counter
	fallback      prometheus.Counter

	reg        prometheus.Registerer
	registered []prometheus.Collector
}

func newResolverMetrics(reg prometheus.Registerer, age func() float64) (*resolverMetrics, error) {
	m := &resolverMetrics{
		loaded: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sluice_rules_loaded", Help: "Number of enabled rules in the resolver's snapshot.",
		}),
		skipped: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sluice_rules_skipped", Help: "Number of enabled rules left out of the snapshot because they are invalid.",
		}),
		refreshes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sluice_rules_refreshes_total", Help: "Loads of the rules from the database, successful or not.",
		}),
		refreshErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sluice_rules_refresh_errors_total", Help: "Loads of the rules that failed; the last snapshot (or the fallback) kept serving.",
		}),
		fallback: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sluice_rules_fallback_total", Help: "Resolutions served by the fallback rules because no rules were ever loaded.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	ageFunc := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "sluice_rules_cache_age_seconds", Help: "Seconds since the rules were last loaded (since start when never loaded).",
	}, age)
	m.reg = reg
	for _, c := range []prometheus.Collector{m.loaded, m.skipped, m.refreshes, m.refreshErrors, m.fallback, ageFunc} {
		if err := reg.Register(c); err != nil {
			m.unregister()
			return nil, fmt.Errorf("registering resolver metrics: %w", err)
		}
		m.registered = append(m.registered, c)
	}
	return m, nil
}

// unregister removes the metrics from the registry they were registered
// with, so that a new Resolver can register its own.
func (m *resolverMetrics) unregister() {
	for _, c := range m.registered {
		m.reg.Unregister(c)
	}
	m.registered = nil
}
