package seal

import (
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Each master key also yields an Ed25519 key that signs the audit log's
// checkpoints. It is derived with HKDF-SHA256 under its own label, so it
// shares nothing usable with the sealing keys, and it is named by an id
// hashed from its public key, so a verifier can check an id against its key
// and a rekey (a new primary master key) starts a new signing key whose id
// differs while checkpoints signed before still verify with the old public
// key.
const (
	signingLabel    = "tokenward/audit/checkpoint-signing-key/v1"
	signingIDPrefix = "tokenward audit signing key id\x00"
)

// SigningKey signs audit checkpoints. It never shows its private half.
type SigningKey struct {
	pub  PublicKey
	priv ed25519.PrivateKey
}

// PublicKey is the public half of a signing key and its id. Its String form,
// ID:BASE64, is what tokenward audit pubkey prints and ParsePublicKey reads.
type PublicKey struct {
	ID  string
	Key ed25519.PublicKey
}

func (p PublicKey) String() string { return p.ID + ":" + base64.StdEncoding.EncodeToString(p.Key) }

// signingKey derives the signing key of master key k.
func (k Key) signingKey() (SigningKey, error) {
	seed, err := hkdf.Key(sha256.New, k.material, nil, signingLabel, ed25519.SeedSize)
	if err != nil {
		return SigningKey{}, fmt.Errorf("derive the audit signing key of key %s: %w", k.ID, err)
	}
	defer clear(seed)
	priv := ed25519.NewKeyFromSeed(seed)
	pub := priv.Public().(ed25519.PublicKey)
	return SigningKey{pub: PublicKey{ID: SigningKeyID(pub), Key: pub}, priv: priv}, nil
}

// SigningKeyID returns the id of an audit signing key: 16 hex digits of a
// hash of its public key.
func SigningKeyID(pub ed25519.PublicKey) string {
	h := sha256.New()
	h.Write([]byte(signingIDPrefix))
	h.Write(pub)
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// ID returns the key's id.
func (s SigningKey) ID() string { return s.pub.ID }

// Public returns the key's public half.
func (s SigningKey) Public() PublicKey { return s.pub }

// Sign signs msg.
func (s SigningKey) Sign(msg []byte) []byte { return ed25519.Sign(s.priv, msg) }

// Format prints only the key id; see Key.Format.
func (s SigningKey) Format(f fmt.State, _ rune) { fmt.Fprintf(f, "seal.SigningKey(%s)", s.pub.ID) }

// SigningKey returns the signing key of the primary master key.
func (k *Keyring) SigningKey() (SigningKey, error) {
	if k == nil || k.primary.material == nil {
		return SigningKey{}, fmt.Errorf("audit signing key: %w", ErrNoKey)
	}
	return k.primary.signingKey()
}

// PublicKeys returns the public signing keys of every master key in the
// keyring, primary first.
func (k *Keyring) PublicKeys() ([]PublicKey, error) {
	if k == nil {
		return nil, fmt.Errorf("audit public keys: %w", ErrNoKey)
	}
	out := make([]PublicKey, 0, len(k.ids))
	for _, id := range k.ids {
		s, err := k.keys[id].signingKey()
		if err != nil {
			return nil, err
		}
		out = append(out, s.pub)
	}
	return out, nil
}

// ParsePublicKey reads a public signing key as ID:BASE64, and refuses one
// whose id does not belong to its key, which catches a key pasted with the
// wrong id.
func ParsePublicKey(s string) (PublicKey, error) {
	id, b64, ok := strings.Cut(strings.TrimSpace(s), ":")
	if !ok || id == "" {
		return PublicKey{}, errors.New("parse audit public key: write ID:BASE64, one line of what tokenward audit pubkey prints")
	}
	pub, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return PublicKey{}, fmt.Errorf("parse audit public key %s: the part after the colon must be base64 of %d bytes, as tokenward audit pubkey prints it", id, ed25519.PublicKeySize)
	}
	if got := SigningKeyID(pub); got != id {
		return PublicKey{}, fmt.Errorf("parse audit public key %s: that key's id is %s: copy the whole line tokenward audit pubkey prints", id, got)
	}
	return PublicKey{ID: id, Key: pub}, nil
}

// ParsePublicKeys reads public signing keys separated by commas or
// whitespace, as TOKENWARD_AUDIT_PUBKEY holds them.
func ParsePublicKeys(s string) ([]PublicKey, error) {
	var out []PublicKey
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\t' || r == '\r' }) {
		p, err := ParsePublicKey(f)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}
