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
//     secret exactly like an unknown id.
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

// Sizes of the parts of a token, in characters.
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

// putChecksum writes crc to dst as a fixed-width base62 number, most
// significant digit first.
func putChecksum(dst []byte, crc uint32) {
	for i := ChecksumLength - 1; i >= 0; i-- {
		dst[i] = alphabet[crc%62]
		crc /= 62
	}
}

// Parsed is a token whose format and checksum are valid.
type Parsed struct {
	ID     string
	Secret string
}

// Parse checks that s is a well-formed token with a correct checksum and
// splits it into id and secret. Errors wrap ErrMalformed and never contain s.
func Parse(s string) (Parsed, error) {
	if len(s) != Length {
		return Parsed{}, fmt.Errorf("parse token: length %d, want %d: %w", len(s), Length, ErrMalformed)
	}
	if s[:idStart] != Prefix {
		return Parsed{}, fmt.Errorf("parse token: wrong prefix: %w", ErrMalformed)
	}
	crc, ok := scanBody(s[idStart:checksumStart])
	var sum uint64
	var bad byte
	for i := checksumStart; i < Length; i++ {
		d := base62Values[s[i]]
		bad |= d
		sum = sum*62 + uint64(d)
	}
	if !ok || bad&0x80 != 0 {
		return Parsed{}, fmt.Errorf("parse token: invalid character: %w", ErrMalformed)
	}
	if sum != uint64(crc) {
		return Parsed{}, fmt.Errorf("parse token: checksum mismatch: %w", ErrMalformed)
	}
	return Parsed{ID: s[idStart:secretStart], Secret: s[secretStart:checksumStart]}, nil
}

// base62Values maps each byte to its base62 value, or to 0xFF if it is not
// a base62 digit. A constant string is the only read-only table Go has.
const base62Values = "" +
	"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff" +
	"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff" +
	"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff" +
	"\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\xff\xff\xff\xff\xff\xff" +
	"\xff\x0a\x0b\x0c\x0d\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18" +
	"\x19\x1a\x1b\x1c\x1d\x1e\x1f\x20\x21\x22\x23\xff\xff\xff\xff\xff" +
	"\xff\x24\x25\x26\x27\x28\x29\x2a\x2b\x2c\x2d\x2e\x2f\x30\x31\x32" +
	"\x33\x34\x35\x36\x37\x38\x39\x3a\x3b\x3c\x3d\xff\xff\xff\xff\xff" +
	"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff" +
	"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff" +
	"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff" +
	"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff" +
	"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff" +
	"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff" +
	"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff" +
	"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"

// isBase62 reports whether every byte of s is a base62 digit. It looks up
// eight bytes at a time and branches once per eight, which keeps Parse cheap.
func isBase62(s string) bool {
	var bad byte
	for len(s) >= 8 {
		bad |= base62Values[s[0]] | base62Values[s[1]] | base62Values[s[2]] | base62Values[s[3]] |
			base62Values[s[4]] | base62Values[s[5]] | base62Values[s[6]] | base62Values[s[7]]
		s = s[8:]
	}
	for i := 0; i < len(s); i++ {
		bad |= base62Values[s[i]]
	}
	return bad&0x80 == 0
}

// digit returns the base62 value of c, or -1 if c is not a base62 digit.
func digit(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'A' <= c && c <= 'Z':
		return int(c-'A') + 10
	case 'a' <= c && c <= 'z':
		return int(c-'a') + 36
	}
	return -1
}

// HashSecret returns the SHA-256 of the secret, the form a store keeps.
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

var ieee8 = func() *[8][256]uint32 {
	var t [8][256]uint32
	t[0] = *crc32.IEEETable
	for i := range 256 {
		crc := t[0][i]
		for j := 1; j < 8; j++ {
			crc = t[0][crc&0xFF] ^ (crc >> 8)
			t[j][i] = crc
		}
	}
	return &t
}()

// prefixCRC is the CRC-32 state after Prefix
const prefixCRC = 0x3713baca

func scanBody(s string) (uint32, bool) {
	_ = s[IDLength+SecretLength-1]
	tab := ieee8
	v := base62Values
	crc := ^uint32(prefixCRC)
	var bad byte
	for len(s) >= 8 {
		w := uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
			uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
		bad |= v[byte(w)] | v[byte(w>>8)] | v[byte(w>>16)] | v[byte(w>>24)] |
			v[byte(w>>32)] | v[byte(w>>40)] | v[byte(w>>48)] | v[byte(w>>56)]
		crc ^= uint32(w)
		crc = tab[0][byte(w>>56)] ^ tab[1][byte(w>>48)] ^ tab[2][byte(w>>40)] ^ tab[3][byte(w>>32)] ^
			tab[4][byte(crc>>24)] ^ tab[5][byte(crc>>16)] ^ tab[6][byte(crc>>8)] ^ tab[7][byte(crc)]
		s = s[8:]
	}
	w := uint32(s[0]) | uint32(s[1])<<8 | uint32(s[2])<<16 | uint32(s[3])<<24
	bad |= v[byte(w)] | v[byte(w>>8)] | v[byte(w>>16)] | v[byte(w>>24)]
	crc ^= w
	crc = tab[0][byte(crc>>24)] ^ tab[1][byte(crc>>16)] ^ tab[2][byte(crc>>8)] ^ tab[3][byte(crc)]
	return ^crc, bad&0x80 == 0
}
