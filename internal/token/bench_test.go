package token

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"testing"
	"time"
)

// BenchmarkSHA256 is the yardstick for BenchmarkVerify: hashing the secret is
// the one cost Verify cannot avoid, and Verify should stay within twice it.
func BenchmarkSHA256(b *testing.B) {
	m, err := Generate(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	secret := []byte(m.Value[secretStart:checksumStart])
	var sum [32]byte
	for b.Loop() {
		sum = sha256.Sum256(secret)
	}
	if sum != m.Hash {
		b.Fatal("hash mismatch")
	}
}

// BenchmarkVerify verifies a valid token against an in-memory store with one
// required scope.
func BenchmarkVerify(b *testing.B) {
	m, err := Generate(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	records := map[string]*Record{m.ID: {
		VersionID: m.ID,
		TokenName: "ci",
		Hash:      m.Hash,
		State:     StateCurrent,
		ExpiresAt: now.Add(time.Hour),
		Scopes:    []string{"billing:read"},
	}}
	lookup := func(_ context.Context, id string) (*Record, error) {
		return records[id], nil
	}
	ctx := context.Background()
	required := []string{"billing:read"}
	var res Result
	for b.Loop() {
		res, err = Verify(ctx, m.Value, required, now, lookup)
	}
	if err != nil || !res.Valid() {
		b.Fatalf("Verify = %+v, %v; want valid", res, err)
	}
}

func BenchmarkParse(b *testing.B) {
	m, err := Generate(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	var p Parsed
	for b.Loop() {
		p, err = Parse(m.Value)
	}
	if err != nil || p.ID != m.ID {
		b.Fatalf("Parse = %+v, %v", p, err)
	}
}

func BenchmarkGenerate(b *testing.B) {
	var err error
	for b.Loop() {
		_, err = Generate(rand.Reader)
	}
	if err != nil {
		b.Fatal(err)
	}
}
