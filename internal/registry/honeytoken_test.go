package registry_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/token"
)

// TestHoneytokenVerify: a honeytoken is issued like any token, and
// `tokenward verify` (Registry.Verify) answers its value, and its id with
// another secret, exactly as it answers an unknown token's; VerifyUse flags
// both. The mark cannot be changed in place, either way.
func TestHoneytokenVerify(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, f fixture) {
		ctx := t.Context()
		if _, err := f.reg.CreateScope(ctx, "billing:read", "read invoices"); err != nil {
			t.Fatal(err)
		}
		for _, spec := range []registry.TokenSpec{
			{Name: "decoy", Owner: "security", Scopes: []string{"billing:read"}, Lifetime: lifetime, Honeytoken: true},
			{Name: "real", Owner: "platform", Scopes: []string{"billing:read"}, Lifetime: lifetime},
		} {
			if _, err := f.reg.CreateToken(ctx, spec); err != nil {
				t.Fatal(err)
			}
		}
		decoy, err := f.reg.IssueFirst(ctx, "decoy")
		if err != nil {
			t.Fatal(err)
		}
		real, err := f.reg.IssueFirst(ctx, "real")
		if err != nil {
			t.Fatal(err)
		}
		unknown, err := token.Generate(zeroReader{})
		if err != nil {
			t.Fatal(err)
		}
		p, _ := token.Parse(decoy.Value)
		u, _ := token.Parse(unknown.Value)
		for _, tc := range []struct {
			name      string
			value     string
			wantHoney bool
			want      token.Result
		}{
			{"decoy", decoy.Value, true, token.Result{Code: token.NotFound, VersionID: p.ID}},
			{"decoy's id, another secret", withSecretOf(t, decoy.Value, unknown.Value), true, token.Result{Code: token.NotFound, VersionID: p.ID}},
			{"unknown", unknown.Value, false, token.Result{Code: token.NotFound, VersionID: u.ID}},
			{"real", real.Value, false, token.Result{Code: token.Valid, VersionID: real.VersionID, TokenName: "real"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				res, honey, err := f.reg.VerifyUse(ctx, tc.value, []string{"billing:read"})
				if err != nil {
					t.Fatal(err)
				}
				if honey != tc.wantHoney || res.Code != tc.want.Code || res.VersionID != tc.want.VersionID || res.TokenName != tc.want.TokenName {
					t.Errorf("VerifyUse = %+v, honeytoken %v; want %+v, %v", res, honey, tc.want, tc.wantHoney)
				}
				if tc.wantHoney && (res.Scopes != nil || !res.ExpiresAt.IsZero()) {
					t.Errorf("a decoy's result %+v says more than an unknown token's", res)
				}
				plain, err := f.reg.Verify(ctx, tc.value, []string{"billing:read"})
				if err != nil || plain.Code != res.Code || plain.TokenName != res.TokenName {
					t.Errorf("Verify = %+v, %v; want VerifyUse's %+v", plain, err, res)
				}
			})
		}

		ti, err := f.reg.Token(ctx, "decoy")
		if err != nil || !ti.Honeytoken {
			t.Fatalf("Token(decoy) = %+v, %v; want a honeytoken", ti.Token, err)
		}
		for _, tc := range []struct {
			name  string
			honey bool
		}{{"decoy", false}, {"real", true}} {
			_, err := f.reg.UpdateToken(ctx, registry.TokenSpec{Name: tc.name, Scopes: []string{"billing:read"}, Lifetime: lifetime, Honeytoken: tc.honey})
			var inv *registry.InvalidError
			if !errors.As(err, &inv) || inv.Field != "honeytoken" {
				t.Errorf("flipping %s's honeytoken to %v: %v, want an invalid honeytoken", tc.name, tc.honey, err)
			}
		}
		// An update that keeps the mark is an update.
		if _, err := f.reg.UpdateToken(ctx, registry.TokenSpec{Name: "decoy", Owner: "secops", Lifetime: lifetime, Honeytoken: true}); err != nil {
			t.Errorf("updating the decoy's owner: %v", err)
		}
		if ti, err := f.reg.Token(ctx, "decoy"); err != nil || !ti.Honeytoken || ti.Owner != "secops" {
			t.Errorf("after the update: %+v, %v", ti.Token, err)
		}
	})
}

// zeroReader reads zeros: a fixed, unknown token.
type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// withSecretOf is value's id with other's secret, and a valid checksum.
func withSecretOf(t *testing.T, value, other string) string {
	t.Helper()
	p, _ := token.Parse(value)
	o, _ := token.Parse(other)
	// Generate computes checksums; read it the id and secret as its
	// randomness would give them.
	forged, err := token.Generate(base62Reader(p.ID + o.Secret))
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := token.Parse(forged.Value); got.ID != p.ID || got.Secret != o.Secret {
		t.Fatalf("forging %s with another secret gave %s", token.Fingerprint(value), token.Fingerprint(forged.Value))
	}
	return forged.Value
}

// base62Reader reads the alphabet index of each character of s, then zeros:
// as token.Generate's randomness, it mints a token whose id and secret are s.
type base62Reader string

func (r base62Reader) Read(p []byte) (int, error) {
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	clear(p)
	for i := 0; i < len(p) && i < len(r); i++ {
		p[i] = byte(strings.IndexByte(alphabet, r[i]))
	}
	return len(p), nil
}
