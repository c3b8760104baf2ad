package seal

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestSigningKey(t *testing.T) {
	t.Parallel()
	a, b := testKey(t, 1), testKey(t, 2)
	sa, err := NewKeyring(a).SigningKey()
	if err != nil {
		t.Fatal(err)
	}
	again, err := NewKeyring(a, b).SigningKey()
	if err != nil {
		t.Fatal(err)
	}
	sb, err := NewKeyring(b, a).SigningKey()
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case !bytes.Equal(sa.Public().Key, again.Public().Key) || sa.ID() != again.ID():
		t.Fatal("the same master key derives different signing keys")
	case bytes.Equal(sa.Public().Key, sb.Public().Key) || sa.ID() == sb.ID():
		t.Fatal("two master keys derive the same signing key")
	case sa.ID() == a.ID:
		t.Fatal("the signing key's id is the master key's id")
	case sa.ID() != SigningKeyID(sa.Public().Key) || len(sa.ID()) != 16:
		t.Fatalf("id %q is not the 16 hex digits of its public key's hash", sa.ID())
	case bytes.Contains(sa.Public().Key, testMaterial(1)[:8]):
		t.Fatal("the public key shows the master key")
	}
	msg := []byte("checkpoint")
	if !ed25519.Verify(sa.Public().Key, msg, sa.Sign(msg)) || ed25519.Verify(sb.Public().Key, msg, sa.Sign(msg)) {
		t.Fatal("signatures verify under the wrong key or not under the right one")
	}
	if s := fmt.Sprintf("%v %+v %s", sa, sa, sa); strings.Contains(s, base64.StdEncoding.EncodeToString(sa.priv.Seed())) || !strings.Contains(s, sa.ID()) {
		t.Fatalf("formatted signing key %q shows its seed or lacks its id", s)
	}
	if _, err := NewKeyring(Key{}).SigningKey(); !errors.Is(err, ErrNoKey) {
		t.Fatalf("signing key of an empty keyring: %v, want ErrNoKey", err)
	}
	pubs, err := NewKeyring(b, a).PublicKeys()
	if err != nil || len(pubs) != 2 || pubs[0].ID != sb.ID() || pubs[1].ID != sa.ID() {
		t.Fatalf("public keys = %v, %v; want b's then a's", pubs, err)
	}
}

func TestParsePublicKey(t *testing.T) {
	t.Parallel()
	sa, err := NewKeyring(testKey(t, 1)).SigningKey()
	if err != nil {
		t.Fatal(err)
	}
	sb, err := NewKeyring(testKey(t, 2)).SigningKey()
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParsePublicKeys(" " + sa.Public().String() + ",\n" + sb.Public().String() + "\n")
	if err != nil || len(got) != 2 || got[0].ID != sa.ID() || !bytes.Equal(got[1].Key, sb.Public().Key) {
		t.Fatalf("ParsePublicKeys = %v, %v", got, err)
	}
	if got, err := ParsePublicKeys(""); err != nil || len(got) != 0 {
		t.Fatalf("no keys: %v, %v", got, err)
	}
	b64 := base64.StdEncoding.EncodeToString(sa.Public().Key)
	for _, tc := range []struct{ in, want string }{
		{b64, "write ID:BASE64"},
		{sa.ID() + ":not-base64", "base64 of 32 bytes"},
		{sa.ID() + ":" + base64.StdEncoding.EncodeToString([]byte("short")), "base64 of 32 bytes"},
		{sb.ID() + ":" + b64, "that key's id is " + sa.ID()},
	} {
		if _, err := ParsePublicKey(tc.in); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParsePublicKey(%q) = %v, want an error saying %q", tc.in, err, tc.want)
		}
	}
}
