package store_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/audit"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
	"github.com/tokenward/terraform-provider-tokenward/internal/token"
)

var t0 = time.Date(2026, 11, 27, 10, 0, 0, 123456000, time.UTC)

func update(t *testing.T, st store.Store, fn func(tx store.Tx) error) {
	t.Helper()
	if err := st.Update(t.Context(), fn); err != nil {
		t.Fatal(err)
	}
}

func seedScopes(t *testing.T, st store.Store, names ...string) {
	t.Helper()
	update(t, st, func(tx store.Tx) error {
		for _, n := range names {
			if err := tx.CreateScope(t.Context(), store.Scope{Name: n, Description: "d " + n, CreatedAt: t0, UpdatedAt: t0}); err != nil {
				return err
			}
		}
		return nil
	})
}

func newToken(id, name string, scopes, roles []string) store.Token {
	return store.Token{
		ID: id, Name: name, Owner: "platform", Description: "deploys",
		Scopes: scopes, Roles: roles,
		Lifetime:  store.Lifetime{TTL: 90 * 24 * time.Hour, RotateBefore: 14 * 24 * time.Hour, Overlap: 24 * time.Hour},
		CreatedAt: t0, UpdatedAt: t0,
	}
}

func TestScopes(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, st store.Store, _ string) {
		ctx := t.Context()
		seedScopes(t, st, "billing:read", "billing:*")
		err := st.Update(ctx, func(tx store.Tx) error {
			return tx.CreateScope(ctx, store.Scope{Name: "billing:read", CreatedAt: t0, UpdatedAt: t0})
		})
		if !errors.Is(err, store.ErrExists) {
			t.Fatalf("duplicate scope: got %v, want ErrExists", err)
		}
		update(t, st, func(tx store.Tx) error {
			later := t0.Add(time.Hour)
			if err := tx.UpdateScope(ctx, store.Scope{Name: "billing:read", Description: "read invoices", UpdatedAt: later}); err != nil {
				return err
			}
			got, err := tx.GetScope(ctx, "billing:read")
			if err != nil {
				return err
			}
			want := store.Scope{Name: "billing:read", Description: "read invoices", CreatedAt: t0, UpdatedAt: later}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("scope = %+v, want %+v", got, want)
			}
			all, err := tx.ListScopes(ctx)
			if err != nil {
				return err
			}
			// Every store has the built-in scopes too (tokenward:*), which
			// sort after these.
			if len(all) < 2 || all[0].Name != "billing:*" || all[1].Name != "billing:read" {
				t.Errorf("list = %+v", all)
			}
			for _, s := range all[2:] {
				if !strings.HasPrefix(s.Name, "tokenward:") {
					t.Errorf("list = %+v: %s is neither declared here nor built in", all, s.Name)
				}
			}
			return nil
		})
		err = st.View(ctx, func(tx store.Tx) error {
			_, err := tx.GetScope(ctx, "nope:read")
			return err
		})
		if !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("missing scope: got %v", err)
		}
		err = st.Update(ctx, func(tx store.Tx) error { return tx.UpdateScope(ctx, store.Scope{Name: "nope:read"}) })
		if !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("update missing scope: got %v", err)
		}
	})
}

func TestScopeInUseCannotBeDeleted(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, st store.Store, _ string) {
		ctx := t.Context()
		seedScopes(t, st, "billing:read", "users:read", "spare:read")
		update(t, st, func(tx store.Tx) error {
			if err := tx.CreateRole(ctx, store.Role{Name: "reader", Scopes: []string{"users:read"}, CreatedAt: t0, UpdatedAt: t0}); err != nil {
				return err
			}
			return tx.CreateToken(ctx, newToken("tok1", "ci-deploy", []string{"billing:read"}, nil))
		})
		for _, name := range []string{"billing:read", "users:read"} {
			err := st.Update(ctx, func(tx store.Tx) error { return tx.DeleteScope(ctx, name) })
			if !errors.Is(err, store.ErrInUse) {
				t.Errorf("delete %s in use: got %v, want ErrInUse", name, err)
			}
		}
		update(t, st, func(tx store.Tx) error {
			toks, roles, err := tx.ScopeUsers(ctx, "billing:read")
			if err != nil {
				return err
			}
			if !reflect.DeepEqual(toks, []string{"ci-deploy"}) || len(roles) != 0 {
				t.Errorf("users of billing:read = %v %v", toks, roles)
			}
			toks, roles, err = tx.ScopeUsers(ctx, "users:read")
			if err != nil {
				return err
			}
			if len(toks) != 0 || !reflect.DeepEqual(roles, []string{"reader"}) {
				t.Errorf("users of users:read = %v %v", toks, roles)
			}
			return tx.DeleteScope(ctx, "spare:read")
		})
	})
}

func TestRolesAndTokens(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, st store.Store, _ string) {
		ctx := t.Context()
		seedScopes(t, st, "billing:read", "billing:write", "users:read")
		err := st.Update(ctx, func(tx store.Tx) error {
			return tx.CreateRole(ctx, store.Role{Name: "bad", Scopes: []string{"ghost:read"}, CreatedAt: t0, UpdatedAt: t0})
		})
		if !errors.Is(err, store.ErrNotFound) || !strings.Contains(err.Error(), "ghost:read") {
			t.Fatalf("role with unknown scope: got %v", err)
		}
		update(t, st, func(tx store.Tx) error {
			if err := tx.CreateRole(ctx, store.Role{Name: "biller", Scopes: []string{"billing:write", "billing:read"}, CreatedAt: t0, UpdatedAt: t0}); err != nil {
				return err
			}
			return tx.CreateToken(ctx, newToken("tok1", "ci-deploy", []string{"users:read", "billing:read"}, []string{"biller"}))
		})
		err = st.Update(ctx, func(tx store.Tx) error {
			return tx.CreateToken(ctx, newToken("tok2", "ci-deploy", nil, nil))
		})
		if !errors.Is(err, store.ErrExists) {
			t.Fatalf("duplicate token name: got %v", err)
		}
		update(t, st, func(tx store.Tx) error {
			tk, err := tx.GetToken(ctx, "ci-deploy")
			if err != nil {
				return err
			}
			want := newToken("tok1", "ci-deploy", []string{"billing:read", "users:read"}, []string{"biller"})
			if !reflect.DeepEqual(tk, want) {
				t.Errorf("token = %+v\nwant %+v", tk, want)
			}
			eff, err := tx.EffectiveScopes(ctx, "tok1")
			if err != nil {
				return err
			}
			if !reflect.DeepEqual(eff, []string{"billing:read", "billing:write", "users:read"}) {
				t.Errorf("effective = %v", eff)
			}
			tk.Scopes = []string{"users:read"}
			tk.Roles = nil
			tk.Owner = "security"
			tk.Lifetime.Overlap = time.Hour
			if err := tx.UpdateToken(ctx, tk); err != nil {
				return err
			}
			got, err := tx.GetTokenByID(ctx, "tok1")
			if err != nil {
				return err
			}
			if !reflect.DeepEqual(got.Scopes, []string{"users:read"}) || len(got.Roles) != 0 || got.Owner != "security" || got.Lifetime.Overlap != time.Hour {
				t.Errorf("updated token = %+v", got)
			}
			users, err := tx.RoleUsers(ctx, "biller")
			if err != nil {
				return err
			}
			if len(users) != 0 {
				t.Errorf("role users after removal = %v", users)
			}
			r, err := tx.GetRole(ctx, "biller")
			if err != nil {
				return err
			}
			if !reflect.DeepEqual(r.Scopes, []string{"billing:read", "billing:write"}) {
				t.Errorf("role scopes = %v", r.Scopes)
			}
			list, err := tx.ListTokens(ctx)
			if err != nil {
				return err
			}
			if len(list) != 1 || list[0].Name != "ci-deploy" {
				t.Errorf("tokens = %+v", list)
			}
			if err := tx.DeleteRole(ctx, "biller"); err != nil {
				return err
			}
			if err := tx.CreateVersion(ctx, version("v1", "tok1", token.StateRevoked, nil)); err != nil {
				return err
			}
			return tx.RetireToken(ctx, "tok1", t0.Add(time.Hour))
		})
		update(t, st, func(tx store.Tx) error {
			// The name is free again; the old record and its versions stay.
			if err := tx.CreateToken(ctx, newToken("tok2", "ci-deploy", nil, nil)); err != nil {
				return err
			}
			old, err := tx.GetTokenByID(ctx, "tok1")
			if err != nil {
				return err
			}
			if !old.DeletedAt.Equal(t0.Add(time.Hour)) || len(old.Scopes) != 0 {
				t.Errorf("retired token = %+v", old)
			}
			if _, err := tx.GetVersion(ctx, "v1"); err != nil {
				return err
			}
			list, err := tx.ListTokens(ctx)
			if err != nil {
				return err
			}
			if len(list) != 1 || list[0].ID != "tok2" {
				t.Errorf("tokens = %+v", list)
			}
			return tx.RetireToken(ctx, "tok2", t0)
		})
		err = st.View(ctx, func(tx store.Tx) error { _, err := tx.GetToken(ctx, "ci-deploy"); return err })
		if !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("deleted token: got %v", err)
		}
	})
}

func version(id, tokenID string, state token.State, sealed []byte) store.Version {
	return store.Version{
		ID: id, TokenID: tokenID, State: state, Hash: sha256.Sum256([]byte(id)),
		Fingerprint: "tw_" + id + "…abcd", Sealed: sealed,
		CreatedAt: t0, ExpiresAt: t0.Add(90 * 24 * time.Hour),
	}
}

func TestVersionsAtMostOneLivePerState(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, st store.Store, _ string) {
		ctx := t.Context()
		update(t, st, func(tx store.Tx) error { return tx.CreateToken(ctx, newToken("tok1", "ci", nil, nil)) })
		update(t, st, func(tx store.Tx) error {
			for _, v := range []store.Version{
				version("v1", "tok1", token.StateRevoked, nil),
				version("v2", "tok1", token.StateRevoked, nil),
				version("v3", "tok1", token.StatePrevious, nil),
				version("v4", "tok1", token.StateCurrent, nil),
				version("v5", "tok1", token.StatePending, []byte("sealed-bytes")),
			} {
				if err := tx.CreateVersion(ctx, v); err != nil {
					return err
				}
			}
			return nil
		})
		for _, state := range []token.State{token.StatePending, token.StateCurrent, token.StatePrevious} {
			err := st.Update(ctx, func(tx store.Tx) error {
				return tx.CreateVersion(ctx, version("x-"+string(state), "tok1", state, nil))
			})
			if !errors.Is(err, store.ErrExists) {
				t.Errorf("second %s version: got %v, want ErrExists", state, err)
			}
		}
		update(t, st, func(tx store.Tx) error {
			v, err := tx.GetVersion(ctx, "v5")
			if err != nil {
				return err
			}
			if string(v.Sealed) != "sealed-bytes" || v.Hash != sha256.Sum256([]byte("v5")) || !v.ActivatedAt.IsZero() {
				t.Errorf("pending version = %+v", v)
			}
			sealed, err := tx.ListSealedVersions(ctx)
			if err != nil {
				return err
			}
			if len(sealed) != 1 || sealed[0].ID != "v5" {
				t.Errorf("sealed versions = %+v", sealed)
			}
			// Finish a rotation: previous -> revoked, current -> previous, pending -> current.
			steps := []struct {
				id    string
				state token.State
			}{{"v3", token.StateRevoked}, {"v4", token.StatePrevious}, {"v5", token.StateCurrent}}
			for _, s := range steps {
				v, err := tx.GetVersion(ctx, s.id)
				if err != nil {
					return err
				}
				v.State = s.state
				v.Sealed = nil
				if s.state == token.StateRevoked {
					v.RevokedAt = t0.Add(time.Hour)
				}
				if s.state == token.StateCurrent {
					v.ActivatedAt = t0.Add(time.Hour)
				}
				if err := tx.UpdateVersion(ctx, v); err != nil {
					return err
				}
			}
			all, err := tx.ListVersions(ctx, "tok1")
			if err != nil {
				return err
			}
			states := map[string]token.State{}
			for _, v := range all {
				states[v.ID] = v.State
			}
			want := map[string]token.State{"v1": token.StateRevoked, "v2": token.StateRevoked, "v3": token.StateRevoked, "v4": token.StatePrevious, "v5": token.StateCurrent}
			if !reflect.DeepEqual(states, want) {
				t.Errorf("states = %v", states)
			}
			v, err = tx.GetVersion(ctx, "v3")
			if err != nil {
				return err
			}
			if !v.RevokedAt.Equal(t0.Add(time.Hour)) {
				t.Errorf("revoked_at = %v", v.RevokedAt)
			}
			sealed, err = tx.ListSealedVersions(ctx)
			if err != nil {
				return err
			}
			if len(sealed) != 0 {
				t.Errorf("sealed after finish = %d", len(sealed))
			}
			return nil
		})
	})
}

func TestDestinationsAndDeliveries(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, st store.Store, _ string) {
		ctx := t.Context()
		update(t, st, func(tx store.Tx) error {
			if err := tx.CreateToken(ctx, newToken("tok1", "ci", nil, nil)); err != nil {
				return err
			}
			if err := tx.CreateVersion(ctx, version("v1", "tok1", token.StateCurrent, nil)); err != nil {
				return err
			}
			ds := []store.Destination{
				{Key: "github_secret:acme/app:DEPLOY", Kind: "github_secret", Config: json.RawMessage(`{"repository":"acme/app","name":"DEPLOY"}`)},
				{Key: "file:/etc/app.env:TOKEN", Kind: "file", Config: json.RawMessage(`{"path":"/etc/app.env"}`)},
			}
			if err := tx.SetDestinations(ctx, "tok1", ds); err != nil {
				return err
			}
			if err := tx.SetDestinations(ctx, "tok1", ds[1:]); err != nil {
				return err
			}
			got, err := tx.ListDestinations(ctx, "tok1")
			if err != nil {
				return err
			}
			if len(got) != 1 || got[0].Key != "file:/etc/app.env:TOKEN" || string(got[0].Config) != `{"path":"/etc/app.env"}` {
				t.Errorf("destinations = %+v", got)
			}
			for i, outcome := range []string{audit.Failure, audit.Success} {
				if err := tx.RecordDelivery(ctx, store.Delivery{VersionID: "v1", Destination: got[0].Key, At: t0.Add(time.Duration(i) * time.Minute), Outcome: outcome, Detail: "attempt"}); err != nil {
					return err
				}
			}
			dl, err := tx.ListDeliveries(ctx, "v1")
			if err != nil {
				return err
			}
			if len(dl) != 2 || dl[0].Outcome != audit.Failure || dl[1].Outcome != audit.Success || !dl[1].At.Equal(t0.Add(time.Minute)) {
				t.Errorf("deliveries = %+v", dl)
			}
			return nil
		})
	})
}

func TestSettingsAndUserValues(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, st store.Store, _ string) {
		ctx := t.Context()
		min, max := 1.0, 60.0
		timeout := store.Setting{
			Key: "session.timeout", Type: "number", Default: json.RawMessage(`15`), Description: "minutes",
			Constraints: store.Constraints{Min: &min, Max: &max}, UserEditable: true, CreatedAt: t0, UpdatedAt: t0,
		}
		secret := store.Setting{
			Key: "smtp.password", Type: "string", SealedDefault: []byte{1, 2, 3}, Sensitive: true, CreatedAt: t0, UpdatedAt: t0,
			Constraints: store.Constraints{AllowedValues: []json.RawMessage{json.RawMessage(`"a"`)}},
		}
		update(t, st, func(tx store.Tx) error {
			for _, s := range []store.Setting{timeout, secret} {
				if err := tx.CreateSetting(ctx, s); err != nil {
					return err
				}
			}
			got, err := tx.GetSetting(ctx, "session.timeout")
			if err != nil {
				return err
			}
			if !reflect.DeepEqual(got, timeout) {
				t.Errorf("setting = %+v\nwant %+v", got, timeout)
			}
			got, err = tx.GetSetting(ctx, "smtp.password")
			if err != nil {
				return err
			}
			if !reflect.DeepEqual(got, secret) {
				t.Errorf("sensitive setting = %+v\nwant %+v", got, secret)
			}
			timeout.Default = json.RawMessage(`20`)
			timeout.UserEditable = false
			timeout.UpdatedAt = t0.Add(time.Hour)
			if err := tx.UpdateSetting(ctx, timeout); err != nil {
				return err
			}
			got, err = tx.GetSetting(ctx, "session.timeout")
			if err != nil {
				return err
			}
			if !reflect.DeepEqual(got, timeout) {
				t.Errorf("updated setting = %+v\nwant %+v", got, timeout)
			}
			if err := tx.PutUserValue(ctx, store.UserValue{User: "alice", Key: "session.timeout", Value: json.RawMessage(`30`), UpdatedAt: t0}); err != nil {
				return err
			}
			if err := tx.PutUserValue(ctx, store.UserValue{User: "alice", Key: "session.timeout", Value: json.RawMessage(`45`), UpdatedAt: t0}); err != nil {
				return err
			}
			if err := tx.PutUserValue(ctx, store.UserValue{User: "alice", Key: "smtp.password", Sealed: []byte{9}, UpdatedAt: t0}); err != nil {
				return err
			}
			vals, err := tx.ListUserValues(ctx, "alice")
			if err != nil {
				return err
			}
			if len(vals) != 2 || string(vals[0].Value) != "45" || vals[1].Value != nil || !reflect.DeepEqual(vals[1].Sealed, []byte{9}) {
				t.Errorf("user values = %+v", vals)
			}
			sealed, err := tx.ListSealedUserValues(ctx)
			if err != nil {
				return err
			}
			if len(sealed) != 1 || sealed[0].Key != "smtp.password" {
				t.Errorf("sealed user values = %+v", sealed)
			}
			all, err := tx.ListAllUserValues(ctx)
			if err != nil {
				return err
			}
			if len(all) != 2 || all[0].User != "alice" || all[0].Key != "session.timeout" || string(all[0].Value) != "45" ||
				all[1].Key != "smtp.password" || all[1].Value != nil || !reflect.DeepEqual(all[1].Sealed, []byte{9}) {
				t.Errorf("all user values = %+v", all)
			}
			users, err := tx.SettingUsers(ctx, "session.timeout")
			if err != nil {
				return err
			}
			if !reflect.DeepEqual(users, []string{"alice"}) {
				t.Errorf("setting users = %v", users)
			}
			return nil
		})
		err := st.Update(ctx, func(tx store.Tx) error {
			return tx.PutUserValue(ctx, store.UserValue{User: "bob", Key: "ghost.key", Value: json.RawMessage(`1`), UpdatedAt: t0})
		})
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("value for unknown setting: got %v", err)
		}
		err = st.Update(ctx, func(tx store.Tx) error { return tx.DeleteSetting(ctx, "session.timeout") })
		if !errors.Is(err, store.ErrInUse) {
			t.Errorf("delete setting with user values: got %v", err)
		}
		update(t, st, func(tx store.Tx) error {
			if err := tx.DeleteUserValue(ctx, "alice", "session.timeout"); err != nil {
				return err
			}
			return tx.DeleteSetting(ctx, "session.timeout")
		})
	})
}

func TestUpdateRollsBackOnError(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, st store.Store, _ string) {
		ctx := t.Context()
		boom := errors.New("boom")
		err := st.Update(ctx, func(tx store.Tx) error {
			if err := tx.CreateScope(ctx, store.Scope{Name: "a:b", CreatedAt: t0, UpdatedAt: t0}); err != nil {
				return err
			}
			if _, err := tx.AppendAudit(ctx, audit.Event{Time: t0, Action: "scope.create", Subject: "scope/a:b", Outcome: audit.Success}); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("got %v", err)
		}
		err = st.View(ctx, func(tx store.Tx) error { _, err := tx.GetScope(ctx, "a:b"); return err })
		if !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("scope survived rollback: %v", err)
		}
		head, err := st.AuditHead(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if head != audit.Genesis() {
			t.Fatalf("audit head moved by a rolled-back change: %+v", head)
		}
	})
}

func TestAuditChain(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, st store.Store, dsn string) {
		ctx := t.Context()
		// Appends from many goroutines at once serialize into one chain.
		const n = 24
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- st.Update(ctx, func(tx store.Tx) error {
					_, err := tx.AppendAudit(ctx, audit.Event{
						Time: t0.Add(time.Duration(i) * time.Second), Actor: "test", Action: "scope.create",
						Subject: fmt.Sprintf("scope/s%d", i), Outcome: audit.Success, Details: map[string]string{"i": fmt.Sprint(i)},
					})
					return err
				})
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("append: %v", err)
			}
		}
		head, err := st.AuditHead(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if head.Seq != n {
			t.Fatalf("head seq = %d, want %d", head.Seq, n)
		}
		// Read in pages, verify as a stream.
		v := audit.NewVerifier()
		var after int64
		for {
			page, err := st.AuditEvents(ctx, after, 5)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				break
			}
			for _, e := range page {
				if err := v.Add(e); err != nil {
					t.Fatalf("stored chain does not verify: %v", err)
				}
				after = e.Seq
			}
		}
		if err := v.Finish(head); err != nil {
			t.Fatal(err)
		}
		// The engine refuses to change or remove an event.
		db := rawDB(t, dsn)
		for _, q := range []string{"UPDATE audit_events SET actor = 'mallory' WHERE seq = 3", "DELETE FROM audit_events WHERE seq = 3"} {
			if _, err := db.ExecContext(ctx, q); err == nil || !strings.Contains(err.Error(), "append-only") {
				t.Errorf("%s: got %v, want an append-only error", q, err)
			}
		}
	})
}

func TestLocksExcludeEachOther(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, st store.Store, dsn string) {
		ctx := t.Context()
		// A second handle on the same store stands for a second process.
		other, err := store.Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		try := func(s store.Store, name, holder string) bool {
			t.Helper()
			ok, err := s.TryLock(ctx, name, holder, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			return ok
		}
		for _, name := range []string{store.RunLock, store.TokenLock("tok1")} {
			if !try(st, name, "a") {
				t.Fatalf("%s: first holder refused", name)
			}
			if try(other, name, "b") {
				t.Fatalf("%s: second holder admitted while the first holds it", name)
			}
			if !try(st, name, "a") {
				t.Fatalf("%s: holder could not renew", name)
			}
			if err := other.Unlock(ctx, name, "b"); err != nil {
				t.Fatal(err)
			}
			if try(other, name, "b") {
				t.Fatalf("%s: unlock by a non-holder released the lock", name)
			}
			if err := st.Unlock(ctx, name, "a"); err != nil {
				t.Fatal(err)
			}
			if !try(other, name, "b") {
				t.Fatalf("%s: released lock refused", name)
			}
		}
		if !try(st, store.TokenLock("tok2"), "a") {
			t.Fatal("independent lock refused")
		}

		// Many contenders at once, across both handles: exactly one wins.
		const contenders = 16
		var winners atomic.Int32
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := 0; i < contenders; i++ {
			s := st
			if i%2 == 1 {
				s = other
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				ok, err := s.TryLock(ctx, "race", fmt.Sprintf("holder-%d", i), time.Minute)
				if err != nil {
					t.Error(err)
					return
				}
				if ok {
					winners.Add(1)
				}
			}()
		}
		close(start)
		wg.Wait()
		if got := winners.Load(); got != 1 {
			t.Fatalf("%d holders took the lock at once, want 1", got)
		}
	})
}

func TestLockLeaseExpires(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, _ store.Store, dsn string) {
		ctx := t.Context()
		var now atomic.Int64
		now.Store(t0.UnixMicro())
		clock := func() time.Time { return time.UnixMicro(now.Load()) }
		a, err := store.Open(ctx, dsn, store.WithLeaseClock(clock))
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		if ok, err := a.TryLock(ctx, "run", "crashed", time.Minute); err != nil || !ok {
			t.Fatalf("lock: %v %v", ok, err)
		}
		now.Add((59 * time.Second).Microseconds())
		if ok, _ := a.TryLock(ctx, "run", "next", time.Minute); ok {
			t.Fatal("lease taken before it ran out")
		}
		now.Add((time.Second).Microseconds())
		if ok, err := a.TryLock(ctx, "run", "next", time.Minute); err != nil || !ok {
			t.Fatalf("expired lease not taken over: %v %v", ok, err)
		}
	})
}

func TestReopenKeepsDataAndSchema(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, st store.Store, dsn string) {
		ctx := t.Context()
		seedScopes(t, st, "a:b")
		again, err := store.Open(ctx, dsn)
		if err != nil {
			t.Fatalf("reopen: %v", err)
		}
		defer again.Close()
		if err := again.View(ctx, func(tx store.Tx) error { _, err := tx.GetScope(ctx, "a:b"); return err }); err != nil {
			t.Fatal(err)
		}
		var versions int
		if err := rawDB(t, dsn).QueryRowContext(ctx, "SELECT COUNT(*) FROM goose_db_version WHERE version_id > 0").Scan(&versions); err != nil {
			t.Fatal(err)
		}
		files, err := filepath.Glob("migrations/sqlite/*.sql")
		if err != nil || len(files) == 0 {
			t.Fatalf("find the migrations: %v", err)
		}
		if versions != len(files) {
			t.Fatalf("migrations recorded = %d, want %d, once each", versions, len(files))
		}
	})
}

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cases := []struct {
		name, dsn, want string
	}{
		{"empty", "", "TOKENWARD_STORE"},
		{"unknown scheme", "mysql://x", `unsupported scheme "mysql"`},
		{"missing folder", filepath.Join(dir, "nope", "x.db"), "nope"},
		{"postgres password kept out", "postgres://u:hunter22@127.0.0.1:1/db?connect_timeout=1", "open postgres store"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := store.Open(context.Background(), tc.dsn)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "hunter22") {
				t.Fatalf("error leaks the password: %v", err)
			}
		})
	}
}

func TestSQLiteFileIsPrivate(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "tw.db")
	st, err := store.Open(t.Context(), "sqlite:"+path, store.Create())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode = %v, want 0600", fi.Mode().Perm())
	}
}

// TestWritersSerialize: a change that reads a record and writes it back must
// not undo a change another writer committed in between (a lost update),
// which PostgreSQL's READ COMMITTED would allow if writers did not take
// turns.
func TestWritersSerialize(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, st store.Store, _ string) {
		ctx := t.Context()
		seedScopes(t, st, "counter:read")
		update(t, st, func(tx store.Tx) error {
			return tx.UpdateScope(ctx, store.Scope{Name: "counter:read", Description: "0", UpdatedAt: t0})
		})
		increment := func(tx store.Tx, pause func()) error {
			s, err := tx.GetScope(ctx, "counter:read")
			if err != nil {
				return err
			}
			pause()
			var n int
			fmt.Sscan(s.Description, &n)
			s.Description = fmt.Sprint(n + 1)
			return tx.UpdateScope(ctx, s)
		}
		entered, release := make(chan struct{}), make(chan struct{})
		first := make(chan error, 1)
		go func() {
			first <- st.Update(ctx, func(tx store.Tx) error {
				return increment(tx, func() { close(entered); <-release })
			})
		}()
		<-entered
		second := make(chan error, 1)
		go func() { second <- st.Update(ctx, func(tx store.Tx) error { return increment(tx, func() {}) }) }()
		// Give the second writer a chance to run while the first holds its
		// read; with writers serialized it waits instead.
		select {
		case err := <-second:
			second <- err
		case <-time.After(300 * time.Millisecond):
		}
		close(release)
		if err := <-first; err != nil {
			t.Fatal(err)
		}
		if err := <-second; err != nil {
			t.Fatal(err)
		}
		var got store.Scope
		if err := st.View(ctx, func(tx store.Tx) error { var err error; got, err = tx.GetScope(ctx, "counter:read"); return err }); err != nil {
			t.Fatal(err)
		}
		if got.Description != "2" {
			t.Fatalf("two increments left %s: an update was lost", got.Description)
		}
	})
}

// TestReadersDoNotWaitForWriters: a read (a token verification, say) runs
// while a write transaction is open.
func TestReadersDoNotWaitForWriters(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, st store.Store, _ string) {
		ctx := t.Context()
		seedScopes(t, st, "a:b")
		entered, release := make(chan struct{}), make(chan struct{})
		done := make(chan error, 1)
		go func() {
			done <- st.Update(ctx, func(tx store.Tx) error {
				if err := tx.UpdateScope(ctx, store.Scope{Name: "a:b", Description: "uncommitted", UpdatedAt: t0}); err != nil {
					return err
				}
				close(entered)
				<-release
				return nil
			})
		}()
		<-entered
		readCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		var got store.Scope
		err := st.View(readCtx, func(tx store.Tx) error { var err error; got, err = tx.GetScope(readCtx, "a:b"); return err })
		close(release)
		if err != nil {
			t.Fatalf("read while a write is open: %v", err)
		}
		if got.Description == "uncommitted" {
			t.Fatal("read saw an uncommitted write")
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
}

// TestLeaseSaysWhoHolds: Lease names a lock's holder and when its lease
// runs out, measured by the lease clock, and nothing once it is released.
func TestLeaseSaysWhoHolds(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, _ store.Store, dsn string) {
		ctx := t.Context()
		clock := func() time.Time { return t0 }
		st, err := store.Open(ctx, dsn, store.WithLeaseClock(clock))
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		if _, ok, err := st.Lease(ctx, store.RunLock); err != nil || ok {
			t.Fatalf("a free lock has a lease: %v %v", ok, err)
		}
		if ok, err := st.TryLock(ctx, store.RunLock, "host/42/abcd/run/1", 2*time.Minute); err != nil || !ok {
			t.Fatalf("lock: %v %v", ok, err)
		}
		l, ok, err := st.Lease(ctx, store.RunLock)
		if err != nil || !ok || l.Holder != "host/42/abcd/run/1" || !l.ExpiresAt.Equal(t0.Add(2*time.Minute)) {
			t.Fatalf("lease = %+v %v %v, want the holder until %s", l, ok, err, t0.Add(2*time.Minute))
		}
		if err := st.Unlock(ctx, store.RunLock, "host/42/abcd/run/1"); err != nil {
			t.Fatal(err)
		}
		if _, ok, err := st.Lease(ctx, store.RunLock); err != nil || ok {
			t.Fatalf("a released lock has a lease: %v %v", ok, err)
		}
	})
}
