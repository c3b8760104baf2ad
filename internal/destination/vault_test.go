package destination_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/tokenward/terraform-provider-tokenward/internal/destination"
	"github.com/tokenward/terraform-provider-tokenward/internal/destination/vaulttest"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
)

const (
	vaultToken = "hvs.test-token-not-a-value"
	value1     = "tw_value_one_9f8e7d6c5b4a"
	value2     = "tw_value_two_1a2b3c4d5e6f"
)

func vaultDest(t *testing.T, path, key, owner string) store.Destination {
	t.Helper()
	d, err := destination.New(destination.KindVaultKV, destination.Config{Path: path, Key: key, ManagedBy: owner})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func newVault(t *testing.T, s *vaulttest.Server) *destination.Vault {
	t.Helper()
	v, err := destination.NewVault(destination.VaultConfig{Address: s.URL, Token: vaultToken})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// noValue fails when err shows a value or credential.
func noValue(t *testing.T, err error, secrets ...string) {
	t.Helper()
	if err == nil {
		return
	}
	for _, s := range append(secrets, value1, value2, vaultToken) {
		if strings.Contains(err.Error(), s) {
			t.Fatalf("the error shows a secret: %v", err)
		}
	}
}

func TestVaultWrite(t *testing.T) {
	s := vaulttest.New(t)
	s.AddToken(vaultToken)
	v := newVault(t, s)
	ctx := context.Background()
	d := vaultDest(t, "apps/billing", "API_TOKEN", "billing")

	for i, step := range []struct {
		value       string
		wantVersion int
	}{
		{value1, 1},
		{value1, 1}, // a rerun writes no new version
		{value2, 2},
	} {
		if err := v.Write(ctx, d, step.value); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		got, ok := s.Get("apps/billing")
		if !ok || got.Data["API_TOKEN"] != step.value || got.CurrentVersion != step.wantVersion || got.CustomMetadata["managed-by"] != "tokenward/billing" {
			t.Fatalf("write %d: holds %+v", i, got)
		}
	}
	// A second field of the same token's secret is merged in.
	if err := v.Write(ctx, vaultDest(t, "apps/billing", "API_USER", "billing"), "svc"); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Get("apps/billing"); got.Data["API_TOKEN"] != value2 || got.Data["API_USER"] != "svc" {
		t.Fatalf("after a second field: %+v", got.Data)
	}
}

func TestVaultNeverTouchesAnotherOwnersSecret(t *testing.T) {
	for _, tc := range []struct {
		name   string
		custom map[string]string
		want   string
	}{
		{"no metadata", nil, "has no managed-by"},
		{"other custom metadata", map[string]string{"team": "ops"}, "has no managed-by"},
		{"another token's", map[string]string{"managed-by": "tokenward/other"}, "managed-by = tokenward/other"},
		{"another tool's", map[string]string{"managed-by": "terraform"}, "managed-by = terraform"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := vaulttest.New(t)
			s.AddToken(vaultToken)
			v := newVault(t, s)
			ctx := context.Background()
			s.Put("apps/billing", map[string]string{"API_TOKEN": "theirs"}, tc.custom)
			d := vaultDest(t, "apps/billing", "API_TOKEN", "billing")

			err := v.Write(ctx, d, value1)
			if !errors.Is(err, destination.ErrNotOwned) || !strings.Contains(err.Error(), tc.want) ||
				!strings.Contains(err.Error(), "secret/apps/billing") ||
				!strings.Contains(err.Error(), "vault kv metadata patch -mount=secret -custom-metadata=managed-by=tokenward/billing apps/billing") {
				t.Fatalf("write: %v", err)
			}
			noValue(t, err, "theirs")
			if err := v.Delete(ctx, d); err != nil {
				t.Fatalf("delete: %v", err)
			}
			got, ok := s.Get("apps/billing")
			if !ok || got.Data["API_TOKEN"] != "theirs" || got.CurrentVersion != 1 {
				t.Fatalf("the secret was touched: %+v", got)
			}
		})
	}
}

func TestVaultCheckAndSetConflict(t *testing.T) {
	for _, tc := range []struct {
		name      string
		interfere int
		wantErr   bool
	}{
		{"no conflict", 0, false},
		{"one conflict is retried", 1, false},
		{"a second conflict is reported", 2, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := vaulttest.New(t)
			s.AddToken(vaultToken)
			v := newVault(t, s)
			ctx := context.Background()
			d := vaultDest(t, "apps/billing", "API_TOKEN", "billing")
			if err := v.Write(ctx, d, value1); err != nil {
				t.Fatal(err)
			}
			s.Interfere(tc.interfere)
			err := v.Write(ctx, d, value2)
			got, _ := s.Get("apps/billing")
			if tc.wantErr {
				if !errors.Is(err, destination.ErrConflict) || !strings.Contains(err.Error(), "retried once") {
					t.Fatalf("err %v, want a reported conflict", err)
				}
				noValue(t, err)
				if got.Data["API_TOKEN"] != value1 {
					t.Fatal("a conflicting write landed")
				}
				return
			}
			if err != nil || got.Data["API_TOKEN"] != value2 || got.CurrentVersion != 2+tc.interfere {
				t.Fatalf("err %v, holds %+v", err, got)
			}
		})
	}
	t.Run("a secret created by someone else meanwhile is refused", func(t *testing.T) {
		s := vaulttest.New(t)
		s.AddToken(vaultToken)
		s.Interfere(1) // another writer creates the key just before tokenward's cas 0
		err := newVault(t, s).Write(context.Background(), vaultDest(t, "apps/new", "K", "billing"), value1)
		if !errors.Is(err, destination.ErrNotOwned) {
			t.Fatalf("err %v, want ErrNotOwned", err)
		}
		if got, _ := s.Get("apps/new"); got.Data["K"] == value1 || got.CustomMetadata["managed-by"] != "" {
			t.Fatalf("the other writer's key was taken: %+v", got)
		}
	})
}

func TestVaultRecognisesItsUnmarkedWrite(t *testing.T) {
	// A crash between the data write and the mark leaves a secret holding
	// only the value being written: the rerun marks it; any other content
	// is someone else's.
	for _, tc := range []struct {
		name string
		data map[string]string
		ok   bool
	}{
		{"only the value being written", map[string]string{"API_TOKEN": value1}, true},
		{"another value", map[string]string{"API_TOKEN": "theirs"}, false},
		{"the value and more", map[string]string{"API_TOKEN": value1, "X": "y"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := vaulttest.New(t)
			s.AddToken(vaultToken)
			s.Put("apps/billing", tc.data, nil)
			err := newVault(t, s).Write(context.Background(), vaultDest(t, "apps/billing", "API_TOKEN", "billing"), value1)
			got, _ := s.Get("apps/billing")
			if tc.ok != (err == nil) || tc.ok != (got.CustomMetadata["managed-by"] == "tokenward/billing") || got.CurrentVersion != 1 {
				t.Fatalf("err %v, holds %+v", err, got)
			}
		})
	}
}

func TestVaultDelete(t *testing.T) {
	s := vaulttest.New(t)
	s.AddToken(vaultToken)
	v := newVault(t, s)
	ctx := context.Background()
	a, b := vaultDest(t, "apps/billing", "A", "billing"), vaultDest(t, "apps/billing", "B", "billing")
	for _, d := range []store.Destination{a, b} {
		if err := v.Write(ctx, d, value1); err != nil {
			t.Fatal(err)
		}
	}
	if err := v.Delete(ctx, a); err != nil {
		t.Fatal(err)
	}
	if got, ok := s.Get("apps/billing"); !ok || got.Data["A"] != "" || got.Data["B"] != value1 {
		t.Fatalf("after deleting one field: %+v", got)
	}
	for range 2 { // the second time it is gone already
		if err := v.Delete(ctx, b); err != nil {
			t.Fatal(err)
		}
		if _, ok := s.Get("apps/billing"); ok {
			t.Fatal("the secret survived the delete of its last field")
		}
	}
}

func TestVaultAppRole(t *testing.T) {
	s := vaulttest.New(t, vaulttest.WithMount("kv"))
	s.AddAppRole("role-id-1", "secret-id-not-a-value")
	ctx := context.Background()
	d := vaultDest(t, "apps/billing", "API_TOKEN", "billing")

	bad, err := destination.NewVault(destination.VaultConfig{Address: s.URL, Mount: "kv", RoleID: "role-id-1", SecretID: "wrong-secret-id"})
	if err != nil {
		t.Fatal(err)
	}
	err = bad.Write(ctx, d, value1)
	if err == nil || !strings.Contains(err.Error(), "AppRole") {
		t.Fatalf("a bad secret id: %v", err)
	}
	noValue(t, err, "wrong-secret-id", "secret-id-not-a-value")

	v, err := destination.NewVault(destination.VaultConfig{Address: s.URL, Mount: "kv", RoleID: "role-id-1", SecretID: "secret-id-not-a-value"})
	if err != nil {
		t.Fatal(err)
	}
	for _, val := range []string{value1, value2} {
		if err := v.Write(ctx, d, val); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := s.Get("apps/billing"); got.Data["API_TOKEN"] != value2 || s.Logins() != 1 {
		t.Fatalf("holds %+v after %d logins, want one", got, s.Logins())
	}
}

func TestVaultRefusedToken(t *testing.T) {
	s := vaulttest.New(t) // knows no token
	err := newVault(t, s).Write(context.Background(), vaultDest(t, "apps/billing", "API_TOKEN", "billing"), value1)
	if err == nil || !strings.Contains(err.Error(), "HTTP 403") || !strings.Contains(err.Error(), "permission denied") {
		t.Fatalf("err %v, want a 403", err)
	}
	noValue(t, err)
}

func TestVaultConfigFromEnv(t *testing.T) {
	for _, tc := range []struct {
		name    string
		env     map[string]string
		ok      bool
		want    destination.VaultConfig
		wantErr string
	}{
		{name: "nothing", env: nil},
		{name: "VAULT_ADDR and VAULT_TOKEN", env: map[string]string{"VAULT_ADDR": "https://v:8200", "VAULT_TOKEN": "t1"}, ok: true,
			want: destination.VaultConfig{Address: "https://v:8200", Token: "t1"}},
		{name: "tokenward's first", env: map[string]string{"VAULT_ADDR": "https://v", "TOKENWARD_VAULT_ADDR": "https://tw", "VAULT_TOKEN": "t1", "TOKENWARD_VAULT_TOKEN": "t2", "TOKENWARD_VAULT_MOUNT": "kv"}, ok: true,
			want: destination.VaultConfig{Address: "https://tw", Token: "t2", Mount: "kv"}},
		{name: "AppRole wins over VAULT_TOKEN", env: map[string]string{"VAULT_ADDR": "https://v", "VAULT_TOKEN": "t1", "TOKENWARD_VAULT_ROLE_ID": "r", "TOKENWARD_VAULT_SECRET_ID": "s"}, ok: true,
			want: destination.VaultConfig{Address: "https://v", RoleID: "r", SecretID: "s"}},
		{name: "token and AppRole", env: map[string]string{"TOKENWARD_VAULT_TOKEN": "t", "TOKENWARD_VAULT_ROLE_ID": "r", "TOKENWARD_VAULT_SECRET_ID": "s"}, ok: true, wantErr: "set only one"},
		{name: "half an AppRole", env: map[string]string{"TOKENWARD_VAULT_ROLE_ID": "r"}, ok: true, wantErr: "TOKENWARD_VAULT_SECRET_ID"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok, err := destination.VaultConfigFromEnv(func(k string) string { return tc.env[k] })
			if ok != tc.ok || (err == nil) != (tc.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("ok %v err %v", ok, err)
			}
			if err == nil && got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
			noValue(t, err, "t1", "t2")
		})
	}
	for _, tc := range []struct {
		cfg  destination.VaultConfig
		want string
	}{
		{destination.VaultConfig{Token: "t"}, "TOKENWARD_VAULT_ADDR"},
		{destination.VaultConfig{Address: "https://v"}, "TOKENWARD_VAULT_TOKEN"},
		{destination.VaultConfig{Address: "vault:8200", Token: "t"}, "http:// or https://"},
		{destination.VaultConfig{Address: "https://v", Token: "t", Mount: "/a//b"}, "mount"},
	} {
		if _, err := destination.NewVault(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewVault(%+v): %v, want %q", tc.cfg, err, tc.want)
		}
	}
}
