package provider_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/tokenward/terraform-provider-tokenward/internal/destination"
	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/rotation"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
	"github.com/tokenward/terraform-provider-tokenward/internal/token"
)

// storedFiles returns the file destinations of token name as the store
// keeps them.
func storedFiles(t *testing.T, reg *registry.Registry, name string) []destination.Config {
	t.Helper()
	ti, err := reg.Token(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	var out []destination.Config
	for _, d := range ti.Destinations {
		if d.Kind != destination.KindFile {
			continue
		}
		c, err := destination.Decode(d)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
	return out
}

// workIn makes a new temporary folder the working directory of the test,
// which the in-process provider shares: the folder Terraform's working
// directory stands for when it resolves a relative path.
func workIn(t *testing.T) string {
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	if err := os.Mkdir(filepath.Join(dir, "secrets"), 0o700); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestAccTokenRelativePathResolved: a relative path is planned with a
// resolved_path against the working directory, the store keeps and
// delivers to that absolute path, path stays as written (no diff after
// apply), and a rotation from another folder writes the same file.
func TestAccTokenRelativePathResolved(t *testing.T) {
	env := testEnv(t)
	reg := tokenRegistry(t, env)
	dir := workIn(t)
	want := filepath.Join(dir, "secrets", "app.env")
	cfg := tokenConfig(`  files = [{ path = "./secrets/../secrets/app.env" }]`)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: factories(env),
		Steps: []resource.TestStep{{
			Config: cfg,
			ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
				plancheck.ExpectKnownValue(tokenAddr, tfjsonpath.New("files").AtSliceIndex(0).AtMapKey("resolved_path"), knownvalue.StringExact(want)),
			}},
			Check: resource.ComposeTestCheckFunc(
				resource.TestCheckResourceAttr(tokenAddr, "files.0.path", "./secrets/../secrets/app.env"),
				resource.TestCheckResourceAttr(tokenAddr, "files.0.resolved_path", want),
				func(*terraform.State) error {
					fs := storedFiles(t, reg, "ci-deploy")
					if len(fs) != 1 || fs[0].Path != want {
						return fmt.Errorf("the store keeps %+v, want the path %s", fs, want)
					}
					return verifies(reg, dotenvValue(t, want, "CI_DEPLOY"), token.Valid)
				},
				rotatesFromElsewhere(t, reg, dir, want),
			),
		}},
	})
}

// rotatesFromElsewhere checks that a rotation started in another folder
// writes the file the store names and nothing relative to that folder.
func rotatesFromElsewhere(t *testing.T, reg *registry.Registry, dir, file string) resource.TestCheckFunc {
	return func(*terraform.State) error {
		other := t.TempDir()
		if err := os.Chdir(other); err != nil {
			return err
		}
		defer os.Chdir(dir)
		before := dotenvValue(t, file, "CI_DEPLOY")
		if _, err := rotation.New(reg, destination.NewRouter(nil)).Rotate(context.Background(), "ci-deploy"); err != nil {
			return err
		}
		if _, err := os.Stat(filepath.Join(other, "secrets")); err == nil {
			return fmt.Errorf("the rotation from %s wrote a file relative to it", other)
		}
		after := dotenvValue(t, file, "CI_DEPLOY")
		if after == before {
			return fmt.Errorf("the rotation from another folder did not write %s", file)
		}
		return verifies(reg, after, token.Valid)
	}
}

// TestAccTokenRelativeStoredPathMigrated: a token whose store row keeps a
// relative path, as a provider that did not resolve paths stored it, is
// resolved at the next apply without a new value and without removing the
// value from the file, which the old and the new spelling both name.
func TestAccTokenRelativeStoredPathMigrated(t *testing.T) {
	ctx := context.Background()
	env := testEnv(t)
	reg := tokenRegistry(t, env)
	dir := workIn(t)
	old, err := destination.New(destination.KindFile, destination.Config{Path: "secrets/app.env", Key: "CI_DEPLOY", Format: destination.FormatDotenv})
	if err != nil {
		t.Fatal(err)
	}
	const day = 24 * time.Hour
	spec := registry.TokenSpec{Name: "ci-deploy", Lifetime: store.Lifetime{TTL: 90 * day, RotateBefore: 14 * day, Overlap: day},
		Destinations: []store.Destination{old}}
	if _, err := reg.CreateToken(ctx, spec); err != nil {
		t.Fatal(err)
	}
	// Delivery refuses a relative path now, so the value such a provider
	// delivered is put in place by hand.
	issued, err := reg.IssueFirst(ctx, "ci-deploy")
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(dir, "secrets", "app.env")
	if err := os.MkdirAll(filepath.Dir(want), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(want, []byte("CI_DEPLOY="+issued.Value+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	value := dotenvValue(t, want, "CI_DEPLOY")
	if err := verifies(reg, value, token.Valid); err != nil {
		t.Fatal(err)
	}
	cfg := tokenConfig(`  files = [{ path = "secrets/app.env" }]`)
	// Imported and applied in one plan; the import reads the stored path
	// as it is, and the plan resolves it.
	imported := "import {\n  to = " + tokenAddr + "\n  id = \"ci-deploy\"\n}\n" + cfg
	version := ""
	if ti, err := reg.Token(ctx, "ci-deploy"); err == nil && ti.Current != nil {
		version = ti.Current.ID
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: factories(env),
		Steps: []resource.TestStep{
			{
				Config: imported,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(tokenAddr, plancheck.ResourceActionUpdate),
					plancheck.ExpectKnownValue(tokenAddr, tfjsonpath.New("files").AtSliceIndex(0).AtMapKey("resolved_path"), knownvalue.StringExact(want)),
					plancheck.ExpectKnownValue(tokenAddr, tfjsonPath("current_version"), knownString(func() string { return version })),
				}},
				Check: func(*terraform.State) error {
					fs := storedFiles(t, reg, "ci-deploy")
					if len(fs) != 1 || fs[0].Path != want {
						return fmt.Errorf("the store keeps %+v, want the resolved path %s", fs, want)
					}
					if got := dotenvValue(t, want, "CI_DEPLOY"); got != value {
						return fmt.Errorf("the file holds %s after the migration, want the value it held, %s", token.Fingerprint(got), token.Fingerprint(value))
					}
					return nil
				},
			},
		},
	})
}

// TestAccTokenFileModeOwnerGroup: mode, owner and group reach the store,
// and changing the mode is a destination change that rotates the token.
func TestAccTokenFileModeOwnerGroup(t *testing.T) {
	env := testEnv(t)
	reg := tokenRegistry(t, env)
	file := filepath.Join(t.TempDir(), "app.env")
	uid, gid := fmt.Sprint(os.Getuid()), fmt.Sprint(os.Getgid())
	cfg := func(mode string) string {
		return tokenConfig(fmt.Sprintf(`  files = [{ path = %q, mode = %q, owner = %q, group = %q }]`, file, mode, uid, gid))
	}
	var version string
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: factories(env),
		Steps: []resource.TestStep{
			{
				Config: cfg("0640"),
				Check: func(s *terraform.State) error {
					version = s.RootModule().Resources[tokenAddr].Primary.Attributes["current_version"]
					fs := storedFiles(t, reg, "ci-deploy")
					if len(fs) != 1 || fs[0].Mode != "0640" || fs[0].Owner != uid || fs[0].Group != gid {
						return fmt.Errorf("the store keeps %+v, want mode 0640, owner %s, group %s", fs, uid, gid)
					}
					return nil
				},
			},
			{
				Config: cfg("0600"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(tokenAddr, plancheck.ResourceActionUpdate),
					plancheck.ExpectUnknownValue(tokenAddr, tfjsonPath("current_version")),
				}},
				Check: func(s *terraform.State) error {
					if v := s.RootModule().Resources[tokenAddr].Primary.Attributes["current_version"]; v == version {
						return fmt.Errorf("changing the mode did not rotate the token (still %s)", v)
					}
					if fs := storedFiles(t, reg, "ci-deploy"); len(fs) != 1 || fs[0].Mode != "0600" {
						return fmt.Errorf("the store keeps %+v, want mode 0600", fs)
					}
					return nil
				},
			},
		},
	})
}

// TestAccTokenFileAttributesInvalid: a bad mode, owner or group fails at
// plan time on its attribute.
func TestAccTokenFileAttributesInvalid(t *testing.T) {
	cases := []struct{ name, file, want string }{
		{"mode not octal", `mode = "0958"`, `files\[0\]\.mode: "0958" must be octal`},
		{"mode setuid", `mode = "4755"`, `files\[0\]\.mode: "4755" sets setuid`},
		{"mode sticky", `mode = "01777"`, `files\[0\]\.mode: "01777" sets setuid, setgid or sticky`},
		{"mode too large", `mode = "77777"`, `more than permission bits`},
		{"mode symbolic", `mode = "u+rw"`, `must be octal`},
		{"owner with a space", `owner = "app user"`, `files\[0\]\.owner: "app user" must be a user name`},
		{"group with a colon", `group = "app:app"`, `files\[0\]\.group`},
		{"owner too long", `owner = "` + strings.Repeat("a", 40) + `"`, `at most 32 characters`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := testEnv(t)
			resource.ParallelTest(t, resource.TestCase{
				ProtoV6ProviderFactories: factories(env),
				Steps: []resource.TestStep{{
					Config: tokenConfig(`  files = [{ path = "/tmp/tokenward-never-written.env", ` + tc.file + ` }]`), PlanOnly: true,
					ExpectError: regexp.MustCompile(tc.want),
				}},
			})
		})
	}
}

// TestAccTokenPolicyAllowedPaths: allowed_paths bounds where files go, at
// plan time, on the path at fault; a path is checked cleaned and resolved.
func TestAccTokenPolicyAllowedPaths(t *testing.T) {
	dir := workIn(t)
	policy := fmt.Sprintf("provider \"tokenward\" {\n  policy = { allowed_paths = [%q, \"/etc/app/*\"] }\n}\n", dir+"/secrets/**")
	cases := []struct{ name, path, want string }{
		{"outside", "/srv/other/app.env", `files\[0\]\.path: "/srv/other/app.env" is not allowed by the policy \(allowed_paths:`},
		{"climbs out", dir + "/secrets/" + strings.Repeat("../", 12) + "root/.ssh/authorized_keys", `files\[0\]\.path: "/root/.ssh/authorized_keys" is not allowed`},
		{"relative outside", "other/app.env", `files\[0\]\.path: "` + regexp.QuoteMeta(dir) + `/other/app.env" is not allowed`},
		{"a folder deeper than *", "/etc/app/sub/token", `files\[0\]\.path: "/etc/app/sub/token" is not allowed`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resource.UnitTest(t, resource.TestCase{
				ProtoV6ProviderFactories: factories(testEnv(t)),
				Steps: []resource.TestStep{{
					Config: policy + tokenConfig(fileBlock(tc.path)), PlanOnly: true,
					ExpectError: regexp.MustCompile(`(?s)breaks the provider's policy.*` + strings.ReplaceAll(tc.want, " ", `\s+`)),
				}},
			})
		})
	}
	t.Run("allowed, relative and absolute", func(t *testing.T) {
		env := testEnv(t)
		reg := tokenRegistry(t, env)
		resource.UnitTest(t, resource.TestCase{
			ProtoV6ProviderFactories: factories(env),
			Steps: []resource.TestStep{{
				Config: policy + tokenConfig(fileBlock("secrets/a.env", dir+"/secrets/deeper/../b.env")),
				Check: func(*terraform.State) error {
					return verifies(reg, dotenvValue(t, filepath.Join(dir, "secrets", "a.env"), "CI_DEPLOY"), token.Valid)
				},
			}},
		})
	})
	t.Run("invalid glob", func(t *testing.T) {
		resource.UnitTest(t, resource.TestCase{
			ProtoV6ProviderFactories: factories(testEnv(t)),
			Steps: []resource.TestStep{{
				Config:      "provider \"tokenward\" {\n  policy = { allowed_paths = [\"etc/app/*\"] }\n}\n" + tokenConfig(""),
				PlanOnly:    true,
				ExpectError: regexp.MustCompile(`(?s)Invalid policy.*must be an absolute path glob`),
			}},
		})
	})
}
