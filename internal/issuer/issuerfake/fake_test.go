package issuerfake_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"net/url"
	"testing"

	"github.com/tokenward/terraform-provider-tokenward/internal/issuer"
	"github.com/tokenward/terraform-provider-tokenward/internal/issuer/issuerfake"
)

func env(k string) string {
	return map[string]string{"PG": "postgres://admin:adminpw@db.internal:5432/billing?sslmode=require", "RD": "redis://admin:pw@cache:6379/0"}[k]
}

var (
	pgConfig    = issuer.Config{Postgres: &issuer.PostgresConfig{AdminDSNEnv: "PG", Users: []string{"app_a", "app_b"}, MemberOf: "app"}}
	redisConfig = issuer.Config{Redis: &issuer.RedisConfig{AdminURLEnv: "RD", User: "cache_app"}}
)

// TestAlternatingUsers: a PostgreSQL-like issuer alternates its two users;
// staging one leaves the other's login alone; retiring locks the login.
func TestAlternatingUsers(t *testing.T) {
	ctx := context.Background()
	s := issuerfake.New(env)
	is, err := s.Open(ctx, pgConfig)
	if err != nil {
		t.Fatal(err)
	}
	if got := is.NextUser(""); got != "app_a" {
		t.Errorf("NextUser(\"\") = %q, want app_a", got)
	}
	if got := is.NextUser("app_a"); got != "app_b" {
		t.Errorf("NextUser(app_a) = %q, want app_b", got)
	}
	a := issuer.Credential{Username: "app_a", Password: "one"}
	b := issuer.Credential{Username: "app_b", Password: "two"}
	for _, c := range []issuer.Credential{a, b} {
		if err := is.Stage(ctx, c); err != nil {
			t.Fatal(err)
		}
		if err := is.Test(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Login("app_a", "one"); err != nil {
		t.Errorf("staging app_b locked app_a out: %v", err)
	}
	if err := is.Retire(ctx, issuer.Retired{Username: "app_a", PasswordHash: sha256.Sum256([]byte("one"))}); err != nil {
		t.Fatal(err)
	}
	if err := s.Login("app_a", "one"); !errors.Is(err, issuerfake.ErrLogin) {
		t.Errorf("retired app_a logs in: %v", err)
	}
	if err := s.Login("app_b", "two"); err != nil {
		t.Errorf("retiring app_a locked app_b: %v", err)
	}
	if err := is.Stage(ctx, issuer.Credential{Username: "app_a", Password: "three"}); err != nil {
		t.Fatal(err)
	}
	if s.Login("app_a", "one") == nil || s.Login("app_a", "three") != nil {
		t.Error("restaging app_a: want only its new password to log in")
	}
}

// TestTwoPasswords: a Redis-like issuer keeps one user with both
// passwords until the old one is removed by its hash.
func TestTwoPasswords(t *testing.T) {
	ctx := context.Background()
	s := issuerfake.New(env)
	is, err := s.Open(ctx, redisConfig)
	if err != nil {
		t.Fatal(err)
	}
	if is.NextUser("cache_app") != "cache_app" || is.NextUser("") != "cache_app" {
		t.Error("a Redis issuer has one user")
	}
	for _, p := range []string{"old", "new"} {
		if err := is.Stage(ctx, issuer.Credential{Username: "cache_app", Password: p}); err != nil {
			t.Fatal(err)
		}
	}
	if s.Login("cache_app", "old") != nil || s.Login("cache_app", "new") != nil {
		t.Error("both passwords should log in inside the overlap")
	}
	if err := is.Retire(ctx, issuer.Retired{Username: "cache_app", PasswordHash: sha256.Sum256([]byte("old"))}); err != nil {
		t.Fatal(err)
	}
	if s.Login("cache_app", "old") == nil || s.Login("cache_app", "new") != nil {
		t.Error("after retiring: want only the new password")
	}
	if n, _ := s.Passwords("cache_app"); n != 1 {
		t.Errorf("passwords = %d, want 1", n)
	}
}

func TestFields(t *testing.T) {
	ctx := context.Background()
	s := issuerfake.New(env)
	pg, _ := s.Open(ctx, pgConfig)
	rd, _ := s.Open(ctx, redisConfig)
	c := issuer.Credential{Username: "app_a", Password: "p/w"}
	for _, tc := range []struct {
		name  string
		is    issuer.Issuer
		field string
		want  string
		bad   bool
	}{
		{"password", pg, "password", "p/w", false},
		{"main", pg, "", "p/w", false},
		{"username", pg, "username", "app_a", false},
		{"dsn", pg, "dsn", "postgres://app_a:" + url.PathEscape("p/w") + "@db.internal:5432/billing?sslmode=require", false},
		{"no url for postgres", pg, "url", "", true},
		{"redis url", rd, "url", "redis://app_a:" + url.PathEscape("p/w") + "@cache:6379/0", false},
		{"no dsn for redis", rd, "dsn", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.is.Field(c, tc.field)
			if (err != nil) != tc.bad || got != tc.want {
				t.Errorf("Field(%q) = %q, %v; want %q (error %v)", tc.field, got, err, tc.want, tc.bad)
			}
		})
	}
}

func TestFailuresAndOpen(t *testing.T) {
	ctx := context.Background()
	s := issuerfake.New(env)
	if _, err := s.Open(ctx, issuer.Config{Postgres: &issuer.PostgresConfig{AdminDSNEnv: "UNSET", Users: []string{"a", "b"}}}); err == nil {
		t.Error("Open with the admin variable unset: want an error")
	}
	is, err := s.Open(ctx, pgConfig)
	if err != nil {
		t.Fatal(err)
	}
	s.FailNext(issuerfake.OpStage, 1)
	c := issuer.Credential{Username: "app_a", Password: "x"}
	if err := is.Stage(ctx, c); !errors.Is(err, issuerfake.ErrInjected) {
		t.Errorf("first stage = %v, want the injected failure", err)
	}
	if err := is.Stage(ctx, c); err != nil {
		t.Errorf("second stage = %v", err)
	}
	if got := s.Calls(issuerfake.OpStage); got != 2 {
		t.Errorf("stage calls = %d, want 2", got)
	}
	if err := is.Stage(ctx, issuer.Credential{Username: "someone", Password: "x"}); err == nil {
		t.Error("staging a user not in the configuration: want an error")
	}
}
