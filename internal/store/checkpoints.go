package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/tokenward/terraform-provider-tokenward/internal/audit"
)

// ErrAuditPastHead is wrapped by the error of an append that finds an
// event stored past the recorded head of the chain: a row someone added
// around tokenward, which the append would otherwise collide with.
var ErrAuditPastHead = errors.New("an audit event is stored past the recorded head")

const checkpointColumns = `seq, hash, at, key_id, signature`

func scanCheckpoint(scan func(...any) error) (audit.Checkpoint, error) {
	var c audit.Checkpoint
	var at int64
	if err := scan(&c.Seq, &c.Hash, &at, &c.KeyID, &c.Signature); err != nil {
		return audit.Checkpoint{}, err
	}
	c.Time = fromMicros(at)
	return c, nil
}

func (s *sqlStore) AuditCheckpoints(ctx context.Context, after, upTo int64) ([]audit.Checkpoint, error) {
	rows, err := s.db.QueryContext(ctx, s.d.bind(
		`SELECT `+checkpointColumns+` FROM audit_checkpoints WHERE seq > ? AND seq <= ? ORDER BY seq, key_id`), after, upTo)
	if err != nil {
		return nil, fmt.Errorf("list audit checkpoints: %w", err)
	}
	defer rows.Close()
	var out []audit.Checkpoint
	for rows.Next() {
		c, err := scanCheckpoint(rows.Scan)
		if err != nil {
			return nil, fmt.Errorf("list audit checkpoints: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list audit checkpoints: %w", err)
	}
	return out, nil
}

func (s *sqlStore) AuditPastHead(ctx context.Context) (audit.PastHead, error) {
	// One statement, so the head and the rows past it are read from one
	// snapshot on both engines: an append committed meanwhile moves both.
	var p audit.PastHead
	var event, checkpoint sql.NullInt64
	err := s.db.QueryRowContext(ctx, `SELECT h.seq, h.hash,
		(SELECT MIN(e.seq) FROM audit_events e WHERE e.seq > h.seq),
		(SELECT MIN(c.seq) FROM audit_checkpoints c WHERE c.seq > h.seq)
		FROM audit_head h WHERE h.id = 1`).Scan(&p.Head.Seq, &p.Head.Hash, &event, &checkpoint)
	if err != nil {
		return audit.PastHead{}, fmt.Errorf("read past the audit head: %w", err)
	}
	p.Event, p.Checkpoint = event.Int64, checkpoint.Int64
	return p, nil
}

func (t *sqlTx) AuditHead(ctx context.Context) (audit.Head, error) {
	var h audit.Head
	if err := t.row(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1`).Scan(&h.Seq, &h.Hash); err != nil {
		return audit.Head{}, fmt.Errorf("read audit head: %w", err)
	}
	return h, nil
}

func (t *sqlTx) AppendCheckpoint(ctx context.Context, c audit.Checkpoint) error {
	if _, err := t.exec(ctx, `INSERT INTO audit_checkpoints (`+checkpointColumns+`) VALUES (?, ?, ?, ?, ?)`,
		c.Seq, c.Hash, micros(c.Time), c.KeyID, c.Signature); err != nil {
		return fmt.Errorf("append audit checkpoint of event %d: %w", c.Seq, err)
	}
	return nil
}

func (t *sqlTx) LastCheckpoint(ctx context.Context, keyID string) (audit.Checkpoint, error) {
	c, err := scanCheckpoint(t.row(ctx, `SELECT `+checkpointColumns+` FROM audit_checkpoints
		WHERE key_id = ? ORDER BY seq DESC LIMIT 1`, keyID).Scan)
	if err != nil {
		return audit.Checkpoint{}, fmt.Errorf("last audit checkpoint of key %s: %w", keyID, classify(err))
	}
	return c, nil
}

// pastHead refuses an append when an event is stored past the head, naming
// it, rather than letting the insert fail on the primary key.
func (t *sqlTx) pastHead(ctx context.Context, head audit.Head) error {
	var past sql.NullInt64
	if err := t.row(ctx, `SELECT MIN(seq) FROM audit_events WHERE seq > ?`, head.Seq).Scan(&past); err != nil {
		return fmt.Errorf("read past the audit head: %w", err)
	}
	if past.Valid {
		return fmt.Errorf("event %d is stored past the recorded head (event %d), added outside tokenward: "+
			"run tokenward audit verify, then restore the store from a backup: %w", past.Int64, head.Seq, ErrAuditPastHead)
	}
	return nil
}
