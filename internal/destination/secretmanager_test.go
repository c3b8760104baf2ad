package destination_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/tokenward/terraform-provider-tokenward/internal/destination"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
)

func TestCheckSecretManagers(t *testing.T) {
	for _, tc := range []struct {
		name    string
		kind    string
		c       destination.Config
		wantKey string
		wantErr string // the field named, and part of the reason
	}{
		{"vault", destination.KindVaultKV, destination.Config{Path: "apps/billing", Key: "API_TOKEN", ManagedBy: "b"}, "vault_kv:apps/billing#API_TOKEN", ""},
		{"vault case kept", destination.KindVaultKV, destination.Config{Path: "Apps/B", Key: "k", ManagedBy: "b"}, "vault_kv:Apps/B#k", ""},
		{"vault empty path", destination.KindVaultKV, destination.Config{Key: "k", ManagedBy: "b"}, "", "path: must not be empty"},
		{"vault leading slash", destination.KindVaultKV, destination.Config{Path: "/apps", Key: "k", ManagedBy: "b"}, "", "path: \"/apps\" must not start or end"},
		{"vault dot-dot", destination.KindVaultKV, destination.Config{Path: "apps/../sys", Key: "k", ManagedBy: "b"}, "", "path: "},
		{"vault double slash", destination.KindVaultKV, destination.Config{Path: "apps//b", Key: "k", ManagedBy: "b"}, "", "path: "},
		{"vault space", destination.KindVaultKV, destination.Config{Path: "apps/a b", Key: "k", ManagedBy: "b"}, "", "path: "},
		{"vault data prefix", destination.KindVaultKV, destination.Config{Path: "data/apps", Key: "k", ManagedBy: "b"}, "", "must not start with data/"},
		{"vault empty key", destination.KindVaultKV, destination.Config{Path: "apps/b", ManagedBy: "b"}, "", "key: must not be empty"},
		{"vault key control", destination.KindVaultKV, destination.Config{Path: "apps/b", Key: "a\nb", ManagedBy: "b"}, "", "key: must not hold control"},
		{"vault no owner", destination.KindVaultKV, destination.Config{Path: "apps/b", Key: "k"}, "", "managed_by:"},
		{"aws", destination.KindAWSSecret, destination.Config{Name: "billing/api-token", ManagedBy: "b"}, "aws_secrets_manager:billing/api-token", ""},
		{"aws empty", destination.KindAWSSecret, destination.Config{ManagedBy: "b"}, "", "name: must not be empty"},
		{"aws arn", destination.KindAWSSecret, destination.Config{Name: "arn:aws:secretsmanager:us-east-1:1:secret:x", ManagedBy: "b"}, "", "not an ARN"},
		{"aws bad char", destination.KindAWSSecret, destination.Config{Name: "a b", ManagedBy: "b"}, "", "name: \"a b\" must be 1 to 512"},
		{"aws arn-like suffix", destination.KindAWSSecret, destination.Config{Name: "billing-AbC123", ManagedBy: "b"}, "", "six characters"},
		{"aws no owner", destination.KindAWSSecret, destination.Config{Name: "x"}, "", "managed_by:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := destination.New(tc.kind, tc.c)
			if tc.wantErr != "" {
				var de *destination.Error
				if !errors.As(err, &de) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || d.Key != tc.wantKey {
				t.Fatalf("key %q err %v, want %q", d.Key, err, tc.wantKey)
			}
		})
	}
}

// routeLog is a Writer that records what it was handed.
type routeLog struct{ got []string }

func (r *routeLog) Write(_ context.Context, d store.Destination, _ string) error {
	r.got = append(r.got, "write "+d.Key)
	return nil
}

func (r *routeLog) Delete(_ context.Context, d store.Destination) error {
	r.got = append(r.got, "delete "+d.Key)
	return nil
}

func TestRouterSecretManagers(t *testing.T) {
	ctx := context.Background()
	vd := vaultDest(t, "apps/b", "K", "b")
	ad := awsDest(t, "apps/b", "b")

	bare := destination.NewRouter(nil)
	if err := bare.Write(ctx, vd, "v"); !errors.Is(err, destination.ErrNoVault) {
		t.Fatalf("vault without a writer: %v", err)
	}
	if err := bare.Delete(ctx, ad); !errors.Is(err, destination.ErrNoAWS) {
		t.Fatalf("aws without a writer: %v", err)
	}

	var vault, aws, gh routeLog
	r := destination.NewRouter(&gh, destination.WithVault(&vault), destination.WithAWS(&aws))
	for _, d := range []store.Destination{vd, ad} {
		if err := r.Write(ctx, d, "v"); err != nil {
			t.Fatal(err)
		}
		if err := r.Delete(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	if strings.Join(vault.got, ",") != "write "+vd.Key+",delete "+vd.Key || strings.Join(aws.got, ",") != "write "+ad.Key+",delete "+ad.Key || len(gh.got) != 0 {
		t.Fatalf("routed: vault %v aws %v github %v", vault.got, aws.got, gh.got)
	}
}
