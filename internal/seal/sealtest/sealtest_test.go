package sealtest_test

import (
	"testing"

	"github.com/tokenward/terraform-provider-tokenward/internal/seal"
	"github.com/tokenward/terraform-provider-tokenward/internal/seal/sealtest"
)

// TestKeysAreNewAndUsable: each call gives another key, and an encoded key
// is one seal.FromEnv reads.
func TestKeysAreNewAndUsable(t *testing.T) {
	t.Parallel()
	a, b := sealtest.Encoded(t), sealtest.Encoded(t)
	if a == b {
		t.Fatal("two calls gave the same key")
	}
	keys, err := seal.FromEnv(func(k string) string {
		if k == seal.EnvKey {
			return a + "," + b
		}
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(keys.IDs()); n != 2 {
		t.Fatalf("FromEnv read %d keys, want 2", n)
	}
	x, y := sealtest.Key(t), sealtest.Key(t)
	if seal.NewKeyring(x).PrimaryID() == seal.NewKeyring(y).PrimaryID() {
		t.Fatal("two calls of Key gave the same key")
	}
	if n := len(sealtest.Bytes(t)); n != seal.KeySize {
		t.Fatalf("Bytes gave %d bytes, want %d", n, seal.KeySize)
	}
}
