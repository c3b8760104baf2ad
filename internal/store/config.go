package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// ConfigChange is one entry of the configuration change log: a change of
// some users' effective configuration with its store-wide sequence number.
type ConfigChange struct {
	Seq int64
	// User whose own values changed; "" when a setting changed, which
	// changes every user's configuration.
	User string
	Keys []string
	At   time.Time
}

// configTx is the part of Tx that keeps the configuration change log
// (issue 15), in one place so the interface grows in one spot.
type configTx interface {
	// AppendConfigChange gives c the next sequence number, stores it,
	// moves the revision of c.User ("" for the settings) to it and removes
	// the entries older than pruneBefore. It returns the sequence number.
	AppendConfigChange(ctx context.Context, c ConfigChange, pruneBefore time.Time) (int64, error)
	// ConfigRevision returns a user's revision: the sequence number of the
	// latest change of their own values or of any setting, 0 for none.
	ConfigRevision(ctx context.Context, user string) (int64, error)
	// ConfigChanges returns up to limit entries with a sequence number
	// above after, in order.
	ConfigChanges(ctx context.Context, after int64, limit int) ([]ConfigChange, error)
	// ConfigChangeWindow returns the sequence number of the oldest entry
	// still kept (head+1 when the log is empty) and the latest one given
	// (0 when none ever was): a reader that has seen up to n missed
	// nothing pruned when n+1 >= oldest.
	ConfigChangeWindow(ctx context.Context) (oldest, head int64, err error)
}

func (t *sqlTx) AppendConfigChange(ctx context.Context, c ConfigChange, pruneBefore time.Time) (int64, error) {
	keys := c.Keys
	if keys == nil {
		keys = []string{}
	}
	body, err := json.Marshal(keys)
	if err != nil {
		return 0, fmt.Errorf("append config change: %w", err)
	}
	var head int64
	// Writers are serialized (see run), so reading the head and moving it
	// in the same transaction hands out each number once.
	if err := t.row(ctx, `SELECT seq FROM config_head WHERE id = 1`+t.d.forUpdate).Scan(&head); err != nil {
		return 0, fmt.Errorf("append config change: read head: %w", err)
	}
	seq := head + 1
	if _, err := t.exec(ctx, `UPDATE config_head SET seq = ? WHERE id = 1`, seq); err != nil {
		return 0, fmt.Errorf("append config change: move head: %w", err)
	}
	if _, err := t.exec(ctx, `INSERT INTO config_changes (seq, user_id, keys, at) VALUES (?, ?, ?, ?)`,
		seq, c.User, string(body), micros(c.At)); err != nil {
		return 0, fmt.Errorf("append config change: %w", err)
	}
	if _, err := t.exec(ctx, `INSERT INTO config_revisions (user_id, seq) VALUES (?, ?)
		ON CONFLICT (user_id) DO UPDATE SET seq = excluded.seq`, c.User, seq); err != nil {
		return 0, fmt.Errorf("append config change: move the revision: %w", err)
	}
	// An indexed range that is empty but for the entries that just aged
	// out: cheap enough to run on every append.
	if _, err := t.exec(ctx, `DELETE FROM config_changes WHERE at < ?`, micros(pruneBefore)); err != nil {
		return 0, fmt.Errorf("append config change: prune: %w", err)
	}
	return seq, nil
}

func (t *sqlTx) ConfigRevision(ctx context.Context, user string) (int64, error) {
	var rev sql.NullInt64
	if err := t.row(ctx, `SELECT MAX(seq) FROM config_revisions WHERE user_id = ? OR user_id = ''`, user).Scan(&rev); err != nil {
		return 0, fmt.Errorf("read the configuration revision of user %s: %w", user, err)
	}
	return rev.Int64, nil
}

func (t *sqlTx) ConfigChanges(ctx context.Context, after int64, limit int) ([]ConfigChange, error) {
	rows, err := t.query(ctx, `SELECT seq, user_id, keys, at FROM config_changes WHERE seq > ? ORDER BY seq LIMIT ?`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("list config changes: %w", err)
	}
	defer rows.Close()
	out := []ConfigChange{}
	for rows.Next() {
		var c ConfigChange
		var keys string
		var at int64
		if err := rows.Scan(&c.Seq, &c.User, &keys, &at); err != nil {
			return nil, fmt.Errorf("list config changes: %w", err)
		}
		if err := json.Unmarshal([]byte(keys), &c.Keys); err != nil {
			return nil, fmt.Errorf("config change %d: keys: %w", c.Seq, err)
		}
		c.At = fromMicros(at)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list config changes: %w", err)
	}
	return out, nil
}

func (t *sqlTx) ConfigChangeWindow(ctx context.Context) (oldest, head int64, err error) {
	if err := t.row(ctx, `SELECT seq FROM config_head WHERE id = 1`).Scan(&head); err != nil {
		return 0, 0, fmt.Errorf("read the config change window: %w", err)
	}
	var first sql.NullInt64
	if err := t.row(ctx, `SELECT MIN(seq) FROM config_changes`).Scan(&first); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, 0, fmt.Errorf("read the config change window: %w", err)
	}
	if !first.Valid {
		return head + 1, head, nil
	}
	return first.Int64, head, nil
}
