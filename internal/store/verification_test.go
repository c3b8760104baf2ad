package store_test

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/audit"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
	"github.com/tokenward/terraform-provider-tokenward/internal/token"
)

func appendEvent(ctx context.Context, tx store.Tx, subject string) error {
	_, err := tx.AppendAudit(ctx, audit.Event{Time: t0, Actor: "test", Action: "test", Subject: subject, Outcome: audit.Success})
	return err
}

// TestVerificationData: the bulk read returns every token, deleted ones
// included, exactly as GetTokenByID reads it, with the effective scopes
// EffectiveScopes computes and every version without its sealed value, at
// the change counter AuditHead reports; a read-only store reads it too.
func TestVerificationData(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, st store.Store, dsn string) {
		ctx := t.Context()
		seedScopes(t, st, "a:read", "a:write", "b:read")
		update(t, st, func(tx store.Tx) error {
			if err := tx.CreateRole(ctx, store.Role{Name: "r1", Scopes: []string{"a:write", "b:read"}, CreatedAt: t0, UpdatedAt: t0}); err != nil {
				return err
			}
			for _, tk := range []store.Token{
				newToken("live", "live", []string{"a:read", "b:read"}, []string{"r1"}),
				newToken("gone", "gone", []string{"b:read"}, nil),
				newToken("bare", "bare", nil, nil),
			} {
				if err := tx.CreateToken(ctx, tk); err != nil {
					return err
				}
			}
			for _, v := range []store.Version{
				version("live-cur", "live", token.StateCurrent, nil),
				version("live-pend", "live", token.StatePending, []byte("sealed value")),
				version("live-old", "live", token.StateRevoked, nil),
				version("gone-cur", "gone", token.StateRevoked, nil),
			} {
				if err := tx.CreateVersion(ctx, v); err != nil {
					return err
				}
			}
			if err := tx.RetireToken(ctx, "gone", t0.Add(time.Hour)); err != nil {
				return err
			}
			return appendEvent(ctx, tx, "setup")
		})

		ro, err := store.Open(ctx, dsn, store.ReadOnly())
		if err != nil {
			t.Fatal(err)
		}
		defer ro.Close()
		for name, s := range map[string]store.Store{"read-write": st, "read-only": ro} {
			data, err := s.VerificationData(ctx)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			head, err := st.AuditHead(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if data.Seq != head.Seq || head.Seq == 0 {
				t.Errorf("%s: seq %d, want the head's %d", name, data.Seq, head.Seq)
			}
			var ids []string
			for _, tk := range data.Tokens {
				ids = append(ids, tk.ID)
			}
			if want := []string{"bare", "gone", "live"}; !reflect.DeepEqual(ids, want) {
				t.Fatalf("%s: tokens %v, want %v", name, ids, want)
			}
			err = st.View(ctx, func(tx store.Tx) error {
				for _, got := range data.Tokens {
					want, err := tx.GetTokenByID(ctx, got.ID)
					if err != nil {
						return err
					}
					if !reflect.DeepEqual(got.Token, want) {
						t.Errorf("%s: token %s = %+v\nwant %+v", name, got.ID, got.Token, want)
					}
					eff, err := tx.EffectiveScopes(ctx, got.ID)
					if err != nil {
						return err
					}
					if !reflect.DeepEqual(got.EffectiveScopes, eff) && (len(eff) > 0 || len(got.EffectiveScopes) > 0) {
						t.Errorf("%s: effective scopes of %s = %v, want %v", name, got.ID, got.EffectiveScopes, eff)
					}
					versions, err := tx.ListVersions(ctx, got.ID)
					if err != nil {
						return err
					}
					for i := range versions {
						versions[i].Sealed = nil
					}
					byID := func(a, b store.Version) int { return strings.Compare(a.ID, b.ID) }
					slices.SortFunc(versions, byID)
					gotVersions := slices.Clone(got.Versions)
					slices.SortFunc(gotVersions, byID)
					if len(versions) != len(gotVersions) || (len(versions) > 0 && !reflect.DeepEqual(gotVersions, versions)) {
						t.Errorf("%s: versions of %s = %+v\nwant %+v", name, got.ID, gotVersions, versions)
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
	})
}

// TestListen: on PostgreSQL a listener hears each committed change with its
// change counter, and nothing of a change rolled back; SQLite has no
// notifications and says so.
func TestListen(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, st store.Store, _ string) {
		ctx := t.Context()
		l, err := st.Listen(ctx)
		if st.Engine() == "sqlite" {
			if !errors.Is(err, store.ErrNoNotifications) || !errors.Is(err, errors.ErrUnsupported) {
				t.Fatalf("sqlite listen: %v, want ErrNoNotifications", err)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		head, err := st.AuditHead(ctx)
		if err != nil {
			t.Fatal(err)
		}
		rolledBack := errors.New("roll back")
		if err := st.Update(ctx, func(tx store.Tx) error {
			if err := appendEvent(ctx, tx, "rolled back"); err != nil {
				return err
			}
			return rolledBack
		}); !errors.Is(err, rolledBack) {
			t.Fatal(err)
		}
		for _, subject := range []string{"first", "second"} {
			update(t, st, func(tx store.Tx) error { return appendEvent(ctx, tx, subject) })
		}
		wait, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		for _, want := range []int64{head.Seq + 1, head.Seq + 2} {
			seq, err := l.Wait(wait)
			if err != nil || seq != want {
				t.Fatalf("heard %d, %v; want %d (a rolled-back change announces nothing)", seq, err, want)
			}
		}
		short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		if seq, err := l.Wait(short); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("with no change, Wait = %d, %v; want the context's deadline", seq, err)
		}
	})
}
