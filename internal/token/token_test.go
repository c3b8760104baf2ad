package token

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	mrand "math/rand/v2"
	"regexp"
	"strings"
	"testing"
	"testing/iotest"
)

// goldenSHA256 is the SHA-256 of the token Generate makes from
// seededReader(0). It pins the wire format and the sampling: a change here
// breaks every issued token. Only the hash is committed, so no token-shaped
// value sits in the repository for secret scanners to find.
const goldenSHA256 = "23d1185a697f55fbd6afba9a7fd749f86408c4c4cbcdf719e622340c295da4f6"

// goldenValue is that token, made at test time.
var goldenValue = func() string {
	m, err := Generate(seededReader(0))
	if err != nil {
		panic(err)
	}
	return m.Value
}()

var wireFormat = regexp.MustCompile(`^tw_[0-9A-Za-z]{50}$`)

// seededReader returns a deterministic, uniform random source.
func seededReader(seed byte) io.Reader {
	return mrand.NewChaCha8([32]byte{seed})
}

// constReader yields the same byte forever.
type constReader byte

func (c constReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(c)
	}
	return len(p), nil
}

// assemble builds a token with a correct checksum from its parts.
func assemble(id, secret string) string {
	var sum [ChecksumLength]byte
	putChecksum(sum[:], crc32.ChecksumIEEE([]byte(Prefix+id+secret)))
	return Prefix + id + secret + string(sum[:])
}

func mustGenerate(t testing.TB, r io.Reader) Minted {
	t.Helper()
	m, err := Generate(r)
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	return m
}

func TestGenerateRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		r    io.Reader
	}{
		{"seed 0", seededReader(0)},
		{"seed 1", seededReader(1)},
		{"one byte per read", iotest.OneByteReader(seededReader(2))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := mustGenerate(t, tt.r)
			if !wireFormat.MatchString(m.Value) || len(m.Value) != Length {
				t.Fatalf("Value %q does not match %s", m.Value, wireFormat)
			}
			p, err := Parse(m.Value)
			if err != nil {
				t.Fatalf("Parse(generated): %v", err)
			}
			if p.ID != m.ID || p.ID != m.Value[3:15] {
				t.Errorf("Parse ID = %q, Minted ID = %q, value id = %q", p.ID, m.ID, m.Value[3:15])
			}
			if p.Secret != m.Value[15:47] {
				t.Errorf("Parse Secret = %q, want %q", p.Secret, m.Value[15:47])
			}
			if HashSecret(p.Secret) != m.Hash {
				t.Error("HashSecret(secret) != Minted.Hash")
			}
			if want := "tw_" + m.ID + "…" + m.Value[49:]; m.Fingerprint != want {
				t.Errorf("Fingerprint = %q, want %q", m.Fingerprint, want)
			}
		})
	}
}

func TestGenerateDeterministic(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		a, b io.Reader
		same bool
	}{
		{"same seed", seededReader(0), seededReader(0), true},
		{"different seed", seededReader(0), seededReader(1), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a, b := mustGenerate(t, tt.a), mustGenerate(t, tt.b)
			if (a == b) != tt.same {
				t.Errorf("Generate = %q and %q, want same=%v", a.Value, b.Value, tt.same)
			}
		})
	}
	t.Run("golden", func(t *testing.T) {
		t.Parallel()
		if m := mustGenerate(t, seededReader(0)); fmt.Sprintf("%x", sha256.Sum256([]byte(m.Value))) != goldenSHA256 {
			t.Errorf("Generate(seed 0) = %s, whose SHA-256 is not the golden one: the wire format or the sampling changed", Fingerprint(m.Value))
		}
	})
}

func TestGenerateErrors(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	tests := []struct {
		name    string
		r       io.Reader
		wantErr error // nil: any error
	}{
		{"reader fails", iotest.ErrReader(boom), boom},
		{"reader runs dry", io.LimitReader(seededReader(0), 10), io.ErrUnexpectedEOF},
		{"reader never yields a usable byte", constReader(0xFF), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m, err := Generate(tt.r)
			if err == nil {
				t.Fatalf("Generate = %q, want error", m.Value)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("Generate error = %v, want it to wrap %v", err, tt.wantErr)
			}
			if m != (Minted{}) {
				t.Errorf("Generate returned %+v with an error", m)
			}
		})
	}
}

func TestNewID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		r       io.Reader
		want    string
		wantErr bool
	}{
		{"seed 0", seededReader(0), "P7EjsAiQl1U6", false},
		{"all zero bytes", constReader(0), "000000000000", false},
		{"byte 61 is the last digit", constReader(61), "zzzzzzzzzzzz", false},
		{"byte 125 masks to 61", constReader(125), "zzzzzzzzzzzz", false},
		{"reader fails", iotest.ErrReader(errors.New("boom")), "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := NewID(tt.r)
			if (err != nil) != tt.wantErr {
				t.Fatalf("NewID error = %v, wantErr %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("NewID = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestChecksumEncoding(t *testing.T) {
	t.Parallel()
	tests := []struct {
		crc  uint32
		want string
	}{
		{0, "000000"},
		{61, "00000z"},
		{62, "000010"},
		{0xFFFFFFFF, "4gfFC3"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			t.Parallel()
			var got [ChecksumLength]byte
			putChecksum(got[:], tt.crc)
			if string(got[:]) != tt.want {
				t.Errorf("putChecksum(%d) = %q, want %q", tt.crc, got, tt.want)
			}
		})
	}
}

func TestAlphabet(t *testing.T) {
	t.Parallel()
	for c := range 256 {
		want := strings.IndexByte(alphabet, byte(c))
		if want < 0 {
			want = 0xFF
		}
		if got := int(base62Values[c]); got != want {
			t.Errorf("base62Values[%q] = %#x, want %#x", byte(c), got, want)
		}
		// The byte at every offset of the body and of the checksum counts.
		body := []byte(strings.Repeat("0", IDLength+SecretLength))
		body[c%len(body)] = byte(c)
		if _, ok := scanBody(string(body)); ok != (want != 0xFF) {
			t.Errorf("scanBody with %q at offset %d: ok = %v", byte(c), c%len(body), ok)
		}
		sum := []byte("000000")
		sum[c%len(sum)] = byte(c)
		if _, ok := decodeChecksum(string(sum)); ok != (want != 0xFF) {
			t.Errorf("decodeChecksum with %q at offset %d: ok = %v", byte(c), c%len(sum), ok)
		}
	}
}

func TestScanBodyMatchesCRC32(t *testing.T) {
	t.Parallel()
	if want := crc32.ChecksumIEEE([]byte(Prefix)); prefixCRC != want {
		t.Fatalf("prefixCRC = %#x, want %#x", prefixCRC, want)
	}
	r := mrand.New(mrand.NewPCG(1, 2))
	for i := range 100 {
		body := make([]byte, IDLength+SecretLength)
		for j := range body {
			body[j] = byte(r.UintN(256))
		}
		want := crc32.ChecksumIEEE(append([]byte(Prefix), body...))
		if got, _ := scanBody(string(body)); got != want {
			t.Fatalf("body %d %q: scanBody CRC = %#x, crc32 = %#x", i, body, got, want)
		}
	}
}

// checkMalformed fails unless err wraps ErrMalformed and says nothing of
// the input.
func checkMalformed(t *testing.T, err error, input, wantReason string) {
	t.Helper()
	if !errors.Is(err, ErrMalformed) {
		t.Fatalf("Parse error = %v, want it to wrap ErrMalformed", err)
	}
	msg := err.Error()
	if input != "" && strings.Contains(msg, input) {
		t.Errorf("Parse error %q contains the input", msg)
	}
	if len(input) >= checksumStart && strings.Contains(msg, input[secretStart:checksumStart]) {
		t.Errorf("Parse error %q contains the secret", msg)
	}
	if !strings.Contains(msg, wantReason) {
		t.Errorf("Parse error %q, want it to mention %q", msg, wantReason)
	}
}

func TestParseRejects(t *testing.T) {
	t.Parallel()
	v := goldenValue
	tests := []struct {
		name   string
		input  string
		reason string
	}{
		{"empty", "", "length"},
		{"prefix only", Prefix, "length"},
		{"one short", v[:Length-1], "length"},
		{"one long", v + "0", "length"},
		{"twice", v + v, "length"},
		{"upper-case prefix", "TW_" + v[3:], "prefix"},
		{"dash in prefix", "tw-" + v[3:], "prefix"},
		{"other vendor", "gh_" + v[3:], "prefix"},
		{"dash in id", v[:5] + "-" + v[6:], "invalid character"},
		{"underscore in secret", v[:20] + "_" + v[21:], "invalid character"},
		{"space in checksum", v[:50] + " " + v[51:], "invalid character"},
		{"non-ASCII", v[:20] + "é" + v[22:], "invalid character"},
		{"NUL byte", v[:30] + "\x00" + v[31:], "invalid character"},
		{"checksum of another token", v[:47] + "000000", "checksum"},
		{"checksum above 32 bits", v[:47] + "zzzzzz", "checksum"},
		{"secret swapped", assemble(v[3:15], strings.Repeat("a", 32))[:47] + v[47:], "checksum"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := Parse(tt.input)
			if err == nil {
				t.Fatalf("Parse = %+v, want error", p)
			}
			if p != (Parsed{}) {
				t.Errorf("Parse returned %+v with an error", p)
			}
			checkMalformed(t, err, tt.input, tt.reason)
		})
	}
}

// TestParseCatchesSubstitution replaces every character of a token with
// every other base62 character: the prefix check or the checksum must
// reject each one.
func TestParseCatchesSubstitution(t *testing.T) {
	t.Parallel()
	for _, v := range []string{goldenValue, mustGenerate(t, seededReader(1)).Value} {
		for i := range Length {
			reason := "checksum"
			if i < len(Prefix) {
				reason = "prefix"
			}
			for j := range len(alphabet) {
				c := alphabet[j]
				if c == v[i] {
					continue
				}
				input := v[:i] + string(c) + v[i+1:]
				if _, err := Parse(input); err == nil {
					t.Errorf("Parse accepted %q (offset %d changed to %q)", input, i, c)
				} else {
					checkMalformed(t, err, input, reason)
				}
			}
		}
	}
}

func TestParseCatchesTransposition(t *testing.T) {
	t.Parallel()
	for _, v := range []string{goldenValue, mustGenerate(t, seededReader(1)).Value} {
		swapped := 0
		for i := range Length - 1 {
			if v[i] == v[i+1] {
				continue
			}
			reason := "checksum"
			if i < len(Prefix) {
				reason = "prefix"
			}
			input := v[:i] + string(v[i+1]) + string(v[i]) + v[i+2:]
			if _, err := Parse(input); err == nil {
				t.Errorf("Parse accepted %q (offsets %d and %d swapped)", input, i, i+1)
			} else {
				checkMalformed(t, err, input, reason)
			}
			swapped++
		}
		if swapped < Length/2 {
			t.Errorf("only %d transpositions tried on %q", swapped, v)
		}
	}
}

func TestFingerprint(t *testing.T) {
	t.Parallel()
	v := goldenValue
	tests := []struct {
		name  string
		value string
		want  string
	}{
		{"valid", v, "tw_P7EjsAiQl1U6…ynQZ"},
		{"empty", "", "tw_…"},
		{"bad checksum", v[:47] + "000000", "tw_…"},
		{"garbage", "hello, world", "tw_…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := Fingerprint(tt.value)
			if got != tt.want {
				t.Errorf("Fingerprint = %q, want %q", got, tt.want)
			}
			if strings.Contains(got, v[secretStart:checksumStart][:4]) {
				t.Errorf("Fingerprint %q reveals part of the secret", got)
			}
		})
	}
	if got, want := FingerprintOf(v[3:15], v[49:]), Fingerprint(v); got != want {
		t.Errorf("FingerprintOf = %q, want %q", got, want)
	}
}

func TestHashSecret(t *testing.T) {
	t.Parallel()
	tests := []struct {
		secret string
		want   string // hex SHA-256
	}{
		{"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
		{"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
	}
	for _, tt := range tests {
		t.Run(tt.secret, func(t *testing.T) {
			t.Parallel()
			got := HashSecret(tt.secret)
			if hex := fmt.Sprintf("%x", got); hex != tt.want {
				t.Errorf("HashSecret(%q) = %s, want %s", tt.secret, hex, tt.want)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	f.Add(goldenValue)
	f.Add("")
	f.Add(Prefix)
	f.Add(goldenValue[:47] + "000000")
	f.Add("tw_é" + goldenValue[5:])
	f.Add(strings.Repeat("tw_0aZ", 40))
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) == Length {
			got, _ := scanBody(s[idStart:checksumStart])
			if want := crc32.ChecksumIEEE([]byte(Prefix + s[idStart:checksumStart])); got != want {
				t.Fatalf("scanBody CRC = %#x, crc32 = %#x", got, want)
			}
		}
		p, err := Parse(s)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Parse error %v does not wrap ErrMalformed", err)
			}
			if len(s) == Length && strings.Contains(err.Error(), s[secretStart:checksumStart]) {
				t.Fatalf("Parse error %q contains the secret", err)
			}
			return
		}
		if len(p.ID) != IDLength || len(p.Secret) != SecretLength {
			t.Fatalf("Parse = %+v: wrong part lengths", p)
		}
		if got := assemble(p.ID, p.Secret); got != s {
			t.Fatalf("Parse(%q) reassembles to %q", s, got)
		}
	})
}
