package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/destination"
	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/rotation"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
)

// withHoneytoken adds a honeytoken delivered to a decoy dotenv file in dir,
// issued at the world's clock, and returns the file.
func (w world) withHoneytoken(t *testing.T, dir, name string) string {
	t.Helper()
	ctx := t.Context()
	reg, err := registry.Open(ctx, registry.Config{Getenv: w.getenv})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	path := filepath.Join(dir, name+".env")
	d, err := destination.New(destination.KindFile, destination.Config{Path: path, Key: "TOKEN", Format: destination.FormatDotenv})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.CreateToken(ctx, registry.TokenSpec{Name: name, Scopes: []string{"billing:read"}, Honeytoken: true,
		Lifetime:     store.Lifetime{TTL: 30 * 24 * time.Hour, RotateBefore: 7 * 24 * time.Hour, Overlap: 24 * time.Hour},
		Destinations: []store.Destination{d}}); err != nil {
		t.Fatal(err)
	}
	if _, err := rotation.New(reg, destination.NewRouter(nil)).Rotate(ctx, name); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestRotateLeavesHoneytokensAlone: a scheduled run leaves a due, even
// expired, honeytoken alone, says so (on stdout and in the step summary,
// no warning), exits 0 and keeps next-due on the real tokens; --honeytokens
// or --token NAME rotates it. `tokenward verify` answers its value as an
// unknown token's.
func TestRotateLeavesHoneytokensAlone(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	w := newWorld(t)
	decoy := w.withHoneytoken(t, dir, "decoy")
	real := w.withFileTokens(t, dir, "api")["api"]
	planted := readValue(t, decoy)
	w.value = planted // world.run fails on any output that shows it
	summary := filepath.Join(dir, "summary")
	if err := os.WriteFile(summary, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	// Past both tokens' expiry (30 days from 2026-11-27).
	late := w.with("TOKENWARD_NOW", "2027-01-05T09:00:00Z", "GITHUB_ACTIONS", "true", "GITHUB_STEP_SUMMARY", summary)

	r := late.run(t, "", "rotate", "--dry-run")
	if r.code != 0 || !strings.Contains(r.stdout, "1 due (dry run") || !strings.Contains(r.stdout, "left alone: decoy is a honeytoken (expired)") {
		t.Errorf("dry run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	old := readValue(t, real)
	r = late.run(t, "", "rotate")
	if r.code != 0 {
		t.Fatalf("scheduled run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if readValue(t, decoy) != planted || readValue(t, real) == old {
		t.Fatalf("scheduled run: decoy rotated %v, real token rotated %v\n%s", readValue(t, decoy) != planted, readValue(t, real) != old, r.stdout)
	}
	for _, want := range []string{"1 rotated, 0 failed", "left alone: decoy is a honeytoken (expired)", "tokenward rotate --honeytokens, or --token decoy",
		"next due: 2027-01-28T09:00:00Z"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("scheduled run does not say %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "::warning::decoy") || strings.Contains(r.stdout, "::error::") {
		t.Errorf("leaving a honeytoken alone is no warning:\n%s", r.stdout)
	}
	if b, _ := os.ReadFile(summary); !strings.Contains(string(b), "| decoy | expired | left alone: honeytoken") {
		t.Errorf("the step summary does not list the honeytoken:\n%s", b)
	}

	for _, args := range [][]string{{"rotate", "--token", "decoy"}, {"rotate", "--honeytokens"}} {
		before := readValue(t, decoy)
		w.value = before
		r = late.run(t, "", args...)
		after := readValue(t, decoy)
		if r.code != 0 || after == before || strings.Contains(r.stdout, "left alone") {
			t.Errorf("%v: exit %d, rotated %v\n%s%s", args, r.code, after != before, r.stdout, r.stderr)
		}
		// --honeytokens at a later time: the one from --token is not due.
		late = late.with("TOKENWARD_NOW", "2027-02-20T09:00:00Z")
	}

	w.value = readValue(t, decoy)
	r = w.run(t, w.value, "verify")
	if r.code != exitFailed || !strings.Contains(r.stdout, `"code": "not_found"`) || strings.Contains(r.stdout, "decoy") {
		t.Errorf("verify a honeytoken: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
