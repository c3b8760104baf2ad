package seal

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
)

const secretText = "correct horse battery staple"

// testMaterial returns distinct 32-byte key material for each seed.
func testMaterial(seed byte) []byte {
	m := make([]byte, KeySize)
	for i := range m {
		m[i] = seed ^ byte(i*37)
	}
	return m
}

func testKey(t testing.TB, seed byte) Key {
	t.Helper()
	k, err := NewKey(testMaterial(seed))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// assertSecretFree fails if err's message contains any of the secrets.
func assertSecretFree(t *testing.T, err error, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if s != "" && strings.Contains(err.Error(), s) {
			t.Errorf("error %q contains secret %q", err, s)
		}
	}
}

func TestNewKey(t *testing.T) {
	t.Parallel()
	m := testMaterial(1)
	sum := sha256.Sum256(append([]byte("tokenward key id\x00"), m...))
	other := testKey(t, 2)
	tests := []struct {
		name     string
		material []byte
		wantID   string
		wantErr  bool
	}{
		{name: "32 bytes", material: m, wantID: hex.EncodeToString(sum[:8])},
		{name: "nil", material: nil, wantErr: true},
		{name: "31 bytes", material: m[:31], wantErr: true},
		{name: "33 bytes", material: append(bytes.Clone(m), 0), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			k, err := NewKey(tt.material)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("NewKey(%d bytes) = %v, want error", len(tt.material), k)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if k.ID != tt.wantID || len(k.ID) != 16 {
				t.Errorf("ID = %q, want %q", k.ID, tt.wantID)
			}
			if k.ID == other.ID {
				t.Errorf("two keys share ID %q", k.ID)
			}
		})
	}
}

func TestNewKeyCopiesMaterial(t *testing.T) {
	t.Parallel()
	m := testMaterial(1)
	k, err := NewKey(m)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := NewKeyring(k).Seal([]byte(secretText), "r")
	if err != nil {
		t.Fatal(err)
	}
	clear(m)
	if _, err := NewKeyring(k).Open(sealed, "r"); err != nil {
		t.Errorf("Open after caller cleared its material: %v", err)
	}
}

func TestParseKey(t *testing.T) {
	t.Parallel()
	// These bytes encode to "+" and "/" in standard base64, so the URL
	// variants differ from the standard ones.
	m := bytes.Repeat([]byte{0xfb, 0xef, 0xbe, 0xff, 0xff, 0xff}, 6)[:KeySize]
	want, err := NewKey(m)
	if err != nil {
		t.Fatal(err)
	}
	std := base64.StdEncoding.EncodeToString(m)
	if !strings.ContainsAny(std, "+/=") {
		t.Fatalf("test material %q does not exercise alphabet or padding", std)
	}
	tests := []struct {
		name    string
		in      string
		wantErr bool
	}{
		{name: "standard", in: std},
		{name: "raw standard", in: base64.RawStdEncoding.EncodeToString(m)},
		{name: "url", in: base64.URLEncoding.EncodeToString(m)},
		{name: "raw url", in: base64.RawURLEncoding.EncodeToString(m)},
		{name: "surrounding whitespace", in: "  " + std + "\n"},
		{name: "empty", in: "", wantErr: true},
		{name: "not base64", in: "zzz!not-base64-" + std[:20], wantErr: true},
		{name: "16 bytes", in: base64.StdEncoding.EncodeToString(m[:16]), wantErr: true},
		{name: "33 bytes", in: base64.StdEncoding.EncodeToString(append(bytes.Clone(m), 1)), wantErr: true},
		{name: "hex", in: hex.EncodeToString(m), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			k, err := ParseKey(tt.in)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("ParseKey = %v, want error", k)
				}
				if !strings.Contains(err.Error(), "must be base64 of 32 bytes") {
					t.Errorf("error %q does not say what is expected", err)
				}
				assertSecretFree(t, err, strings.TrimSpace(tt.in))
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if k.ID != want.ID || !bytes.Equal(k.material, m) {
				t.Errorf("ParseKey gave key %s, want %s", k.ID, want.ID)
			}
		})
	}
}

func TestFormatRedacts(t *testing.T) {
	t.Parallel()
	a, b := testKey(t, 1), testKey(t, 2)
	kr := NewKeyring(a, b)
	tests := []struct {
		name string
		v    any
		want string
	}{
		{name: "key", v: a, want: "seal.Key(" + a.ID + ")"},
		{name: "keyring", v: kr, want: "seal.Keyring[" + a.ID + " " + b.ID + "]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%d", "%q"} {
				if got := fmt.Sprintf(verb, tt.v); got != tt.want {
					t.Errorf("Sprintf(%s) = %q, want %q", verb, got, tt.want)
				}
			}
		})
	}
}

func TestKeyring(t *testing.T) {
	t.Parallel()
	a, b, c := testKey(t, 1), testKey(t, 2), testKey(t, 3)
	tests := []struct {
		name    string
		kr      *Keyring
		primary string
		ids     []string
	}{
		{name: "primary only", kr: NewKeyring(a), primary: a.ID, ids: []string{a.ID}},
		{name: "older in order", kr: NewKeyring(c, a, b), primary: c.ID, ids: []string{c.ID, a.ID, b.ID}},
		{name: "duplicates dropped", kr: NewKeyring(a, b, a, b), primary: a.ID, ids: []string{a.ID, b.ID}},
		{name: "zero key ignored", kr: NewKeyring(Key{}, a), primary: "", ids: []string{a.ID}},
		{name: "invalid primary ignored", kr: NewKeyring(Key{ID: "x"}, a), primary: "", ids: []string{a.ID}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.kr.PrimaryID(); got != tt.primary {
				t.Errorf("PrimaryID = %q, want %q", got, tt.primary)
			}
			ids := tt.kr.IDs()
			if fmt.Sprint(ids) != fmt.Sprint(tt.ids) {
				t.Errorf("IDs = %v, want %v", ids, tt.ids)
			}
			if len(ids) > 0 {
				ids[0] = "mutated"
				if tt.kr.IDs()[0] == "mutated" {
					t.Error("IDs exposes the keyring's internal slice")
				}
			}
		})
	}
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	k := testKey(t, 1)
	kr := NewKeyring(k)
	tests := []struct {
		name      string
		plaintext []byte
		aad       string
	}{
		{name: "empty", plaintext: []byte{}, aad: "token_version/abc123"},
		{name: "short", plaintext: []byte(secretText), aad: "token_version/abc123"},
		{name: "64 KiB", plaintext: bytes.Repeat([]byte("0123456789abcdef"), 4096), aad: "token_version/abc123"},
		{name: "empty aad", plaintext: []byte(secretText), aad: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s1, err := kr.Seal(tt.plaintext, tt.aad)
			if err != nil {
				t.Fatal(err)
			}
			s2, err := kr.Seal(tt.plaintext, tt.aad)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Equal(s1, s2) {
				t.Error("two seals of the same plaintext are identical")
			}
			if len(tt.plaintext) >= 8 && bytes.Contains(s1, tt.plaintext[:8]) {
				t.Error("sealed value contains the plaintext")
			}
			if want := 2 + len(k.ID) + wrappedSize + nonceSize + len(tt.plaintext) + tagSize; len(s1) != want {
				t.Errorf("sealed length = %d, want %d", len(s1), want)
			}
			if id, err := KeyID(s1); err != nil || id != k.ID {
				t.Errorf("KeyID = %q, %v; want %q", id, err, k.ID)
			}
			for _, s := range [][]byte{s1, s2} {
				got, err := kr.Open(s, tt.aad)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, tt.plaintext) {
					t.Errorf("Open = %d bytes, want the %d sealed", len(got), len(tt.plaintext))
				}
			}
		})
	}
}

func TestOpenRejects(t *testing.T) {
	t.Parallel()
	a, b := testKey(t, 1), testKey(t, 2)
	kr := NewKeyring(a)
	const aad = "token_version/abc123"
	sealed, err := kr.Seal([]byte(secretText), aad)
	if err != nil {
		t.Fatal(err)
	}
	withID := func(id string) []byte {
		s := bytes.Clone(sealed)
		copy(s[2:2+len(a.ID)], id)
		return s
	}
	tests := []struct {
		name    string
		kr      *Keyring
		sealed  []byte
		aad     string
		wantErr error
		wantMsg string
	}{
		{name: "keyring with another key", kr: NewKeyring(b), sealed: sealed, aad: aad, wantErr: ErrUnknownKey, wantMsg: a.ID},
		{name: "unknown key id", kr: kr, sealed: withID("0123456789abcdef"), aad: aad, wantErr: ErrUnknownKey, wantMsg: "0123456789abcdef"},
		{name: "wrong material under the same id", kr: NewKeyring(Key{ID: a.ID, material: b.material}), sealed: sealed, aad: aad, wantErr: ErrOpen},
		{name: "moved to another record", kr: kr, sealed: sealed, aad: "token_version/abc124", wantErr: ErrOpen},
		{name: "moved to empty record", kr: kr, sealed: sealed, aad: "", wantErr: ErrOpen},
		{name: "extra byte", kr: kr, sealed: append(bytes.Clone(sealed), 0), aad: aad, wantErr: ErrOpen},
		{name: "version 2", kr: kr, sealed: append([]byte{2}, sealed[1:]...), aad: aad, wantErr: ErrOpen},
		{name: "nil", kr: kr, sealed: nil, aad: aad, wantErr: ErrOpen},
		{name: "nil keyring", kr: nil, sealed: sealed, aad: aad, wantErr: ErrUnknownKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := tt.kr.Open(tt.sealed, tt.aad)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Open = %q, %v; want error %v", got, err, tt.wantErr)
			}
			if got != nil {
				t.Errorf("Open returned %d bytes with its error", len(got))
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q does not contain %q", err, tt.wantMsg)
			}
			assertSecretFree(t, err, secretText,
				base64.StdEncoding.EncodeToString(a.material), base64.StdEncoding.EncodeToString(b.material))
		})
	}
}

// TestBothLayersBindRecord checks that the wrap and the data each carry the
// record binding on their own: a blob whose layers disagree on the record does
// not open, even though both are valid under the right keys.
func TestBothLayersBindRecord(t *testing.T) {
	t.Parallel()
	k := testKey(t, 1)
	kr := NewKeyring(k)
	dk := testMaterial(7)
	build := func(wrapFor, dataFor string) []byte {
		hdr := header(k.ID)
		out, err := wrap(bytes.Clone(hdr), k, dk, hdr, wrapFor)
		if err != nil {
			t.Fatal(err)
		}
		data, err := newAEAD(dk)
		if err != nil {
			t.Fatal(err)
		}
		return data.Seal(out, nil, []byte(secretText), []byte(dataPrefix+dataFor))
	}
	tests := []struct {
		name             string
		wrapFor, dataFor string
		wantErr          error
	}{
		{name: "both for the record", wrapFor: "r/1", dataFor: "r/1"},
		{name: "data for another record", wrapFor: "r/1", dataFor: "r/2", wantErr: ErrOpen},
		{name: "wrap for another record", wrapFor: "r/2", dataFor: "r/1", wantErr: ErrOpen},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := kr.Open(build(tt.wrapFor, tt.dataFor), "r/1")
			if !errors.Is(err, tt.wantErr) || (err == nil && string(got) != secretText) {
				t.Errorf("Open = %q, %v; want error %v", got, err, tt.wantErr)
			}
		})
	}
}

func TestOpenTampered(t *testing.T) {
	t.Parallel()
	k := testKey(t, 1)
	kr := NewKeyring(k)
	const aad = "r/1"
	sealed, err := kr.Seal([]byte("tiny"), aad)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		mutate func(i int) []byte // returns nil when i is out of range
	}{
		{name: "flip low bit", mutate: flip(sealed, 0x01)},
		{name: "flip high bit", mutate: flip(sealed, 0x80)},
		{name: "flip all bits", mutate: flip(sealed, 0xff)},
		{name: "truncate", mutate: func(i int) []byte {
			if i >= len(sealed) {
				return nil
			}
			return bytes.Clone(sealed[:i])
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n := 0
			for i := 0; ; i++ {
				s := tt.mutate(i)
				if s == nil {
					break
				}
				n++
				got, err := kr.Open(s, aad)
				if err == nil {
					t.Fatalf("position %d: Open = %q, want error", i, got)
				}
				if !errors.Is(err, ErrOpen) && !errors.Is(err, ErrUnknownKey) {
					t.Errorf("position %d: error %v wraps neither ErrOpen nor ErrUnknownKey", i, err)
				}
				if _, _, err := kr.Rewrap(s, aad); err == nil && i < len(sealed)-len("tiny")-tagSize-nonceSize {
					t.Errorf("position %d: Rewrap accepted a tampered header or wrap", i)
				}
			}
			if n != len(sealed) {
				t.Errorf("tried %d positions, want %d", n, len(sealed))
			}
		})
	}
}

// flip returns a mutator that XORs mask into byte i of a copy of sealed.
func flip(sealed []byte, mask byte) func(int) []byte {
	return func(i int) []byte {
		if i >= len(sealed) {
			return nil
		}
		s := bytes.Clone(sealed)
		s[i] ^= mask
		return s
	}
}

func TestNoKey(t *testing.T) {
	t.Parallel()
	sealed, err := NewKeyring(testKey(t, 1)).Seal([]byte(secretText), "r")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		kr   *Keyring
	}{
		{name: "nil keyring", kr: nil},
		{name: "zero primary", kr: NewKeyring(Key{})},
		{name: "bad primary", kr: NewKeyring(Key{ID: "x", material: []byte("short")})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := tt.kr.Seal([]byte(secretText), "r"); !errors.Is(err, ErrNoKey) {
				t.Errorf("Seal error = %v, want ErrNoKey", err)
			}
			if _, _, err := tt.kr.Rewrap(sealed, "r"); !errors.Is(err, ErrNoKey) {
				t.Errorf("Rewrap error = %v, want ErrNoKey", err)
			}
		})
	}
}

func TestRotation(t *testing.T) {
	t.Parallel()
	oldKey, newKey := testKey(t, 1), testKey(t, 2)
	const aad = "token_version/abc123"
	before := NewKeyring(oldKey)
	during := NewKeyring(newKey, oldKey)
	after := NewKeyring(newKey)

	sealedOld, err := before.Seal([]byte(secretText), aad)
	if err != nil {
		t.Fatal(err)
	}
	sealedNew, err := during.Seal([]byte(secretText), aad)
	if err != nil {
		t.Fatal(err)
	}
	if id, _ := KeyID(sealedNew); id != newKey.ID {
		t.Fatalf("keyring with new primary sealed under %q, want %q", id, newKey.ID)
	}
	if got, err := during.Open(sealedOld, aad); err != nil || string(got) != secretText {
		t.Fatalf("keyring with old key as older key: Open = %v", err)
	}
	if _, err := after.Open(sealedOld, aad); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("keyring without old key: Open error = %v, want ErrUnknownKey", err)
	}

	tests := []struct {
		name        string
		kr          *Keyring
		sealed      []byte
		aad         string
		wantChanged bool
		wantErr     error
	}{
		{name: "old key moves to primary", kr: during, sealed: sealedOld, aad: aad, wantChanged: true},
		{name: "already primary", kr: during, sealed: sealedNew, aad: aad, wantChanged: false},
		{name: "wrong aad on old key", kr: during, sealed: sealedOld, aad: "token_version/other", wantErr: ErrOpen},
		{name: "wrong aad on primary", kr: during, sealed: sealedNew, aad: "token_version/other", wantErr: ErrOpen},
		{name: "key no longer held", kr: after, sealed: sealedOld, aad: aad, wantErr: ErrUnknownKey},
		{name: "truncated", kr: during, sealed: sealedOld[:10], aad: aad, wantErr: ErrOpen},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := bytes.Clone(tt.sealed)
			out, changed, err := tt.kr.Rewrap(in, tt.aad)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Rewrap error = %v, want %v", err, tt.wantErr)
				}
				assertSecretFree(t, err, secretText, base64.StdEncoding.EncodeToString(oldKey.material))
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(in, tt.sealed) {
				t.Error("Rewrap modified its input")
			}
			if changed != tt.wantChanged {
				t.Errorf("changed = %v, want %v", changed, tt.wantChanged)
			}
			if !changed && !bytes.Equal(out, in) {
				t.Error("unchanged Rewrap returned different bytes")
			}
			if id, _ := KeyID(out); id != newKey.ID {
				t.Errorf("KeyID after Rewrap = %q, want %q", id, newKey.ID)
			}
			dataLen := nonceSize + len(secretText) + tagSize
			if !bytes.Equal(out[len(out)-dataLen:], in[len(in)-dataLen:]) {
				t.Error("Rewrap changed the data ciphertext")
			}
			got, err := after.Open(out, aad)
			if err != nil || string(got) != secretText {
				t.Errorf("keyring with only the new key: Open = %v", err)
			}
			if _, err := after.Open(out, "token_version/other"); !errors.Is(err, ErrOpen) {
				t.Errorf("rewrapped value opened for another record: %v", err)
			}
		})
	}
}

func TestKeyIDMalformed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		sealed []byte
	}{
		{name: "nil", sealed: nil},
		{name: "header only", sealed: []byte{1, 3, 'a', 'b', 'c'}},
		{name: "empty id", sealed: append([]byte{1, 0}, make([]byte, 100)...)},
		{name: "version 0", sealed: append([]byte{0, 1, 'a'}, make([]byte, 100)...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if id, err := KeyID(tt.sealed); !errors.Is(err, ErrOpen) {
				t.Errorf("KeyID = %q, %v; want error wrapping ErrOpen", id, err)
			}
		})
	}
}

func BenchmarkSeal(b *testing.B) {
	kr := NewKeyring(testKey(b, 1))
	plaintext := make([]byte, 64)
	b.SetBytes(int64(len(plaintext)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := kr.Seal(plaintext, "token_version/abc123"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpen(b *testing.B) {
	kr := NewKeyring(testKey(b, 1))
	sealed, err := kr.Seal(make([]byte, 64), "token_version/abc123")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(64)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := kr.Open(sealed, "token_version/abc123"); err != nil {
			b.Fatal(err)
		}
	}
}
