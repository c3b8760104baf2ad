package vaulttest_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/hashicorp/vault/api"

	"github.com/tokenward/terraform-provider-tokenward/internal/destination/vaulttest"
)

// client is the real Vault client pointed at the fake, authenticated with tok
// ("" for none).
func client(t *testing.T, s *vaulttest.Server, tok string) *api.Client {
	t.Helper()
	cfg := api.DefaultConfig()
	cfg.Address = s.URL
	cfg.MaxRetries = 0
	c, err := api.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.ClearToken()
	if tok != "" {
		c.SetToken(tok)
	}
	return c
}

func status(err error) int {
	var re *api.ResponseError
	if errors.As(err, &re) {
		return re.StatusCode
	}
	return 0
}

func TestAuthentication(t *testing.T) {
	s := vaulttest.New(t)
	s.AddToken("good")
	s.AddAppRole("role-1", "secret-1")
	ctx := context.Background()
	for _, tc := range []struct {
		name, token string
		want        int
	}{
		{"no token", "", http.StatusForbidden},
		{"unknown token", "bad", http.StatusForbidden},
		{"known token", "good", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := client(t, s, tc.token).KVv2("secret").Put(ctx, "apps/a", map[string]any{"k": "v"})
			if got := status(err); got != tc.want {
				t.Fatalf("status %d (%v), want %d", got, err, tc.want)
			}
		})
	}
	t.Run("approle login", func(t *testing.T) {
		c := client(t, s, "")
		for _, bad := range []map[string]any{{"role_id": "role-1", "secret_id": "wrong"}, {"role_id": "nope", "secret_id": "secret-1"}, {}} {
			if _, err := c.Logical().WriteWithContext(ctx, "auth/approle/login", bad); status(err) != http.StatusBadRequest {
				t.Fatalf("login with %v: %v, want 400", bad, err)
			}
		}
		sec, err := c.Logical().WriteWithContext(ctx, "auth/approle/login", map[string]any{"role_id": "role-1", "secret_id": "secret-1"})
		if err != nil || sec == nil || sec.Auth == nil || sec.Auth.ClientToken == "" {
			t.Fatalf("login: %v %+v", err, sec)
		}
		if _, err := client(t, s, sec.Auth.ClientToken).KVv2("secret").Get(ctx, "apps/a"); err != nil {
			t.Fatalf("read with the issued token: %v", err)
		}
		if s.Logins() != 1 {
			t.Fatalf("logins %d, want 1", s.Logins())
		}
	})
}

func TestCheckAndSet(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name      string
		seed      bool // a version exists before the write
		cas       int
		interfere int
		required  bool
		noCAS     bool
		wantErr   string
		wantVer   int
	}{
		{name: "create with cas 0", cas: 0, wantVer: 1},
		{name: "cas 0 on an existing key", seed: true, cas: 0, wantErr: "did not match"},
		{name: "cas matching the current version", seed: true, cas: 1, wantVer: 2},
		{name: "cas behind the current version", seed: true, cas: 2, wantErr: "did not match"},
		{name: "a concurrent writer lands first", seed: true, cas: 1, interfere: 1, wantErr: "did not match"},
		{name: "cas required and missing", required: true, noCAS: true, wantErr: "check-and-set parameter required"},
		{name: "no cas, not required", seed: true, noCAS: true, wantVer: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var opts []vaulttest.Option
			if tc.required {
				opts = append(opts, vaulttest.WithCASRequired())
			}
			s := vaulttest.New(t, opts...)
			s.AddToken("t")
			if tc.seed {
				s.Put("apps/a", map[string]string{"OTHER": "x"}, nil)
			}
			s.Interfere(tc.interfere)
			var put []api.KVOption
			if !tc.noCAS {
				put = append(put, api.WithCheckAndSet(tc.cas))
			}
			sec, err := client(t, s, "t").KVv2("secret").Put(ctx, "apps/a", map[string]any{"K": "v"}, put...)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || status(err) != http.StatusBadRequest {
					t.Fatalf("err %v, want a 400 with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || sec.VersionMetadata.Version != tc.wantVer {
				t.Fatalf("put: %v %+v, want version %d", err, sec, tc.wantVer)
			}
			got, _ := s.Get("apps/a")
			if got.Data["K"] != "v" || got.CurrentVersion != tc.wantVer {
				t.Fatalf("holds %+v", got)
			}
		})
	}
}

func TestMetadata(t *testing.T) {
	ctx := context.Background()
	s := vaulttest.New(t, vaulttest.WithMount("kv"))
	s.AddToken("t")
	kv := client(t, s, "t").KVv2("kv")

	if _, err := kv.GetMetadata(ctx, "apps/a"); !errors.Is(err, api.ErrSecretNotFound) {
		t.Fatalf("metadata of a missing key: %v", err)
	}
	// Metadata may be written before any version, and then cas 0 creates.
	if err := kv.PutMetadata(ctx, "apps/a", api.KVMetadataPutInput{CustomMetadata: map[string]any{"managed-by": "tokenward/x", "team": "a"}}); err != nil {
		t.Fatal(err)
	}
	md, err := kv.GetMetadata(ctx, "apps/a")
	if err != nil || md.CurrentVersion != 0 || md.CustomMetadata["managed-by"] != "tokenward/x" {
		t.Fatalf("metadata %+v %v", md, err)
	}
	if _, err := kv.Put(ctx, "apps/a", map[string]any{"K": "v"}, api.WithCheckAndSet(0)); err != nil {
		t.Fatal(err)
	}
	sec, err := kv.Get(ctx, "apps/a")
	if err != nil || sec.Data["K"] != "v" || sec.CustomMetadata["team"] != "a" {
		t.Fatalf("get %+v %v", sec, err)
	}
	// PATCH merges (null removes); POST replaces.
	if err := kv.PatchMetadata(ctx, "apps/a", api.KVMetadataPatchInput{CustomMetadata: map[string]any{"team": nil, "env": "prod"}}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Get("apps/a"); got.CustomMetadata["managed-by"] != "tokenward/x" || got.CustomMetadata["env"] != "prod" || len(got.CustomMetadata) != 2 {
		t.Fatalf("after patch %v", got.CustomMetadata)
	}
	if err := kv.PutMetadata(ctx, "apps/a", api.KVMetadataPutInput{CustomMetadata: map[string]any{"only": "this"}}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Get("apps/a"); len(got.CustomMetadata) != 1 || got.CustomMetadata["only"] != "this" {
		t.Fatalf("after put %v", got.CustomMetadata)
	}
	if err := kv.PutMetadata(ctx, "apps/a", api.KVMetadataPutInput{CustomMetadata: map[string]any{"k": strings.Repeat("v", 513)}}); status(err) != http.StatusBadRequest {
		t.Fatalf("an over-long custom_metadata value: %v, want 400", err)
	}
	// A soft-deleted current version reads as not found, with its metadata kept.
	if err := kv.Delete(ctx, "apps/a"); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Get("apps/a"); got.Data != nil || got.CurrentVersion != 1 {
		t.Fatalf("after soft delete %+v", got)
	}
	raw, err := client(t, s, "t").Logical().ReadWithContext(ctx, "kv/data/apps/a")
	if err != nil || raw == nil || raw.Data["data"] != nil {
		t.Fatalf("read of a deleted version: %+v %v", raw, err)
	}
	// Deleting the metadata deletes every version.
	if err := kv.DeleteMetadata(ctx, "apps/a"); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Get("apps/a"); ok {
		t.Fatal("the key survived its metadata delete")
	}
	// Another mount is not served: the client reads a 404 without data as nothing.
	if sec, err := client(t, s, "t").Logical().ReadWithContext(ctx, "secret/data/apps/a"); err != nil || sec != nil {
		t.Fatalf("another mount: %+v %v, want nothing", sec, err)
	}
}
