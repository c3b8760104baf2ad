package registry_test

import (
	"crypto/rand"
	"encoding/json"
	"hash/crc32"
	"strings"
	"testing"

	"github.com/tokenward/terraform-provider-tokenward/internal/token"
)

// forged is a well-formed value with a real version id and a secret of its
// own.
func forged(t *testing.T, id string) string {
	t.Helper()
	m, err := token.Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	start := len(token.Prefix) + token.IDLength
	body := token.Prefix + id + m.Value[start:start+token.SecretLength]
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	crc, sum := crc32.ChecksumIEEE([]byte(body)), make([]byte, token.ChecksumLength)
	for i := len(sum) - 1; i >= 0; i-- {
		sum[i], crc = alphabet[crc%62], crc/62
	}
	return body + string(sum)
}

// TestRevokeLeaked: a value whose secret matches is revoked at once, in
// any live state, with its evidence in the audit event and never the
// value; a forged secret for a real id, an unknown or malformed value
// changes nothing; a second report finds it revoked already.
func TestRevokeLeaked(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, f fixture) {
		ctx := t.Context()
		setupToken(t, f)
		first := issue(t, f)
		current := rotate(t, f) // first is previous now
		pending := begin(t, f)
		head, err := f.reg.AuditHead(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range []string{forged(t, current.VersionID), "tw_short", "not a token"} {
			if _, ok, err := f.reg.RevokeLeaked(ctx, v, nil); ok || err != nil {
				t.Fatalf("a value that matches no version: ok %v, err %v", ok, err)
			}
		}
		if h, _ := f.reg.AuditHead(ctx); h.Seq != head.Seq {
			t.Fatal("a report that matched nothing changed the store")
		}
		for _, v := range []struct {
			value string
			state token.State
		}{{first.Value, token.StatePrevious}, {current.Value, token.StateCurrent}, {pending.Value, token.StatePending}} {
			if m, ok, err := f.reg.MatchLeak(ctx, v.value); !ok || err != nil || m.State != v.state || m.TokenName != "ci-deploy" {
				t.Fatalf("match %s: %+v %v %v", v.state, m, ok, err)
			}
			l, ok, err := f.reg.RevokeLeaked(ctx, v.value, map[string]string{"source_url": "https://github.com/acme/web"})
			if !ok || err != nil || !l.Revoked || l.State != v.state {
				t.Fatalf("revoke %s: %+v %v %v", v.state, l, ok, err)
			}
			if got := verify(t, f, v.value).Code; got != token.Revoked {
				t.Fatalf("the %s value verifies as %s after the report", v.state, got)
			}
			if l, ok, _ := f.reg.RevokeLeaked(ctx, v.value, nil); !ok || l.Revoked || l.State != token.StateRevoked {
				t.Fatalf("a second report: %+v %v", l, ok)
			}
		}
		events, err := f.st.AuditEvents(ctx, head.Seq, 100)
		if err != nil {
			t.Fatal(err)
		}
		revokes := 0
		for _, e := range events {
			b, _ := json.Marshal(e)
			for _, v := range []string{first.Value, current.Value, pending.Value} {
				p, _ := token.Parse(v)
				if strings.Contains(string(b), p.Secret) {
					t.Fatalf("an audit event holds a value: %s", e.Action)
				}
			}
			if e.Action == "version.revoke" && e.Details["reason"] == "reported leaked" && e.Details["source_url"] == "https://github.com/acme/web" {
				revokes++
			}
		}
		if revokes != 3 {
			t.Fatalf("%d leak revocations in the audit chain, want 3", revokes)
		}
	})
}
