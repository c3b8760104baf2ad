package token

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestVerify(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	later := now.Add(time.Hour)

	// One minted token per record; the map key is the version id.
	type fixture struct {
		state  State
		expiry time.Time
		scopes []string
	}
	fixtures := map[string]fixture{
		"current":       {StateCurrent, later, []string{"billing:read", "users:write"}},
		"pending":       {StatePending, later, []string{"billing:read"}},
		"previous":      {StatePrevious, later, []string{"billing:read"}},
		"revoked":       {StateRevoked, later, []string{"billing:read"}},
		"revoked-old":   {StateRevoked, now.Add(-time.Hour), []string{"billing:read"}},
		"expires-now":   {StateCurrent, now, []string{"billing:read"}},
		"expires-soon":  {StateCurrent, now.Add(time.Nanosecond), []string{"billing:read"}},
		"pending-old":   {StatePending, now.Add(-time.Hour), []string{"billing:read"}},
		"wildcard":      {StateCurrent, later, []string{"billing:*"}},
		"unknown-state": {"", later, []string{"billing:read"}},
	}
	tokens := make(map[string]Minted, len(fixtures))
	records := make(map[string]Record, len(fixtures))
	seed := byte(10)
	for name, fx := range fixtures {
		m := mustGenerate(t, seededReader(seed))
		seed++
		tokens[name] = m
		records[m.ID] = Record{
			VersionID: m.ID,
			TokenName: name,
			Hash:      m.Hash,
			State:     fx.state,
			ExpiresAt: fx.expiry,
			Scopes:    fx.scopes,
		}
	}
	lookup := func(_ context.Context, id string) (*Record, error) {
		if rec, ok := records[id]; ok {
			return &rec, nil
		}
		return nil, nil
	}
	// matched is the Result for a token whose secret matched.
	matched := func(name string, code Code) Result {
		rec := records[tokens[name].ID]
		return Result{Code: code, VersionID: rec.VersionID, TokenName: name, Scopes: rec.Scopes, ExpiresAt: rec.ExpiresAt}
	}
	unknown := mustGenerate(t, seededReader(1))
	current := tokens["current"]
	wrongSecret := assemble(current.ID, unknown.Value[secretStart:checksumStart])
	boom := errors.New("connection reset")

	tests := []struct {
		name     string
		value    string
		required []string
		lookup   Lookup
		want     Result
		wantErr  error
	}{
		{"current", current.Value, []string{"billing:read"}, lookup, matched("current", Valid), nil},
		{"pending", tokens["pending"].Value, []string{"billing:read"}, lookup, matched("pending", Valid), nil},
		{"previous", tokens["previous"].Value, []string{"billing:read"}, lookup, matched("previous", Valid), nil},
		{"no scope required", current.Value, nil, lookup, matched("current", Valid), nil},
		{"several scopes", current.Value, []string{"users:write", "billing:read"}, lookup, matched("current", Valid), nil},
		{"just before expiry", tokens["expires-soon"].Value, nil, lookup, matched("expires-soon", Valid), nil},
		{"wildcard grants action", tokens["wildcard"].Value, []string{"billing:read"}, lookup, matched("wildcard", Valid), nil},
		{"malformed", "tw_nope", nil, lookup, Result{Code: Malformed}, nil},
		{"bad checksum", current.Value[:47] + "000000", nil, lookup, Result{Code: Malformed}, nil},
		{"unknown id", unknown.Value, nil, lookup, Result{Code: NotFound, VersionID: unknown.ID}, nil},
		{"wrong secret for known id", wrongSecret, nil, lookup, Result{Code: NotFound, VersionID: current.ID}, nil},
		{"revoked", tokens["revoked"].Value, nil, lookup, matched("revoked", Revoked), nil},
		{"revoked beats expired", tokens["revoked-old"].Value, nil, lookup, matched("revoked-old", Revoked), nil},
		{"unknown state fails closed", tokens["unknown-state"].Value, nil, lookup, matched("unknown-state", Revoked), nil},
		{"expired exactly at ExpiresAt", tokens["expires-now"].Value, nil, lookup, matched("expires-now", Expired), nil},
		{"expired pending", tokens["pending-old"].Value, nil, lookup, matched("pending-old", Expired), nil},
		{"expired beats scope", tokens["expires-now"].Value, []string{"admin:all"}, lookup, matched("expires-now", Expired), nil},
		{"insufficient scope", current.Value, []string{"billing:write"}, lookup, matched("current", InsufficientScope), nil},
		{"one scope missing", current.Value, []string{"billing:read", "users:read"}, lookup, matched("current", InsufficientScope), nil},
		{"wildcard for other resource", tokens["wildcard"].Value, []string{"users:read"}, lookup, matched("wildcard", InsufficientScope), nil},
		{
			"lookup error", current.Value, nil,
			func(context.Context, string) (*Record, error) { return nil, boom },
			Result{}, boom,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Verify(t.Context(), tt.value, tt.required, now, tt.lookup)
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("Verify error = %v, want %v", err, tt.wantErr)
			}
			if err != nil && len(tt.value) == Length && strings.Contains(err.Error(), tt.value[secretStart:checksumStart]) {
				t.Errorf("Verify error %q contains the secret", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Verify = %+v, want %+v", got, tt.want)
			}
			if got.Valid() != (tt.want.Code == Valid) {
				t.Errorf("Valid() = %v for code %q", got.Valid(), got.Code)
			}
		})
	}
}

func TestVerifyLooksUpParsedID(t *testing.T) {
	t.Parallel()
	m := mustGenerate(t, seededReader(0))
	var asked []string
	lookup := func(_ context.Context, id string) (*Record, error) {
		asked = append(asked, id)
		return nil, nil
	}
	for _, v := range []string{"", m.Value[:47] + "000000", m.Value} {
		if _, err := Verify(t.Context(), v, nil, time.Unix(0, 0), lookup); err != nil {
			t.Fatalf("Verify: %v", err)
		}
	}
	if want := []string{m.ID}; !reflect.DeepEqual(asked, want) {
		t.Errorf("lookup called with %q, want %q (malformed values must not reach the store)", asked, want)
	}
}

func TestEqual(t *testing.T) {
	t.Parallel()
	a := HashSecret("a")
	if !equal(&a, &a) {
		t.Fatal("equal(a, a) = false")
	}
	for i := range len(a) {
		b := a
		b[i] ^= 0x80
		if equal(&a, &b) {
			t.Errorf("equal = true for hashes differing in byte %d", i)
		}
	}
}

func TestGrants(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		granted  []string
		required string
		want     bool
	}{
		{"exact", []string{"billing:read"}, "billing:read", true},
		{"among others", []string{"users:read", "billing:read"}, "billing:read", true},
		{"other action", []string{"billing:read"}, "billing:write", false},
		{"other resource", []string{"users:read"}, "billing:read", false},
		{"wildcard", []string{"billing:*"}, "billing:read", true},
		{"wildcard for other resource", []string{"users:*"}, "billing:read", false},
		{"wildcard for resource prefix", []string{"bill:*"}, "billing:read", false},
		{"wildcard for longer resource", []string{"billing:*"}, "billingx:read", false},
		{"wildcard required, wildcard granted", []string{"billing:*"}, "billing:*", true},
		{"wildcard required, action granted", []string{"billing:read"}, "billing:*", false},
		{"case-sensitive action", []string{"billing:read"}, "billing:Read", false},
		{"case-sensitive resource", []string{"Billing:*"}, "billing:read", false},
		{"bare star grants nothing", []string{"*"}, "billing:read", false},
		{"star resource is not a wildcard", []string{"*:read"}, "billing:read", false},
		{"wildcard does not grant empty action", []string{"billing:*"}, "billing:", false},
		{"wildcard does not grant bare resource", []string{"billing:*"}, "billing", false},
		{"nested resource wildcard", []string{"org:billing:*"}, "org:billing:read", true},
		{"outer wildcard does not reach nested", []string{"org:*"}, "org:billing:read", false},
		{"nothing granted", nil, "billing:read", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := Grants(tt.granted, tt.required); got != tt.want {
				t.Errorf("Grants(%q, %q) = %v, want %v", tt.granted, tt.required, got, tt.want)
			}
		})
	}
}
