package registry_test

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/audit"
	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
	"github.com/tokenward/terraform-provider-tokenward/internal/store/storetest"
)

// lastAudit returns the newest audit event of the chain, which must
// verify.
func lastAudit(t *testing.T, st store.Store) audit.Event {
	t.Helper()
	events := storetest.AuditChain(t, st)
	if len(events) == 0 {
		t.Fatal("no audit event")
	}
	return events[len(events)-1]
}

func TestMaintainUsage(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, f fixture) {
		ctx := t.Context()
		now := time.Date(2026, 12, 2, 9, 30, 0, 0, time.UTC)
		f.clock.Set(now)
		u, err := f.reg.UsageLog()
		if err != nil {
			t.Fatal(err)
		}
		// Events 100 days, 91 days, 89 days and 1 hour ago.
		var evs []store.UsageEvent
		for _, ago := range []time.Duration{100 * 24 * time.Hour, 91 * 24 * time.Hour, 89 * 24 * time.Hour, time.Hour} {
			evs = append(evs, store.UsageEvent{At: now.Add(-ago), TokenID: "id", TokenName: "ci", Code: "valid", SourceIP: "192.0.2.1"})
		}
		if err := u.AppendUsage(ctx, evs); err != nil {
			t.Fatal(err)
		}
		headBefore, _ := f.st.AuditHead(ctx)
		p, err := f.reg.MaintainUsage(ctx, 90*24*time.Hour, 7)
		if err != nil {
			t.Fatal(err)
		}
		want := store.UsagePruned{Count: 2, From: evs[0].At, To: evs[1].At}
		if p != want {
			t.Errorf("pruned %+v, want %+v", p, want)
		}
		// The registry's signing wrapper reaches the daily rollup, which
		// lost the days wholly before the cut.
		rollup, err := f.reg.UsageRollup()
		if err != nil {
			t.Fatal(err)
		}
		days, err := rollup.UsageDays(ctx, time.Time{}, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		if len(days) != 2 || !days[0].Day.Equal(time.Date(2026, 9, 4, 0, 0, 0, 0, time.UTC)) || !days[1].Day.Equal(time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)) {
			t.Errorf("daily rollup after the prune: %+v, want September 4 and December 2", days)
		}
		e := lastAudit(t, f.st)
		wantDetails := map[string]string{"count": "2", "from": "2026-08-24T09:30:00Z", "to": "2026-09-02T09:30:00Z",
			"before": "2026-09-03T09:30:00Z", "retention": "90d"}
		if e.Seq != headBefore.Seq+1 || e.Action != "usage.prune" || e.Subject != "usage" || !reflect.DeepEqual(e.Details, wantDetails) {
			t.Errorf("audit event %+v, want usage.prune with %v", e, wantDetails)
		}
		if f.st.Engine() == "postgres" {
			parts, err := store.UsagePartitions(ctx, f.st)
			if err != nil {
				t.Fatal(err)
			}
			last := parts[len(parts)-1]
			if !last.Equal(time.Date(2026, 12, 9, 0, 0, 0, 0, time.UTC)) {
				t.Errorf("the last partition is %v, want 7 days ahead", last)
			}
		}
		// Nothing left to prune: no audit event.
		if p, err := f.reg.MaintainUsage(ctx, 90*24*time.Hour, 7); err != nil || p.Count != 0 {
			t.Errorf("second run: %+v, %v", p, err)
		}
		if e2 := lastAudit(t, f.st); e2.Seq != e.Seq {
			t.Errorf("a run that pruned nothing appended %+v", e2)
		}
		if _, err := f.reg.MaintainUsage(ctx, -time.Hour, 7); err == nil {
			t.Error("a negative retention was accepted")
		}
	})
}

func TestRecordUsageDroppedAndAckAlert(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, f fixture) {
		ctx := t.Context()
		since := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
		if err := f.reg.RecordUsageDropped(ctx, 42, since); err != nil {
			t.Fatal(err)
		}
		e := lastAudit(t, f.st)
		if e.Action != "usage.drop" || !reflect.DeepEqual(e.Details, map[string]string{"dropped": "42", "since": "2026-12-02T09:00:00Z"}) {
			t.Errorf("audit event %+v", e)
		}

		a, err := f.reg.AlertLog()
		if err != nil {
			t.Fatal(err)
		}
		if err := a.AppendAlert(ctx, store.Alert{ID: "al-1", At: since, Detector: "new_network", Severity: store.SeverityWarn, Detail: "d"}); err != nil {
			t.Fatal(err)
		}
		if err := f.reg.AckAlert(ctx, "al-1", "alice"); err != nil {
			t.Fatal(err)
		}
		e = lastAudit(t, f.st)
		if e.Action != "alert.ack" || e.Subject != "alert/al-1" || e.Details["by"] != "alice" {
			t.Errorf("audit event %+v", e)
		}
		got, _ := a.Alerts(ctx, store.AlertQuery{})
		if len(got) != 1 || got[0].AckedBy != "alice" || !got[0].AckedAt.Equal(f.reg.Now()) {
			t.Errorf("acknowledged alert: %+v", got)
		}
		if err := f.reg.AckAlert(ctx, "al-2", "alice"); !errors.Is(err, registry.ErrNotFound) {
			t.Errorf("ack of an unknown alert: %v, want ErrNotFound", err)
		}
		if e2 := lastAudit(t, f.st); e2.Seq != e.Seq {
			t.Errorf("a failed ack appended %+v", e2)
		}
		var inv *registry.InvalidError
		if err := f.reg.AckAlert(ctx, "al-1", ""); !errors.As(err, &inv) || inv.Field != "by" {
			t.Errorf("ack by nobody: %v", err)
		}
	})
}

func TestLastUsed(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, f fixture) {
		ctx := t.Context()
		if _, _, ok, err := f.reg.LastUsed(ctx, "id"); ok || err != nil {
			t.Errorf("never used: %v %v", ok, err)
		}
		u, _ := f.reg.UsageLog()
		at := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
		if err := u.AppendUsage(ctx, []store.UsageEvent{{At: at, TokenID: "id", TokenName: "ci", Code: "valid", SourceIP: "192.0.2.9"}}); err != nil {
			t.Fatal(err)
		}
		got, ip, ok, err := f.reg.LastUsed(ctx, "id")
		if err != nil || !ok || !got.Equal(at) || ip != "192.0.2.9" {
			t.Errorf("last use: %v %q %v %v", got, ip, ok, err)
		}
	})
}
