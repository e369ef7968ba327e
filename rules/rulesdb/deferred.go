package rulesdb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/rules"
)

// The waits between two attempts of a Deferred to open its database: the
// first, doubled after each failure up to the last.
const (
	DeferredMinRetry = time.Second
	DeferredMaxRetry = 30 * time.Second
)

// Deferred is the repository of a database that did not answer when the
// program started. Until it opens, every call fails with
// rules.ErrUnavailable, so that a Resolver serves its fallback rules and the
// admin API answers 503, while Deferred tries to open it again in the
// background (DeferredMinRetry, doubling up to DeferredMaxRetry). Once open,
// it is that repository, and its Watch tells the watcher at once, so that
// the rules are loaded without waiting for a refresh. Safe for concurrent
// use; Close stops the attempts.
type Deferred struct {
	repo   atomic.Pointer[repoBox]
	ready  chan struct{} // closed once repo is set
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// repoBox holds the opened repository for the atomic pointer.
type repoBox struct{ rules.Repository }

// OpenDeferred returns a Deferred that opens the database dsn names with
// opts, retrying until it succeeds or Close is called. Only unreachable
// databases are retried: an error that is not rules.ErrUnavailable (a
// schema that is not migrated, a bad DSN) is logged and stops the attempts,
// as no retry would fix it.
func OpenDeferred(dsn string, opts Options) *Deferred {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	ctx, cancel := context.WithCancel(context.Background())
	d := &Deferred{ready: make(chan struct{}), cancel: cancel}
	d.wg.Go(func() {
		wait := DeferredMinRetry
		for {
			octx, ocancel := context.WithTimeout(ctx, 30*time.Second)
			repo, err := Open(octx, dsn, opts)
			ocancel()
			switch {
			case err == nil:
				d.repo.Store(&repoBox{repo})
				close(d.ready)
				log.Info("rules database: open; loading the rules")
				return
			case ctx.Err() != nil:
				return
			case !errors.Is(err, rules.ErrUnavailable):
				log.Error("rules database: cannot open it; serving the fallback rules until restarted", "err", err)
				return
			}
			log.Warn("rules database: not reachable; serving the fallback rules meanwhile", "err", err, "retry_in", wait)
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				return
			}
			wait = min(2*wait, DeferredMaxRetry)
		}
	})
	return d
}

// errNotOpen is what every call returns until the database is open.
var errNotOpen = fmt.Errorf("rulesdb: %w: not reachable since start; retrying", rules.ErrUnavailable)

// get returns the open repository, or errNotOpen.
func (d *Deferred) get() (rules.Repository, error) {
	if b := d.repo.Load(); b != nil {
		return b.Repository, nil
	}
	return nil, errNotOpen
}

// Create implements rules.Repository.
func (d *Deferred) Create(ctx context.Context, r rules.Rule, actor string) (rules.Rule, error) {
	repo, err := d.get()
	if err != nil {
		return rules.Rule{}, err
	}
	return repo.Create(ctx, r, actor)
}

// Get implements rules.Repository.
func (d *Deferred) Get(ctx context.Context, id string) (rules.Rule, error) {
	repo, err := d.get()
	if err != nil {
		return rules.Rule{}, err
	}
	return repo.Get(ctx, id)
}

// List implements rules.Repository.
func (d *Deferred) List(ctx context.Context, f rules.Filter) (rules.Page, error) {
	repo, err := d.get()
	if err != nil {
		return rules.Page{}, err
	}
	return repo.List(ctx, f)
}

// Update implements rules.Repository.
func (d *Deferred) Update(ctx context.Context, id string, p rules.Patch, actor string) (rules.Rule, error) {
	repo, err := d.get()
	if err != nil {
		return rules.Rule{}, err
	}
	return repo.Update(ctx, id, p, actor)
}

// Delete implements rules.Repository.
func (d *Deferred) Delete(ctx context.Context, id string, actor string) error {
	repo, err := d.get()
	if err != nil {
		return err
	}
	return repo.Delete(ctx, id, actor)
}

// Enabled implements rules.Repository.
func (d *Deferred) Enabled(ctx context.Context) ([]rules.Rule, error) {
	repo, err := d.get()
	if err != nil {
		return nil, err
	}
	return repo.Enabled(ctx)
}

// Audit implements rules.Repository.
func (d *Deferred) Audit(ctx context.Context, ruleID string, limit int) ([]rules.AuditEntry, error) {
	repo, err := d.get()
	if err != nil {
		return nil, err
	}
	return repo.Audit(ctx, ruleID, limit)
}

// Ping implements rules.Repository: errNotOpen until the database is open.
func (d *Deferred) Ping(ctx context.Context) error {
	repo, err := d.get()
	if err != nil {
		return err
	}
	return repo.Ping(ctx)
}

// Watch implements rules.Watcher: it waits for the database to open, calls
// changed once (the rules can be loaded now), then runs the repository's
// own change feed, if it has one, until ctx ends.
func (d *Deferred) Watch(ctx context.Context, changed func()) error {
	select {
	case <-d.ready:
	case <-ctx.Done():
		return ctx.Err()
	}
	changed()
	repo, _ := d.get()
	if w, ok := repo.(rules.Watcher); ok {
		return w.Watch(ctx, changed)
	}
	<-ctx.Done()
	return ctx.Err()
}

// Close stops the attempts to open the database and closes it if it is
// open.
func (d *Deferred) Close() error {
	d.cancel()
	d.wg.Wait()
	if repo, err := d.get(); err == nil {
		return repo.Close()
	}
	return nil
}
