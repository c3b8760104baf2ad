// Package token defines tokenward API tokens: their wire format, generation,
// checksum, hashing, display fingerprint and verification against a store.
//
// A token is Prefix followed by a 12-character base62 version id, a
// 32-character base62 secret and a 6-character base62 CRC-32 (IEEE) of
// everything before it, so secret scanners can match tw_[0-9A-Za-z]{50} and
// typos are rejected without a store lookup.
//
// The package guarantees that:
//   - generated ids and secrets are drawn uniformly from the given reader;
//   - Parse checks length, prefix, alphabet and checksum before returning
//     any part of a token, and its errors never contain the input;
//   - Fingerprint never reveals any character of the secret;
//   - Verify compares secret hashes in constant time and reports a wrong
//     secret exactly like an unknown id;
//   - Parse and Verify do not allocate when the token is valid.
//
// The package does no I/O; the store is reached through a caller-supplied
// Lookup.
package token

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// The wire format: the prefix and the length of each part, in bytes.
const (
	Prefix         = "tw_"
	IDLength       = 12
	SecretLength   = 32
	ChecksumLength = 6
	Length         = len(Prefix) + IDLength + SecretLength + ChecksumLength
)

// Offsets of the parts within a token.
const (
	idStart       = len(Prefix)
	secretStart   = idStart + IDLength
	checksumStart = secretStart + SecretLength
)

// alphabet holds the base62 digits in value order.
const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// ErrMalformed is wrapped by every error Parse returns.
var ErrMalformed = errors.New("malformed token")

// Minted is a freshly generated token. Value is the only place the plaintext
// exists.
type Minted struct {
	ID          string   // the 12-char version id
	Value       string   // full wire value; callers hand it out once and drop it
	Hash        [32]byte // SHA-256 of the secret part
	Fingerprint string   // display form, see Fingerprint
}

// Generate mints a new token with randomness from r, which is normally
// crypto/rand.Reader.
func Generate(r io.Reader) (Minted, error) {
	var buf [Length]byte
	copy(buf[:], Prefix)
	if err := fillBase62(r, buf[idStart:checksumStart]); err != nil {
		return Minted{}, fmt.Errorf("generate token: %w", err)
	}
	putChecksum(buf[checksumStart:], crc32.ChecksumIEEE(buf[:checksumStart]))
	value := string(buf[:])
	return Minted{
		ID:          value[idStart:secretStart],
		Value:       value,
		Hash:        HashSecret(value[secretStart:checksumStart]),
		Fingerprint: Fingerprint(value),
	}, nil
}

// NewID returns a random 12-character base62 id read from r.
func NewID(r io.Reader) (string, error) {
	var buf [IDLength]byte
	if err := fillBase62(r, buf[:]); err != nil {
		return "", fmt.Errorf("generate id: %w", err)
	}
	return string(buf[:]), nil
}

// maxReads bounds how many chunks fillBase62 reads, so a broken reader that
// only yields rejected bytes fails instead of looping forever. With a
// uniform source 62 of 64 bytes are accepted, so one chunk almost always
// suffices.
const maxReads = 16

// fillBase62 fills dst with base62 digits drawn uniformly from r. Each byte
// is masked to 6 bits and values 62 and 63 are rejected, so every digit is
// equally likely.
func fillBase62(r io.Reader, dst []byte) error {
	var chunk [64]byte
	n := 0
	for range maxReads {
		if _, err := io.ReadFull(r, chunk[:]); err != nil {
			return fmt.Errorf("read random bytes: %w", err)
		}
		for _, b := range chunk {
			if b &= 63; b < 62 {
				dst[n] = alphabet[b]
				if n++; n == len(dst) {
					return nil
				}
			}
		}
	}
	return errors.New("read random bytes: source is not uniform")
}

// Parsed is a token whose format and checksum are valid.
type Parsed struct {
	ID     string
	Secret string
}

// Parse checks the length, prefix, alphabet and checksum of s, in that order,
// and splits it into id and secret. Errors wrap ErrMalformed and never
// contain s.
func Parse(s string) (Parsed, error) {
	if len(s) != Length {
		return Parsed{}, fmt.Errorf("parse token: length %d, want %d: %w", len(s), Length, ErrMalformed)
	}
	if s[:idStart] != Prefix {
		return Parsed{}, fmt.Errorf("parse token: wrong prefix: %w", ErrMalformed)
	}
	crc, bodyOK := scanBody(s[idStart:checksumStart])
	sum, sumOK := decodeChecksum(s[checksumStart:])
	if !bodyOK || !sumOK {
		return Parsed{}, fmt.Errorf("parse token: invalid character: %w", ErrMalformed)
	}
	if sum != uint64(crc) {
		return Parsed{}, fmt.Errorf("parse token: checksum mismatch: %w", ErrMalformed)
	}
	return Parsed{ID: s[idStart:secretStart], Secret: s[secretStart:checksumStart]}, nil
}

// HashSecret returns the SHA-256 of secret, the form in which stores keep it.
func HashSecret(secret string) [32]byte {
	return sha256.Sum256([]byte(secret))
}

// Fingerprint returns the display form of a token: Prefix, the id, an
// ellipsis and the last four (checksum) characters. A malformed value
// yields Prefix and an ellipsis only.
func Fingerprint(value string) string {
	p, err := Parse(value)
	if err != nil {
		return Prefix + "…"
	}
	return FingerprintOf(p.ID, value[Length-4:])
}

// FingerprintOf returns the display form of a token from its id and the last
// four characters of its value, for callers that keep only those.
func FingerprintOf(id, lastFour string) string {
	return Prefix + id + "…" + lastFour
}
