package registry

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/duration"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
)

// The usage log and the alerts as the registry sees them: keeping the log
// (partitions ahead, retention), and the few changes to it that belong in
// the audit chain (what retention removed, events dropped, an alert
// acknowledged). The events themselves are written by the server straight
// to the store's UsageLog, apart from the chain.

// ErrNoUsageLog is wrapped when the store has no usage log (a store that a
// first apply has yet to create).
var ErrNoUsageLog = errors.New("the store keeps no usage log")

// base is the store under the registry's signing wrapper, which the
// usage log and the alerts are reached on.
func (r *Registry) base() store.Store {
	if s, ok := r.st.(signingStore); ok {
		return s.Store
	}
	return r.st
}

func (r *Registry) usageLog() (store.UsageLog, error) {
	if u, ok := store.AsUsageLog(r.base()); ok {
		return u, nil
	}
	return nil, ErrNoUsageLog
}

// UsageLog returns the store's usage log, for the server's writer.
func (r *Registry) UsageLog() (store.UsageLog, error) { return r.usageLog() }

// UsageRollup returns the usage log's daily rollup, for tokenward report
// and review --store.
func (r *Registry) UsageRollup() (store.UsageRollup, error) {
	if u, ok := store.AsUsageRollup(r.base()); ok {
		return u, nil
	}
	return nil, fmt.Errorf("the store keeps no daily usage rollup: %w", ErrNoUsageLog)
}

// AlertLog returns the store's alert log, for the server's raiser.
func (r *Registry) AlertLog() (store.AlertLog, error) {
	if a, ok := store.AsAlertLog(r.base()); ok {
		return a, nil
	}
	return nil, fmt.Errorf("the store keeps no alerts: %w", ErrNoUsageLog)
}

// MaintainUsage keeps the usage log: it creates the daily partitions from
// today through aheadDays days ahead (PostgreSQL; nothing on SQLite), then
// removes the events older than now - retention (none when retention is 0)
// and records what it removed in the audit chain, count and time range,
// when it removed anything. On PostgreSQL whole days go, so an event is
// kept up to a day longer than retention.
func (r *Registry) MaintainUsage(ctx context.Context, retention time.Duration, aheadDays int) (store.UsagePruned, error) {
	if retention < 0 {
		return store.UsagePruned{}, invalid("usage_retention", "must not be negative, such as 90d")
	}
	if aheadDays < 0 {
		return store.UsagePruned{}, invalid("ahead", "must not be negative, such as 7 days")
	}
	u, err := r.usageLog()
	if err != nil {
		return store.UsagePruned{}, err
	}
	now := r.clock()
	if err := u.EnsureUsagePartitions(ctx, now, aheadDays); err != nil {
		return store.UsagePruned{}, err
	}
	if retention == 0 {
		return store.UsagePruned{}, nil
	}
	before := now.Add(-retention)
	p, err := u.PruneUsage(ctx, before)
	if err != nil {
		return p, err
	}
	if p.Count == 0 {
		return p, nil
	}
	// The events are gone already (a partition drop is not part of a
	// change transaction); the event says what went, and if it cannot be
	// written the error says so.
	err = r.change(ctx, "usage.prune", "usage", func(_ store.Tx, d map[string]string) error {
		d["count"] = strconv.FormatInt(p.Count, 10)
		d["from"] = p.From.Format(time.RFC3339Nano)
		d["to"] = p.To.Format(time.RFC3339Nano)
		d["before"] = before.Format(time.RFC3339Nano)
		d["retention"] = duration.Format(retention)
		return nil
	})
	if err != nil {
		return p, fmt.Errorf("record the pruning of %d usage events: %w", p.Count, err)
	}
	return p, nil
}

// RecordUsageDropped records in the audit chain that the usage queue
// overflowed and n events since since were dropped, not stored.
func (r *Registry) RecordUsageDropped(ctx context.Context, n int64, since time.Time) error {
	if n <= 0 {
		return nil
	}
	return r.change(ctx, "usage.drop", "usage", func(_ store.Tx, d map[string]string) error {
		d["dropped"] = strconv.FormatInt(n, 10)
		d["since"] = since.UTC().Format(time.RFC3339Nano)
		return nil
	})
}

// AckAlert records that by acknowledged the alert id, in the alert and in
// the audit chain. An unknown id wraps ErrNotFound.
func (r *Registry) AckAlert(ctx context.Context, id, by string) error {
	if id == "" {
		return invalid("id", "is empty: give the id tokenward alerts prints")
	}
	if by == "" {
		return invalid("by", "is empty: say who acknowledges the alert")
	}
	a, err := r.AlertLog()
	if err != nil {
		return err
	}
	if err := a.AckAlert(ctx, id, by, r.clock()); err != nil {
		return err
	}
	return r.change(ctx, "alert.ack", "alert/"+id, func(_ store.Tx, d map[string]string) error {
		d["by"] = by
		return nil
	})
}

// LastUsed returns when and from where the token tokenID was last
// presented (any outcome); ok is false when it never was, or the store
// keeps no usage log yet.
func (r *Registry) LastUsed(ctx context.Context, tokenID string) (at time.Time, ip string, ok bool, err error) {
	u, err := r.usageLog()
	if err != nil {
		return time.Time{}, "", false, nil
	}
	return u.LastUsed(ctx, tokenID)
}

// TokenID returns the id of the token name, which the usage log keys its
// events by; ErrNotFound (wrapped) when the store has no such token. It
// reads the token alone, not its versions or destinations, so a reader of
// the usage log needs no grant on those.
func (r *Registry) TokenID(ctx context.Context, name string) (id string, err error) {
	err = r.st.View(ctx, func(tx store.Tx) error {
		tk, err := tx.GetToken(ctx, name)
		id = tk.ID
		return err
	})
	return id, err
}

// UsageReader reads the usage log and the alerts. They hold no token
// value and no sealed value, so it needs no master key, and it opens the
// store read-only.
type UsageReader struct {
	st store.Store
}

// OpenUsageReader opens the store a Config names read-only, to read the
// usage log and the alerts; a store that does not exist is an error.
func OpenUsageReader(ctx context.Context, cfg Config) (*UsageReader, error) {
	cfg.Create = false
	st, err := OpenStore(ctx, cfg, store.ReadOnly())
	if err != nil {
		return nil, err
	}
	return &UsageReader{st: st}, nil
}

// EachUsage calls fn for each event q selects, newest first, holding one
// at a time.
func (u *UsageReader) EachUsage(ctx context.Context, q store.UsageQuery, fn func(store.UsageEvent) error) error {
	w, ok := store.AsUsageWalker(u.st)
	if !ok {
		return ErrNoUsageLog
	}
	return w.EachUsage(ctx, q, fn)
}

// UsageSummary returns one row per token q selects.
func (u *UsageReader) UsageSummary(ctx context.Context, q store.UsageQuery) ([]store.UsageSummary, error) {
	l, ok := store.AsUsageLog(u.st)
	if !ok {
		return nil, ErrNoUsageLog
	}
	return l.UsageSummary(ctx, q)
}

// Alerts returns the alerts q selects, newest first.
func (u *UsageReader) Alerts(ctx context.Context, q store.AlertQuery) ([]store.Alert, error) {
	a, ok := store.AsAlertLog(u.st)
	if !ok {
		return nil, ErrNoUsageLog
	}
	return a.Alerts(ctx, q)
}

// Close closes the store.
func (u *UsageReader) Close() error { return u.st.Close() }

// OpenUsageKeeper opens a registry that may write the usage log, the
// alerts and their audit events without a master key (usage maintain,
// alerts ack): it opens the store for writing, and reads the master key
// only when one is configured, to sign the audit head as other changes
// do. A store it may only read is an error saying why.
func OpenUsageKeeper(ctx context.Context, cfg Config, opts ...Option) (*Registry, error) {
	r, access, err := OpenServer(ctx, cfg, opts...)
	if err != nil {
		return nil, err
	}
	if !access.Writable {
		r.Close()
		return nil, fmt.Errorf("%s: %w", access.ReadOnlyWhy, store.ErrReadOnly)
	}
	return r, nil
}
