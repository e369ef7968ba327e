package postgres

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// watchPIDs holds the backend process id of Watch's current connection
// (0 when not connected); tests terminate that backend to force a
// reconnect.
type watchPIDs = atomic.Uint32

// Watch listens for the notifications every write sends (from any
// instance sharing the schema) and calls changed for each; see
// rules.Watcher. It holds a connection of its own, outside the pool. When
// the connection fails it reconnects, waiting between attempts from
// Options.WatchMinBackoff doubling up to Options.WatchMaxBackoff (with
// jitter), and calls changed after listening again, since notifications
// sent meanwhile are lost. It returns nil when ctx ends, and an error only
// when reconnecting cannot help: PostgreSQL rejected the credentials or the
// database does not exist.
func (r *Repo) Watch(ctx context.Context, changed func()) error {
	backoff := r.minBackoff
	for {
		listened, err := r.listen(ctx, changed)
		if ctx.Err() != nil {
			return nil
		}
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && fatalCode(pgErr.Code) {
			return wrap("watch", err)
		}
		if listened {
			backoff = r.minBackoff
		}
		// Full jitter in [backoff/2, backoff): instances that lost the
		// server together do not reconnect in lockstep.
		wait := backoff/2 + rand.N(backoff/2+1)
		r.log.Warn("rules watch: connection lost; reconnecting", "schema", r.schema, "err", err, "retry_in", wait)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		backoff = min(backoff*2, r.maxBackoff)
	}
}

// listen connects, LISTENs, calls changed once, then once per notification
// until the connection fails or ctx ends. It reports whether it got as far
// as listening.
func (r *Repo) listen(ctx context.Context, changed func()) (listened bool, err error) {
	conn, err := pgx.ConnectConfig(ctx, r.listenCfg.Copy())
	if err != nil {
		return false, err
	}
	defer func() {
		r.watchPID.Store(0)
		closeCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		conn.Close(closeCtx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{r.channel}.Sanitize()); err != nil {
		return false, err
	}
	r.watchPID.Store(conn.PgConn().PID())
	changed()
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return true, err
		}
		changed()
	}
}
