package token

import "hash/crc32"

// This file holds the checksum and alphabet code on Parse's hot path.
// hash/crc32 computes the same CRC (Generate uses it, and the tests check the
// two agree), but its IEEE functions take a []byte that escapes, so
// checksumming part of a string there costs an allocation and a copy.

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

// prefixCRC is crc32.ChecksumIEEE([]byte(Prefix)); the checksum of a token
// continues from it.
const prefixCRC = 0x3713baca

// crcTables are the slicing-by-8 tables for CRC-32 (IEEE): crcTables[k][b] is
// the register contribution of byte b followed by k zero bytes. They are
// computed from crc32.IEEETable once, at package initialization, and only
// read after that.
var crcTables = func() *[8][256]uint32 {
	var t [8][256]uint32
	t[0] = *crc32.IEEETable
	for b := range 256 {
		crc := t[0][b]
		for k := 1; k < 8; k++ {
			crc = t[0][byte(crc)] ^ crc>>8
			t[k][b] = crc
		}
	}
	return &t
}()

// scanBody returns the CRC-32 (IEEE) of Prefix followed by body, and whether
// every byte of body is a base62 digit. body is the id and secret of a token.
// Both results come from one pass, eight bytes at a time.
func scanBody(body string) (crc uint32, ok bool) {
	s := body[:IDLength+SecretLength]
	t := crcTables
	crc = ^uint32(prefixCRC)
	var bad byte
	for len(s) >= 8 {
		bad |= base62Values[s[0]] | base62Values[s[1]] | base62Values[s[2]] | base62Values[s[3]] |
			base62Values[s[4]] | base62Values[s[5]] | base62Values[s[6]] | base62Values[s[7]]
		crc ^= uint32(s[0]) | uint32(s[1])<<8 | uint32(s[2])<<16 | uint32(s[3])<<24
		// Bracketed as a tree so the terms that wait on the previous step are
		// not queued behind a left-to-right chain of XORs.
		crc = (t[7][byte(crc)] ^ t[6][byte(crc>>8)]) ^ (t[5][byte(crc>>16)] ^ t[4][byte(crc>>24)]) ^
			((t[3][s[4]] ^ t[2][s[5]]) ^ (t[1][s[6]] ^ t[0][s[7]]))
		s = s[8:]
	}
	// IDLength+SecretLength is 44, so four bytes are left.
	bad |= base62Values[s[0]] | base62Values[s[1]] | base62Values[s[2]] | base62Values[s[3]]
	crc ^= uint32(s[0]) | uint32(s[1])<<8 | uint32(s[2])<<16 | uint32(s[3])<<24
	crc = (t[3][byte(crc)] ^ t[2][byte(crc>>8)]) ^ (t[1][byte(crc>>16)] ^ t[0][byte(crc>>24)])
	return ^crc, bad&0x80 == 0
}

// decodeChecksum returns the value of the fixed-width base62 checksum s, and
// whether every byte of s is a base62 digit.
func decodeChecksum(s string) (uint64, bool) {
	var sum uint64
	var bad byte
	for i := range ChecksumLength {
		d := base62Values[s[i]]
		bad |= d
		sum = sum*62 + uint64(d)
	}
	return sum, bad&0x80 == 0
}

// putChecksum writes crc to dst as a fixed-width base62 number, most
// significant digit first.
func putChecksum(dst []byte, crc uint32) {
	for i := ChecksumLength - 1; i >= 0; i-- {
		dst[i] = alphabet[crc%62]
		crc /= 62
	}
}
