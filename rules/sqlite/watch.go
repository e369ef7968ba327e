package sqlite

import (
	"context"
	"database/sql"
	"time"
)

// Watch calls changed whenever any connection commits a change to the
// database file, whether in this process or another (such as `sluice rules`
// run against the same file while `sluice serve` runs). It checks every
// Options.PollInterval with PRAGMA data_version on a connection it holds
// for the purpose. See rules.Watcher: it calls changed once when it starts,
// and once after a failed check succeeds again (changes may have been
// missed). It returns nil when ctx ends; stop it before closing the Repo.
func (r *Repo) Watch(ctx context.Context, changed func()) error {
	ticker := time.NewTicker(r.poll)
	defer ticker.Stop()
	var conn *sql.Conn
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	var last int64
	known, failing := false, false
	for {
		var v int64
		var err error
		if conn == nil {
			conn, err = r.reader.Conn(ctx)
			known = false // data_version compares only on one connection
		}
		if err == nil {
			err = conn.QueryRowContext(ctx, "PRAGMA data_version").Scan(&v)
			if err != nil {
				conn.Close()
				conn = nil
			}
		}
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			if !failing {
				r.log.Warn("watching the rules database failed; retrying", "path", r.path, "err", err)
			}
			failing = true
		case !known || v != last:
			last, known, failing = v, true, false
			changed()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
	}
}
