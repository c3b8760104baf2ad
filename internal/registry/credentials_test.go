package registry_test

import (
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/issuer"
	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
)

// TestCheckCredentialLifetime: a token's rules, and an overlap no longer
// than the rotation interval, with a reason that says why.
func TestCheckCredentialLifetime(t *testing.T) {
	const d = 24 * time.Hour
	for _, tc := range []struct {
		name  string
		l     store.Lifetime
		field string // "" for valid
		why   string
	}{
		{"usual", store.Lifetime{TTL: 30 * d, RotateBefore: 7 * d, Overlap: d}, "", ""},
		{"overlap equal to the interval", store.Lifetime{TTL: 14 * d, RotateBefore: 7 * d, Overlap: 7 * d}, "", ""},
		{"overlap past the interval", store.Lifetime{TTL: 10 * d, RotateBefore: 7 * d, Overlap: 5 * d}, "overlap", "the user the previous version still holds"},
		{"a token's rule still holds", store.Lifetime{TTL: 30 * d, RotateBefore: 30 * d, Overlap: d}, "rotate_before", "shorter than ttl"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := registry.CheckCredentialLifetime(tc.l)
			var ie *registry.InvalidError
			switch {
			case tc.field == "" && err != nil:
				t.Fatalf("want valid, got %v", err)
			case tc.field != "" && (!errors.As(err, &ie) || ie.Field != tc.field || !strings.Contains(ie.Reason, tc.why)):
				t.Fatalf("got %v, want an error on %s saying %q", err, tc.field, tc.why)
			}
		})
	}
}

func TestCheckField(t *testing.T) {
	for _, tc := range []struct {
		kind, field string
		ok          bool
	}{
		{"postgres", "", true}, {"postgres", "dsn", true}, {"postgres", "url", false},
		{"mysql", "username", true}, {"redis", "url", true}, {"redis", "dsn", false}, {"redis", "token", false},
	} {
		if err := registry.CheckField(tc.kind, tc.field); (err == nil) != tc.ok {
			t.Errorf("CheckField(%s, %q) = %v, want ok %v", tc.kind, tc.field, err, tc.ok)
		}
	}
}

// TestNewPassword: long, URL-safe, different each time.
func TestNewPassword(t *testing.T) {
	seen := map[string]bool{}
	for range 20 {
		p, err := registry.NewPassword(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if len(p) < 40 || strings.ContainsAny(p, "+/=:@?#%") || seen[p] {
			t.Fatalf("password of %d characters, URL-safe %v, repeated %v", len(p), !strings.ContainsAny(p, "+/=:@?#%"), seen[p])
		}
		seen[p] = true
	}
}

// TestTokenPathsRefuseCredentials: tokens and credentials share one name
// space, so a token's update refuses a credential of that name instead of
// turning it into a token, and a token keeps its name from a credential.
func TestTokenPathsRefuseCredentials(t *testing.T) {
	forEachEngine(t, func(t *testing.T, f fixture) {
		ctx := t.Context()
		cred := registry.CredentialSpec{
			Name: "billing-db", Lifetime: store.Lifetime{TTL: 30 * 24 * time.Hour, RotateBefore: 7 * 24 * time.Hour, Overlap: time.Hour},
			Issuer: issuer.Config{Postgres: &issuer.PostgresConfig{AdminDSNEnv: "ADMIN_DSN", Users: []string{"app_a", "app_b"}, MemberOf: "app"}},
		}
		if _, err := f.reg.CreateCredential(ctx, cred); err != nil {
			t.Fatal(err)
		}
		_, err := f.reg.UpdateToken(ctx, registry.TokenSpec{Name: "billing-db", Lifetime: lifetime})
		if !errors.Is(err, store.ErrConflict) || !strings.Contains(err.Error(), "is a credential, not a token") {
			t.Fatalf("updating a credential as a token: got %v, want a conflict saying it is a credential", err)
		}
		ti, err := f.reg.Token(ctx, "billing-db")
		if err != nil {
			t.Fatal(err)
		}
		if ti.Kind != store.KindCredential || registry.NotACredential(ti.Token) == nil {
			t.Fatalf("the record changed kind: %q", ti.Kind)
		}
		if _, err := f.reg.CreateToken(ctx, registry.TokenSpec{Name: "billing-db", Lifetime: lifetime}); !errors.Is(err, store.ErrExists) {
			t.Fatalf("a token with a credential's name: got %v, want ErrExists", err)
		}
	})
}
