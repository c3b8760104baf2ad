package main

import (
	"database/sql"
	"hash/crc32"
	"strings"
	"testing"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/audit"
	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
	"github.com/tokenward/terraform-provider-tokenward/internal/token"
)

// TestVerifyRecordsUsage checks that a local verify of a writable store
// appends one event per value (endpoint cli), with the token the presented
// id names, and changes nothing else: not the audit chain.
func TestVerifyRecordsUsage(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	p, _ := token.Parse(w.value)
	forged := token.Prefix + p.ID + strings.Repeat("x", token.SecretLength)
	forged += checksumOf(forged)
	head := func() audit.Head {
		ar, err := registry.OpenAuditReader(t.Context(), registry.Config{Getenv: w.getenv})
		if err != nil {
			t.Fatal(err)
		}
		defer ar.Close()
		h, err := ar.Head(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	before := head()
	r := w.run(t, w.value+"\n"+forged+"\ntw_malformed\n", "verify", "--all", "--scope", "billing:read")
	if r.code != exitFailed || strings.Contains(r.stderr, "usage log") {
		t.Fatalf("verify --all: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if head() != before {
		t.Error("verify changed the audit chain")
	}
	ur, err := registry.OpenUsageReader(t.Context(), registry.Config{Getenv: w.getenv})
	if err != nil {
		t.Fatal(err)
	}
	defer ur.Close()
	var got []store.UsageEvent
	if err := ur.EachUsage(t.Context(), store.UsageQuery{}, func(ev store.UsageEvent) error { got = append(got, ev); return nil }); err != nil {
		t.Fatal(err)
	}
	at, _ := time.Parse(time.RFC3339, w.env["TOKENWARD_NOW"])
	want := map[string]store.UsageEvent{
		"valid":     {TokenName: "ci-deploy", VersionID: p.ID, Fingerprint: token.Fingerprint(w.value)},
		"not_found": {TokenName: "ci-deploy", VersionID: p.ID, Fingerprint: token.Fingerprint(forged)},
		"malformed": {},
	}
	if len(got) != len(want) {
		t.Fatalf("%d events, want %d: %+v", len(got), len(want), got)
	}
	for _, ev := range got {
		wv, ok := want[ev.Code]
		if !ok || ev.TokenName != wv.TokenName || ev.VersionID != wv.VersionID || ev.Fingerprint != wv.Fingerprint ||
			ev.Endpoint != "cli" || !ev.At.Equal(at) || (ev.TokenName != "" && ev.TokenID == "") ||
			strings.Join(ev.ScopesRequired, " ") != "billing:read" {
			t.Errorf("event %+v, want %+v", ev, wv)
		}
		delete(want, ev.Code)
	}
}

// checksumOf is the checksum part of a token whose other parts are body.
func checksumOf(body string) string {
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	crc := crc32.ChecksumIEEE([]byte(body))
	out := make([]byte, token.ChecksumLength)
	for i := token.ChecksumLength - 1; i >= 0; i-- {
		out[i] = alphabet[crc%62]
		crc /= 62
	}
	return string(out)
}

// TestVerifyUsageWriteFails checks that an event the store refuses is a
// warning, never a failed verification.
func TestVerifyUsageWriteFails(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	db, err := sql.Open("sqlite", "file:"+w.path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TRIGGER usage_refused BEFORE INSERT ON usage_events BEGIN SELECT RAISE(ABORT, 'the disk says no'); END`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	r := w.run(t, w.value, "verify", "--scope", "billing:read")
	if r.code != exitOK || !strings.Contains(r.stdout, `"valid": true`) {
		t.Fatalf("verify with a usage log that refuses events: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, "warning: the usage log did not record this verification") || !strings.Contains(r.stderr, "the disk says no") {
		t.Errorf("no warning on stderr: %s", r.stderr)
	}
}
