package server

import (
	"crypto/rand"
	"hash/crc32"
	"net/netip"
	"testing"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/store"
	"github.com/tokenward/terraform-provider-tokenward/internal/token"
)

// staticSnapshots always answers one snapshot.
type staticSnapshots struct{ snap *Snapshot }

func (s staticSnapshots) Current() (*Snapshot, error) { return s.snap, nil }
func (s staticSnapshots) Status() Status              { return Status{Loaded: true} }

// TestVerifyOnceHoneytoken: verifyOnce flags every presentation of a
// honeytoken's version id, with its secret or another, and names the token
// for the usage log, while its Result is exactly an unknown id's and it
// holds no entry; a real token, or an unknown or malformed value, is not
// flagged.
func TestVerifyOnceHoneytoken(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	decoy := &TokenInfo{ID: "id-decoy", Name: "decoy", Owner: "security", Honeytoken: true,
		AllowedCIDRs: []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")}, RateLimit: store.RateLimit{Requests: 1, Per: time.Minute}}
	real := &TokenInfo{ID: "id-real", Name: "real", Owner: "team"}
	mint := func(info *TokenInfo) (string, *Entry) {
		m, err := token.Generate(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return m.Value, &Entry{Record: token.Record{VersionID: m.ID, TokenName: info.Name, Hash: m.Hash, State: token.StateCurrent,
			ExpiresAt: now.Add(time.Hour), Scopes: []string{"billing:read"}}, Token: info}
	}
	decoyValue, decoyEntry := mint(decoy)
	realValue, realEntry := mint(real)
	unknownValue, _ := mint(real) // never in the snapshot
	s := New(staticSnapshots{NewSnapshot(1, now, []*Entry{decoyEntry, realEntry})}, WithServerClock(func() time.Time { return now }))

	p, _ := token.Parse(decoyValue)
	other, _ := token.Parse(unknownValue)
	wrong := token.Prefix + p.ID + other.Secret
	wrong += forgedChecksum(t, wrong)

	cases := []struct {
		name      string
		value     string
		src       string
		wantHoney bool
		wantNamed *TokenInfo
		wantCode  token.Code
	}{
		{"decoy", decoyValue, "203.0.113.7", true, decoy, token.NotFound},
		{"decoy from a denied source", decoyValue, "198.51.100.1", true, decoy, token.NotFound},
		{"decoy again, past its rate limit", decoyValue, "203.0.113.7", true, decoy, token.NotFound},
		{"decoy's id with a wrong secret", wrong, "203.0.113.7", true, decoy, token.NotFound},
		{"real", realValue, "", false, real, token.Valid},
		{"unknown", unknownValue, "", false, nil, token.NotFound},
		{"malformed", "tw_nope", "", false, nil, token.Malformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src, _ := netip.ParseAddr(tc.src)
			out := s.verifyOnce(tc.value, []string{"billing:read"}, src, true)
			if out.honeytoken != tc.wantHoney || out.named != tc.wantNamed || out.Code != tc.wantCode {
				t.Errorf("honeytoken %v, named %v, code %s; want %v, %v, %s", out.honeytoken, out.named, out.Code, tc.wantHoney, tc.wantNamed, tc.wantCode)
			}
			if !tc.wantHoney {
				return
			}
			// Exactly what an unknown id answers, with the presented id.
			want := token.Result{Code: token.NotFound, VersionID: p.ID}
			if out.TokenName != want.TokenName || out.VersionID != want.VersionID || out.Scopes != nil || !out.ExpiresAt.IsZero() ||
				out.entry != nil || out.retryAfter != 0 {
				t.Errorf("a decoy's outcome %+v is not an unknown id's %+v", out, want)
			}
		})
	}
}

// forgedChecksum is the checksum a token whose other parts are body needs,
// as token.Generate computes it.
func forgedChecksum(t *testing.T, body string) string {
	t.Helper()
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	crc := crc32.ChecksumIEEE([]byte(body))
	out := make([]byte, token.ChecksumLength)
	for i := token.ChecksumLength - 1; i >= 0; i-- {
		out[i] = alphabet[crc%62]
		crc /= 62
	}
	if _, err := token.Parse(body + string(out)); err != nil {
		t.Fatalf("the forged token does not parse: %v", err)
	}
	return string(out)
}

// TestBuildHoneytoken: the snapshot marks a honeytoken's versions, a
// deleted honeytoken's too, and no other token's.
func TestBuildHoneytoken(t *testing.T) {
	t.Parallel()
	version := func(id string) store.Version { return store.Version{ID: id, State: token.StateCurrent} }
	data := store.VerificationData{Seq: 3, Tokens: []store.VerifiableToken{
		{Token: store.Token{ID: "t1", Name: "decoy", Honeytoken: true}, Versions: []store.Version{version("v1"), version("v2")}},
		{Token: store.Token{ID: "t2", Name: "gone-decoy", Honeytoken: true, DeletedAt: time.Unix(1, 0)}, Versions: []store.Version{version("v3")}},
		{Token: store.Token{ID: "t3", Name: "real"}, Versions: []store.Version{version("v4")}},
	}}
	snap := (&Source{}).build(data, time.Unix(2, 0))
	for id, want := range map[string]bool{"v1": true, "v2": true, "v3": true, "v4": false} {
		e := snap.Lookup(id)
		if e == nil || e.Token.Honeytoken != want {
			t.Errorf("version %s: entry %+v, want Honeytoken %v", id, e, want)
		}
	}
}
