package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/seal"
	"github.com/tokenward/terraform-provider-tokenward/internal/seal/sealtest"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
)

// seed makes what an apply of bench-0 leaves: a store with the token, its
// scope, file destination and current version, and a state with its
// instance (the attributes planseed rewrites, and one it must keep).
func seed(t *testing.T) (open func() *registry.Registry, statePath string) {
	t.Helper()
	dir := t.TempDir()
	env := map[string]string{registry.EnvStore: filepath.Join(dir, "tw.db"), seal.EnvKey: base64.StdEncoding.EncodeToString(sealtest.Bytes(t))}
	open = func() *registry.Registry {
		reg, err := registry.Open(t.Context(), registry.Config{Getenv: func(k string) string { return env[k] }, Create: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { reg.Close() })
		return reg
	}
	reg := open()
	if _, err := reg.CreateScope(t.Context(), "bench:read", ""); err != nil {
		t.Fatal(err)
	}
	file := dir + "/out/0.env"
	if _, err := reg.CreateToken(t.Context(), registry.TokenSpec{
		Name: "bench-0", Owner: "bench", Scopes: []string{"bench:read"},
		Lifetime:     store.Lifetime{TTL: 90 * 24 * time.Hour, RotateBefore: 14 * 24 * time.Hour, Overlap: 24 * time.Hour},
		Destinations: []store.Destination{{Key: "file:" + file + "#TOKEN", Kind: "file", Config: json.RawMessage(`{"path":"` + file + `","key":"TOKEN","format":"dotenv"}`)}},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.IssueFirst(t.Context(), "bench-0"); err != nil {
		t.Fatal(err)
	}
	ti, err := reg.Token(t.Context(), "bench-0")
	if err != nil {
		t.Fatal(err)
	}
	reg.Close()
	state := fmt.Sprintf(`{"version": 4, "serial": 5, "lineage": "l", "resources": [
  {"mode": "managed", "type": "tokenward_scope", "name": "read", "instances": [{"attributes": {"id": "bench:read"}}]},
  {"mode": "managed", "type": "tokenward_token", "name": "t", "instances": [{"index_key": 0, "private": "p", "attributes": {
    "id": "bench-0", "name": "bench-0", "owner": "bench", "current_version": %q, "fingerprint": %q, "ttl": "90d",
    "files": [{"path": "./out/0.env", "resolved_path": %q, "key": "TOKEN"}]}}]}]}`, ti.Current.ID, ti.Current.Fingerprint, file)
	statePath = filepath.Join(dir, "terraform.tfstate")
	if err := os.WriteFile(statePath, []byte(state), 0o600); err != nil {
		t.Fatal(err)
	}
	return open, statePath
}

// TestCopies: each copy reads back through the registry as bench-0 with its
// own name, version and file, and its state instance names that same
// version, fingerprint and file, so a plan finds it unchanged.
func TestCopies(t *testing.T) {
	open, statePath := seed(t)
	if err := copyRows(t.Context(), filepath.Join(filepath.Dir(statePath), "tw.db"), 1, 4); err != nil {
		t.Fatal(err)
	}
	if err := copyState(statePath, 1, 4); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(statePath)
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Serial    int
		Resources []struct {
			Type      string
			Instances []struct {
				IndexKey   int    `json:"index_key"`
				Private    string `json:"private"`
				Attributes struct {
					ID, Name, Owner, TTL string
					Current              string `json:"current_version"`
					Fingerprint          string
					Files                []struct {
						Path     string
						Resolved string `json:"resolved_path"`
					}
				}
			}
		}
	}
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	if st.Serial != 6 || len(st.Resources) != 2 || len(st.Resources[1].Instances) != 4 {
		t.Fatalf("state: serial %d, %d resources; want serial 6 and 4 tokens:\n%s", st.Serial, len(st.Resources), b)
	}
	reg := open()
	tmpl, err := reg.Token(t.Context(), "bench-0")
	if err != nil {
		t.Fatal(err)
	}
	for i, in := range st.Resources[1].Instances {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			name := fmt.Sprintf("bench-%d", i)
			ti, err := reg.Token(t.Context(), name)
			if err != nil {
				t.Fatal(err)
			}
			a := in.Attributes
			file := fmt.Sprintf("/out/%d.env", i)
			switch {
			case in.IndexKey != i || a.ID != name || a.Name != name || a.Owner != "bench" || a.TTL != "90d" || in.Private != "p":
				t.Errorf("instance %d: %+v", i, in)
			case ti.Current == nil || a.Current != ti.Current.ID || a.Fingerprint != ti.Current.Fingerprint:
				t.Errorf("state names version %s (%s), store has %+v", a.Current, a.Fingerprint, ti.Current)
			case len(a.Files) != 1 || a.Files[0].Path != "."+file || !strings.HasSuffix(a.Files[0].Resolved, file):
				t.Errorf("state files %+v, want %s", a.Files, file)
			case len(ti.Destinations) != 1 || !strings.HasSuffix(ti.Destinations[0].Key, file+"#TOKEN") || !strings.Contains(string(ti.Destinations[0].Config), file):
				t.Errorf("store destinations %+v, want %s", ti.Destinations, file)
			case ti.Lifetime != tmpl.Lifetime || ti.Owner != tmpl.Owner || strings.Join(ti.EffectiveScopes, ",") != "bench:read" ||
				!ti.Current.ExpiresAt.Equal(tmpl.Current.ExpiresAt):
				t.Errorf("copy %+v differs from bench-0 %+v", ti, tmpl)
			case i > 0 && (ti.ID == tmpl.ID || ti.Current.ID == tmpl.Current.ID || ti.Current.Hash == tmpl.Current.Hash):
				t.Errorf("copy shares bench-0's ids or hash")
			}
		})
	}
}

// TestRefuses: what does not match the applied seed is an error naming it.
func TestRefuses(t *testing.T) {
	for _, c := range []struct {
		name     string
		from, to int
		state    bool // copyState, else copyRows
		want     string
	}{
		{"state holds another count", 2, 4, true, "has 1 instances of tokenward_token.t, want 2"},
		{"a copy would take an applied name", 0, 2, false, "UNIQUE"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, statePath := seed(t)
			var err error
			if c.state {
				err = copyState(statePath, c.from, c.to)
			} else {
				err = copyRows(t.Context(), filepath.Join(filepath.Dir(statePath), "tw.db"), c.from, c.to)
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error with %q", err, c.want)
			}
		})
	}
}
