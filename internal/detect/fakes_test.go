package detect

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/store"
)

// memAlerts is an in-memory store.AlertLog.
type memAlerts struct {
	mu  sync.Mutex
	all []store.Alert
	err error // returned by AppendAlert when set, as a read-only store does
}

func (m *memAlerts) AppendAlert(_ context.Context, a store.Alert) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return m.err
	}
	m.all = append(m.all, a)
	return nil
}

func (m *memAlerts) Alerts(_ context.Context, q store.AlertQuery) ([]store.Alert, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []store.Alert
	for i := len(m.all) - 1; i >= 0; i-- {
		if a := m.all[i]; !a.At.Before(q.Since) {
			out = append(out, a)
		}
		if q.Limit > 0 && len(out) == q.Limit {
			break
		}
	}
	return out, nil
}

func (m *memAlerts) AckAlert(_ context.Context, id, by string, at time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range m.all {
		if m.all[i].ID == id {
			m.all[i].AckedBy, m.all[i].AckedAt = by, at
			return nil
		}
	}
	return store.ErrNotFound
}

func (m *memAlerts) list() []store.Alert {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.all)
}

// memAuditor records the alerts it is asked to audit.
type memAuditor struct {
	mu  sync.Mutex
	ids []string
}

func (m *memAuditor) RecordAlert(_ context.Context, a store.Alert) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ids = append(m.ids, a.Severity+":"+a.Detector)
	return nil
}

// memRevoker records the tokens it revokes.
type memRevoker struct {
	revoked []string
	err     error
}

func (m *memRevoker) RevokeTokenVersions(_ context.Context, name, _ string) (int, error) {
	if m.err != nil {
		return 0, m.err
	}
	m.revoked = append(m.revoked, name)
	return 2, nil
}

// memUsage is an in-memory store.UsageLog for seeding.
type memUsage struct{ events []store.UsageEvent } // oldest first

func (m *memUsage) AppendUsage(context.Context, []store.UsageEvent) error {
	return errors.New("memUsage is read-only")
}

func (m *memUsage) Usage(_ context.Context, q store.UsageQuery) ([]store.UsageEvent, error) {
	var out []store.UsageEvent
	for i := len(m.events) - 1; i >= 0; i-- {
		ev := m.events[i]
		if (q.TokenName != "" && ev.TokenName != q.TokenName) || ev.At.Before(q.Since) {
			continue
		}
		out = append(out, ev)
		if q.Limit > 0 && len(out) == q.Limit {
			break
		}
	}
	return out, nil
}

func (m *memUsage) UsageSummary(_ context.Context, q store.UsageQuery) ([]store.UsageSummary, error) {
	byName := map[string]*store.UsageSummary{}
	var names []string
	for _, ev := range m.events {
		if ev.TokenName == "" || ev.At.Before(q.Since) {
			continue
		}
		s := byName[ev.TokenName]
		if s == nil {
			s = &store.UsageSummary{TokenName: ev.TokenName}
			byName[ev.TokenName] = s
			names = append(names, ev.TokenName)
		}
		s.Uses++
		s.LastUsedAt, s.LastUsedIP = ev.At, ev.SourceIP
	}
	slices.Sort(names)
	out := make([]store.UsageSummary, len(names))
	for i, n := range names {
		out[i] = *byName[n]
	}
	return out, nil
}

func (m *memUsage) LastUsed(context.Context, string) (time.Time, string, bool, error) {
	return time.Time{}, "", false, nil
}

func (m *memUsage) PruneUsage(context.Context, time.Time) (store.UsagePruned, error) {
	return store.UsagePruned{}, nil
}

func (m *memUsage) EnsureUsagePartitions(context.Context, time.Time, int) error { return nil }
