package provider_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-go/tftypes"

	"github.com/tokenward/terraform-provider-tokenward/internal/provider"
)

// TestConfigureWarns: a fixed clock (TOKENWARD_NOW) and a master key file
// that others may read are warnings of the provider's configuration, which
// still succeeds; the warning names the file, never the key.
func TestConfigureWarns(t *testing.T) {
	t.Parallel()
	env := testEnv(t)
	keyFile := filepath.Join(t.TempDir(), "master.key")
	if err := os.WriteFile(keyFile, []byte(env["TOKENWARD_MASTER_KEY"]+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(keyFile, 0o644); err != nil {
		t.Fatal(err)
	}
	tightFile := filepath.Join(t.TempDir(), "tight.key")
	if err := os.WriteFile(tightFile, []byte(env["TOKENWARD_MASTER_KEY"]+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		env  map[string]string
		want []string // warning summaries
	}{
		{"nothing to say", map[string]string{"TOKENWARD_STORE": env["TOKENWARD_STORE"], "TOKENWARD_MASTER_KEY_FILE": tightFile}, nil},
		{"a fixed clock", map[string]string{"TOKENWARD_STORE": env["TOKENWARD_STORE"], "TOKENWARD_MASTER_KEY_FILE": tightFile, "TOKENWARD_NOW": "2026-11-27T09:00:00Z"},
			[]string{"TOKENWARD_NOW is set: the clock is fixed"}},
		{"a loose key file", map[string]string{"TOKENWARD_STORE": env["TOKENWARD_STORE"], "TOKENWARD_MASTER_KEY_FILE": keyFile},
			[]string{"the master key file is readable by others"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			diags := configure(t, tc.env)
			var got []string
			for _, d := range diags {
				if d.Severity == tfprotov6.DiagnosticSeverityError {
					t.Fatalf("configure failed: %s: %s", d.Summary, d.Detail)
				}
				got = append(got, d.Summary)
				if strings.Contains(d.Detail, env["TOKENWARD_MASTER_KEY"]) {
					t.Fatalf("a warning shows the key: %s", d.Detail)
				}
				if d.Summary == "the master key file is readable by others" && !strings.Contains(d.Detail, "chmod 600 "+keyFile) {
					t.Errorf("the warning does not say what to do: %s", d.Detail)
				}
			}
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Fatalf("warnings %q, want %q", got, tc.want)
			}
		})
	}
}

// configure runs the provider's Configure with an empty provider block and
// returns its diagnostics.
func configure(t *testing.T, env map[string]string) []*tfprotov6.Diagnostic {
	t.Helper()
	ctx := t.Context()
	server, err := providerserver.NewProtocol6WithError(provider.New("test", func(k string) string { return env[k] })())()
	if err != nil {
		t.Fatal(err)
	}
	schema, err := server.GetProviderSchema(ctx, &tfprotov6.GetProviderSchemaRequest{})
	if err != nil {
		t.Fatal(err)
	}
	typ := schema.Provider.ValueType().(tftypes.Object)
	vals := map[string]tftypes.Value{}
	for name, at := range typ.AttributeTypes {
		vals[name] = tftypes.NewValue(at, nil)
	}
	config, err := tfprotov6.NewDynamicValue(typ, tftypes.NewValue(typ, vals))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := server.ConfigureProvider(ctx, &tfprotov6.ConfigureProviderRequest{TerraformVersion: "1.8.0", Config: &config})
	if err != nil {
		t.Fatal(err)
	}
	return resp.Diagnostics
}
