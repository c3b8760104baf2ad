// Package sealtest gives tests throwaway master keys: random, new at each
// call, never written anywhere but where the test puts them. Only tests
// import it.
package sealtest

import (
	"crypto/rand"
	"encoding/base64"
	"testing"

	"github.com/tokenward/terraform-provider-tokenward/internal/seal"
)

// Bytes returns the seal.KeySize random bytes of a new master key.
func Bytes(t testing.TB) []byte {
	t.Helper()
	b := make([]byte, seal.KeySize)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// Key returns a new master key.
func Key(t testing.TB) seal.Key {
	t.Helper()
	k, err := seal.NewKey(Bytes(t))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// Encoded returns a new master key as seal.EnvKey (TOKENWARD_MASTER_KEY)
// takes it: base64 of its bytes.
func Encoded(t testing.TB) string {
	t.Helper()
	return base64.StdEncoding.EncodeToString(Bytes(t))
}
