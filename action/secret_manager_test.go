package main

import (
	"strings"
	"testing"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/destination"
	"github.com/tokenward/terraform-provider-tokenward/internal/destination/awstest"
	"github.com/tokenward/terraform-provider-tokenward/internal/destination/vaulttest"
	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
)

// TestRotateSecretManagers: tokenward rotate writes to Vault and Secrets
// Manager with the credentials of the environment, and a Vault setting that
// does not read fails only the Vault destinations.
func TestRotateSecretManagers(t *testing.T) {
	t.Parallel()
	vs := vaulttest.New(t)
	vs.AddAppRole("role-1", "approle-secret-id")
	as := awstest.New(t)
	as.AddCredentials("AKIDACTION", "action-secret-key")
	w := newWorld(t)
	reg, err := registry.Open(t.Context(), registry.Config{Getenv: w.getenv})
	if err != nil {
		t.Fatal(err)
	}
	for _, tk := range []struct {
		name string
		kind string
		c    destination.Config
	}{
		{"vault-token", destination.KindVaultKV, destination.Config{Path: "apps/billing", Key: "API_TOKEN", ManagedBy: "vault-token"}},
		{"aws-token", destination.KindAWSSecret, destination.Config{Name: "billing/api-token", ManagedBy: "aws-token"}},
	} {
		d, err := destination.New(tk.kind, tk.c)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := reg.CreateToken(t.Context(), registry.TokenSpec{Name: tk.name, Scopes: []string{"billing:read"},
			Lifetime:     store.Lifetime{TTL: 30 * 24 * time.Hour, RotateBefore: 7 * 24 * time.Hour, Overlap: 24 * time.Hour},
			Destinations: []store.Destination{d}}); err != nil {
			t.Fatal(err)
		}
	}
	reg.Close()
	env := w.with("TOKENWARD_VAULT_ADDR", vs.URL, "TOKENWARD_VAULT_ROLE_ID", "role-1", "TOKENWARD_VAULT_SECRET_ID", "approle-secret-id",
		"AWS_ACCESS_KEY_ID", "AKIDACTION", "AWS_SECRET_ACCESS_KEY", "action-secret-key", "AWS_REGION", awstest.Region,
		"TOKENWARD_AWS_ENDPOINT", as.URL)

	// A Vault without credentials: the AWS token still rotates.
	half := env.with("TOKENWARD_VAULT_ROLE_ID", "", "TOKENWARD_VAULT_SECRET_ID", "")
	r := half.run(t, "", "rotate", "--token", "vault-token")
	if r.code == 0 || !strings.Contains(r.stdout+r.stderr, "vault: no credentials") {
		t.Fatalf("rotate without Vault credentials: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := half.run(t, "", "rotate", "--token", "aws-token"); r.code != 0 {
		t.Fatalf("rotate aws-token: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := env.run(t, "", "rotate", "--token", "vault-token"); r.code != 0 {
		t.Fatalf("rotate vault-token: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	v, _ := vs.Get("apps/billing")
	a, _ := as.Get("billing/api-token")
	for name, value := range map[string]string{"vault-token": v.Data["API_TOKEN"], "aws-token": a.Current} {
		if r := env.run(t, value, "verify"); r.code != 0 || value == "" {
			t.Fatalf("%s: the delivered value does not verify: exit %d\n%s", name, r.code, r.stdout)
		}
		noValueOutsideMasks(t, "stdout", r.stdout, value)
	}
	if v.CustomMetadata["managed-by"] != "tokenward/vault-token" || a.Tags["managed-by"] != "tokenward/aws-token" {
		t.Fatalf("ownership marks: %v %v", v.CustomMetadata, a.Tags)
	}
}
