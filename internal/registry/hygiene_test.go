package registry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"github.com/tokenward/terraform-provider-tokenward/internal/seal/sealtest"
	"github.com/tokenward/terraform-provider-tokenward/internal/store/storetest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/seal"
	"github.com/tokenward/terraform-provider-tokenward/internal/token"
)

// TestRekey: values sealed under an old master key are re-wrapped under the
// new primary key, after which the old key is no longer needed.
func TestRekey(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, f fixture) {
		ctx := t.Context()
		setupToken(t, f)
		issue(t, f)
		pending := begin(t, f)
		if err := f.reg.CreateSetting(ctx, registry.SettingSpec{Key: "smtp.password", Type: "string", Default: raw(`"pw-default"`), Sensitive: true, UserEditable: true}); err != nil {
			t.Fatal(err)
		}
		if err := f.reg.SetUserValues(ctx, "alice", map[string]json.RawMessage{"smtp.password": raw(`"pw-alice"`)}); err != nil {
			t.Fatal(err)
		}

		newKey := sealtest.Key(t)
		rotated := registry.New(f.st, seal.NewKeyring(newKey, f.key), registry.WithClock(f.clock.Now))
		n, err := rotated.Rekey(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n != 3 {
			t.Fatalf("rekey re-wrapped %d values, want 3", n)
		}
		if n, err := rotated.Rekey(ctx); err != nil || n != 0 {
			t.Fatalf("second rekey: %d %v, want 0", n, err)
		}

		onlyNew := registry.New(f.st, seal.NewKeyring(newKey), registry.WithClock(f.clock.Now))
		resumed, ok, err := onlyNew.BeginRotation(ctx, "ci-deploy")
		if err != nil || !ok || resumed.Value != pending.Value {
			t.Fatalf("pending value after rekey: resumed=%v err=%v", ok, err)
		}
		s, err := onlyNew.Setting(ctx, "smtp.password")
		if err != nil || string(s.Default) != `"pw-default"` {
			t.Fatalf("sensitive default after rekey: %v", err)
		}
		own, err := onlyNew.UserValues(ctx, "alice")
		if err != nil || string(own["smtp.password"]) != `"pw-alice"` {
			t.Fatalf("sensitive user value after rekey: %v", err)
		}

		onlyOld := registry.New(f.st, seal.NewKeyring(f.key), registry.WithClock(f.clock.Now))
		if _, err := onlyOld.Setting(ctx, "smtp.password"); !errors.Is(err, seal.ErrUnknownKey) {
			t.Fatalf("old key alone opens a rekeyed value: %v", err)
		}
		storetest.AuditChain(t, f.st)
	})
}

// TestNoSecretAtRest issues and rotates tokens and stores sensitive values,
// then searches the raw bytes of the store (the SQLite files, or a pg_dump
// of the PostgreSQL database) for any of them.
func TestNoSecretAtRest(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, f fixture) {
		ctx := t.Context()
		setupToken(t, f)
		var secrets []string
		first := issue(t, f)
		secrets = append(secrets, first.Value)
		for i := 0; i < 2; i++ {
			p, _, err := f.reg.BeginRotation(ctx, "ci-deploy")
			if err != nil {
				t.Fatal(err)
			}
			secrets = append(secrets, p.Value)
			if _, err := f.reg.FinishRotation(ctx, "ci-deploy", p.VersionID); err != nil {
				t.Fatal(err)
			}
		}
		// A rotation left pending keeps its value sealed, not in plaintext.
		p, _, err := f.reg.BeginRotation(ctx, "ci-deploy")
		if err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, p.Value)
		const defaultSecret, userSecret = "smtp-default-Xq81vv", "alice-own-Zr72pp"
		secrets = append(secrets, defaultSecret, userSecret)
		if err := f.reg.CreateSetting(ctx, registry.SettingSpec{Key: "smtp.password", Type: "string", Default: raw(`"` + defaultSecret + `"`), Sensitive: true, UserEditable: true}); err != nil {
			t.Fatal(err)
		}
		if err := f.reg.SetUserValues(ctx, "alice", map[string]json.RawMessage{"smtp.password": raw(`"` + userSecret + `"`)}); err != nil {
			t.Fatal(err)
		}
		// The test must be able to fail: the values are really usable.
		for _, s := range secrets[:4] {
			if res, err := f.reg.Verify(ctx, s, nil); err != nil || res.Code == token.Malformed || res.Code == token.NotFound {
				t.Fatalf("issued value does not verify: %v %v", res.Code, err)
			}
		}

		raw := storeBytes(t, f)
		if len(raw) < 1000 {
			t.Fatalf("store dump is only %d bytes: nothing was searched", len(raw))
		}
		if !bytes.Contains(raw, []byte(first.Fingerprint)) {
			t.Fatalf("store dump lacks the fingerprint %s: the search does not see the data", first.Fingerprint)
		}
		for _, s := range secrets {
			if bytes.Contains(raw, []byte(s)) {
				t.Errorf("a secret (%s…) is in the store in plaintext", s[:6])
			}
			if p, err := token.Parse(s); err == nil && bytes.Contains(raw, []byte(p.Secret)) {
				t.Errorf("the secret part of %s is in the store in plaintext", token.Fingerprint(s))
			}
		}
	})
}

// storeBytes returns every byte the store keeps: all SQLite files (database,
// WAL, shared memory), or a plain pg_dump.
func storeBytes(t *testing.T, f fixture) []byte {
	t.Helper()
	if f.st.Engine() == "sqlite" {
		if err := f.st.Close(); err != nil {
			t.Fatal(err)
		}
		var all []byte
		matches, _ := filepath.Glob(f.dsn + "*")
		for _, m := range matches {
			b, err := os.ReadFile(m)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, b...)
		}
		return all
	}
	pgDump, err := engines.Postgres().Bin("pg_dump")
	if err != nil {
		t.Fatalf("pg_dump: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, pgDump, "--no-owner", "--data-only", "--inserts", f.dsn).Output()
	if err != nil {
		t.Fatalf("pg_dump: %v", err)
	}
	return out
}
