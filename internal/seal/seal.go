// Package seal encrypts tokenward's secrets at rest with envelope encryption
// under a keyring of master keys.
//
// Every sealed value gets its own random 256-bit data key. The value is
// encrypted with AES-256-GCM under the data key, and the data key is wrapped
// with AES-256-GCM under the keyring's primary master key. The caller's record
// identity (for example "token_version/abc123") is bound as associated data to
// both layers, so a sealed value copied to another record does not open.
//
// Guarantees: Open returns the original plaintext or an error, never other
// bytes; a wrong key, any modified, truncated or extended blob, or a blob moved
// to another record yields an error wrapping ErrOpen or ErrUnknownKey. Errors
// never contain key material or plaintext; they may name a key id, which is
// derived from the key by a one-way hash and is not secret.
//
// Each master key also yields, by HKDF under its own label, the Ed25519 key
// that signs the audit log's checkpoints (SigningKey, PublicKeys); a signing
// key is named by an id hashed from its public key.
//
// We use the standard library's AES-GCM rather than a library such as Tink:
// the surface we need is small, it adds no dependency to audit, and the whole
// envelope is about a hundred lines that can be read in one sitting.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// KeySize is the length in bytes of master keys and data keys (AES-256).
const KeySize = 32

// Sentinel errors; callers test for them with errors.Is.
var (
	// ErrNoKey means no master key is configured.
	ErrNoKey = errors.New("no master key configured")
	// ErrUnknownKey means the value was sealed under a key id the keyring does not hold.
	ErrUnknownKey = errors.New("unknown master key id")
	// ErrOpen means authentication failed: wrong key, a tampered or malformed
	// blob, or a blob sealed for another record.
	ErrOpen = errors.New("authentication failed")
)

// Sealed blob format, version 1:
//
//	version  1 byte, always 1
//	idLen    1 byte, length of the key id
//	keyID    idLen bytes, id of the master key that wrapped the data key
//	wrapped  12-byte nonce || 32-byte data key ciphertext || 16-byte tag
//	data     12-byte nonce || plaintext ciphertext || 16-byte tag
//
// The wrap's associated data is wrapPrefix || version || idLen || keyID || aad,
// so the header cannot be altered without failing authentication. The data's
// associated data is dataPrefix || aad and leaves out the key id, which lets Rewrap
// replace the wrap without re-encrypting the data.
const (
	version     = 1
	nonceSize   = 12
	tagSize     = 16
	wrappedSize = nonceSize + KeySize + tagSize
	wrapPrefix  = "tokenward/seal/v1/wrap\x00"
	dataPrefix  = "tokenward/seal/v1/data\x00"
	keyIDPrefix = "tokenward key id\x00"
)

// Key is one master key. Its ID is derived from the material, so ids need no
// configuration and reveal nothing about the key.
type Key struct {
	ID       string
	material []byte
}

// NewKey returns the master key with the given 32 bytes of material.
func NewKey(material []byte) (Key, error) {
	if len(material) != KeySize {
		return Key{}, fmt.Errorf("new key: must be %d bytes, got %d", KeySize, len(material))
	}
	h := sha256.New()
	h.Write([]byte(keyIDPrefix))
	h.Write(material)
	return Key{ID: hex.EncodeToString(h.Sum(nil)[:8]), material: append([]byte(nil), material...)}, nil
}

// ParseKey returns the master key encoded as base64 (standard or URL alphabet,
// padded or not) of 32 bytes.
func ParseKey(b64 string) (Key, error) {
	encodings := []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding}
	for _, enc := range encodings {
		b, err := enc.DecodeString(strings.TrimSpace(b64))
		if err == nil && len(b) == KeySize {
			defer clear(b)
			return NewKey(b)
		}
		clear(b)
	}
	// The input is never echoed: it may be a key with a typo.
	return Key{}, errors.New("parse key: must be base64 of 32 bytes")
}

// Format prints only the key id, so a key passed to a logger or fmt by mistake
// does not leak its material.
func (k Key) Format(f fmt.State, _ rune) { fmt.Fprintf(f, "seal.Key(%s)", k.ID) }

// Keyring holds a primary key, which seals, and older keys, which still open.
// It is immutable and safe for concurrent use.
type Keyring struct {
	primary Key
	keys    map[string]Key
	ids     []string
}

// NewKeyring returns a keyring that seals with primary and opens values sealed
// under primary or any of older.
func NewKeyring(primary Key, older ...Key) *Keyring {
	k := &Keyring{primary: primary, keys: make(map[string]Key)}
	for _, key := range append([]Key{primary}, older...) {
		if _, dup := k.keys[key.ID]; dup || len(key.material) != KeySize {
			continue
		}
		k.keys[key.ID] = key
		k.ids = append(k.ids, key.ID)
	}
	if len(primary.material) != KeySize {
		k.primary = Key{} // Seal reports ErrNoKey
	}
	return k
}

// PrimaryID returns the id of the key that Seal uses.
func (k *Keyring) PrimaryID() string { return k.primary.ID }

// IDs returns the ids of all keys in the keyring, primary first.
func (k *Keyring) IDs() []string { return append([]string(nil), k.ids...) }

// Format prints only the key ids; see Key.Format.
func (k *Keyring) Format(f fmt.State, _ rune) { fmt.Fprintf(f, "seal.Keyring%v", k.ids) }

// Seal encrypts plaintext for the record named by aad, such as
// "token_version/abc123"; only Open with the same aad recovers it.
func (k *Keyring) Seal(plaintext []byte, aad string) ([]byte, error) {
	if k == nil || k.primary.material == nil {
		return nil, fmt.Errorf("seal: %w", ErrNoKey)
	}
	dk := make([]byte, KeySize)
	defer clear(dk)
	rand.Read(dk) // never fails since Go 1.24
	data, err := newAEAD(dk)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	hdr := header(k.primary.ID)
	out := make([]byte, 0, len(hdr)+wrappedSize+nonceSize+len(plaintext)+tagSize)
	out = append(out, hdr...)
	if out, err = wrap(out, k.primary, dk, hdr, aad); err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	return data.Seal(out, nil, plaintext, []byte(dataPrefix+aad)), nil
}

// Open decrypts a value sealed for the record named by aad. Failed
// authentication returns an error wrapping ErrOpen; a key id missing from the
// keyring returns an error wrapping ErrUnknownKey that names the id.
func (k *Keyring) Open(sealed []byte, aad string) ([]byte, error) {
	b, err := parse(sealed)
	if err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}
	dk, err := k.unwrap(b, aad)
	if err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}
	defer clear(dk)
	data, err := newAEAD(dk)
	if err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}
	plaintext, err := data.Open(nil, nil, b.data, []byte(dataPrefix+aad))
	if err != nil {
		return nil, fmt.Errorf("open: %w", ErrOpen)
	}
	return plaintext, nil
}

// Rewrap re-wraps the data key of a sealed value under the primary key,
// leaving the data ciphertext untouched, after authenticating the wrapped key
// against aad. It returns sealed itself and changed=false when the value is
// already under the primary key.
func (k *Keyring) Rewrap(sealed []byte, aad string) (out []byte, changed bool, err error) {
	if k == nil || k.primary.material == nil {
		return nil, false, fmt.Errorf("rewrap: %w", ErrNoKey)
	}
	b, err := parse(sealed)
	if err != nil {
		return nil, false, fmt.Errorf("rewrap: %w", err)
	}
	dk, err := k.unwrap(b, aad)
	if err != nil {
		return nil, false, fmt.Errorf("rewrap: %w", err)
	}
	defer clear(dk)
	if b.keyID == k.primary.ID {
		return sealed, false, nil
	}
	hdr := header(k.primary.ID)
	out = make([]byte, 0, len(hdr)+wrappedSize+len(b.data))
	out = append(out, hdr...)
	if out, err = wrap(out, k.primary, dk, hdr, aad); err != nil {
		return nil, false, fmt.Errorf("rewrap: %w", err)
	}
	return append(out, b.data...), true, nil
}

// KeyID returns the id of the master key a sealed value is wrapped with.
func KeyID(sealed []byte) (string, error) {
	b, err := parse(sealed)
	if err != nil {
		return "", fmt.Errorf("key id: %w", err)
	}
	return b.keyID, nil
}

// blob is a parsed sealed value; its slices alias the input.
type blob struct {
	hdr, wrapped, data []byte
	keyID              string
}

func parse(sealed []byte) (blob, error) {
	if len(sealed) < 2 {
		return blob{}, fmt.Errorf("sealed value too short: %w", ErrOpen)
	}
	if sealed[0] != version {
		return blob{}, fmt.Errorf("sealed value version %d not supported: %w", sealed[0], ErrOpen)
	}
	n := 2 + int(sealed[1])
	if sealed[1] == 0 || len(sealed) < n+wrappedSize+nonceSize+tagSize {
		return blob{}, fmt.Errorf("sealed value too short: %w", ErrOpen)
	}
	return blob{
		hdr:     sealed[:n],
		keyID:   string(sealed[2:n]),
		wrapped: sealed[n : n+wrappedSize],
		data:    sealed[n+wrappedSize:],
	}, nil
}

func header(keyID string) []byte {
	return append([]byte{version, byte(len(keyID))}, keyID...)
}

// wrap appends the data key dk, encrypted under master, to dst.
func wrap(dst []byte, master Key, dk, hdr []byte, aad string) ([]byte, error) {
	a, err := newAEAD(master.material)
	if err != nil {
		return nil, err
	}
	return a.Seal(dst, nil, dk, wrapAD(hdr, aad)), nil
}

// unwrap authenticates and decrypts the data key of b with the master key it names.
func (k *Keyring) unwrap(b blob, aad string) ([]byte, error) {
	var master Key
	if k != nil {
		master = k.keys[b.keyID]
	}
	if master.material == nil {
		return nil, fmt.Errorf("key %q: %w", b.keyID, ErrUnknownKey)
	}
	a, err := newAEAD(master.material)
	if err != nil {
		return nil, err
	}
	dk, err := a.Open(nil, nil, b.wrapped, wrapAD(b.hdr, aad))
	if err != nil {
		return nil, ErrOpen
	}
	return dk, nil
}

func wrapAD(hdr []byte, aad string) []byte {
	return append(append([]byte(wrapPrefix), hdr...), aad...)
}

// newAEAD returns AES-256-GCM with a random 12-byte nonce prepended to each
// ciphertext. Random nonces limit a master key to 2^32 wraps, far beyond
// tokenward's volume; each data key encrypts exactly one value.
func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCMWithRandomNonce(block)
}
