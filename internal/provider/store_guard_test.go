package provider_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
)

// guardConfig declares a scope and a token delivered to a file, the token
// after the scope.
func guardConfig(dir string) string {
	return fmt.Sprintf(`
resource "tokenward_scope" "read" {
  name = "billing:read"
}

resource "tokenward_token" "t" {
  name   = "ci-deploy"
  scopes = [tokenward_scope.read.name]
  files  = [{ path = %q }]
}
`, filepath.Join(dir, "ci.env"))
}

// storeAbsent is a plan check that the plan created no store file.
type storeAbsent struct{ path string }

func (c storeAbsent) CheckPlan(_ context.Context, _ plancheck.CheckPlanRequest, resp *plancheck.CheckPlanResponse) {
	if _, err := os.Stat(c.path); !errors.Is(err, os.ErrNotExist) {
		resp.Error = fmt.Errorf("the plan created the store %s (stat: %v)", c.path, err)
	}
}

// TestAccFirstApplyCreatesTheStore: with no store and nothing in the state,
// the plan proposes to create everything and creates nothing; the apply
// creates the store.
func TestAccFirstApplyCreatesTheStore(t *testing.T) {
	env := testEnv(t)
	path := env["TOKENWARD_STORE"]
	dir := t.TempDir()
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: factories(env),
		Steps: []resource.TestStep{
			{
				Config: guardConfig(dir),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("tokenward_scope.read", plancheck.ResourceActionCreate),
					plancheck.ExpectResourceAction("tokenward_token.t", plancheck.ResourceActionCreate),
					storeAbsent{path},
				}},
				Check: func(*terraform.State) error {
					if _, err := os.Stat(path); err != nil {
						return fmt.Errorf("the apply did not create the store: %w", err)
					}
					reg := openRegistry(t, env)
					if _, err := reg.Token(context.Background(), "ci-deploy"); err != nil {
						return fmt.Errorf("the new store lacks the token: %w", err)
					}
					return nil
				},
			},
			{Config: guardConfig(dir), ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()}}},
		},
	})
}

// TestAccLostStoreIsRefused: once the state holds tokenward resources, a
// store that is gone, or that exists but never recorded anything, makes the
// plan fail naming the path, and creates no store; put back, all is well.
func TestAccLostStoreIsRefused(t *testing.T) {
	env := testEnv(t)
	path := env["TOKENWARD_STORE"]
	backup := path + ".bak"
	dir := t.TempDir()
	move := func(from, to string) { moveStore(t, from, to) }
	gone := func() { move(path, backup) }
	stillGone := func() {
		if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("the refused plan created the store %s: %v", path, err)
		}
	}
	lost := regexp.MustCompile(`(?s)store was lost or mistyped.*no\s+tokenward\s+store\s+at\s+` + regexp.QuoteMeta(path) + `:\s+the\s+file\s+does\s+not\s+exist`)
	empty := regexp.MustCompile(`(?s)store was lost or mistyped.*` + regexp.QuoteMeta(path) + `:\s+the\s+store\s+exists\s+but\s+holds\s+no\s+tokenward\s+records`)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: factories(env),
		Steps: []resource.TestStep{
			{Config: guardConfig(dir)},
			{PreConfig: gone, Config: guardConfig(dir), ExpectError: lost},
			{PreConfig: stillGone, Config: guardConfig(dir), PlanOnly: true, ExpectError: lost},
			{
				// A new, empty store at the path: still not the store the
				// state describes.
				PreConfig: func() {
					stillGone()
					st, err := store.Open(context.Background(), path, store.Create())
					if err != nil {
						t.Fatal(err)
					}
					st.Close()
				},
				Config: guardConfig(dir), ExpectError: empty,
			},
			{
				PreConfig: func() {
					removeStore(path)
					move(backup, path)
				},
				Config:           guardConfig(dir),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()}},
			},
		},
	})
}

// TestAccAnotherStoreIsRefused: a resource remembers the store it lives in,
// so a store that holds records but is another one (a mistyped path that
// leads to another team's store, or a lost store replaced by a new one, as
// an apply with -target of a new resource creates) is refused in plan and
// apply rather than read as if it held nothing of these resources; the
// right store again plans nothing.
func TestAccAnotherStoreIsRefused(t *testing.T) {
	env := testEnv(t)
	path := env["TOKENWARD_STORE"]
	backup := path + ".bak"
	dir := t.TempDir()
	move := func(from, to string) { moveStore(t, from, to) }
	another := regexp.MustCompile(`(?s)store is not the one this resource lives in.*` + regexp.QuoteMeta(path) + `.*another\s+store`)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: factories(env),
		Steps: []resource.TestStep{
			{Config: guardConfig(dir)},
			{
				// Another store at the path, which has recorded a change of
				// its own: not empty, and not the store of the state.
				PreConfig: func() {
					move(path, backup)
					reg, err := registry.Open(context.Background(), registry.Config{Store: path, Create: true, Getenv: func(k string) string { return env[k] }})
					if err != nil {
						t.Fatal(err)
					}
					defer reg.Close()
					if _, err := reg.CreateScope(context.Background(), "other:read", "another team's scope"); err != nil {
						t.Fatal(err)
					}
				},
				Config: guardConfig(dir), PlanOnly: true, ExpectError: another,
			},
			{Config: guardConfig(dir), ExpectError: another},
			{
				PreConfig: func() {
					removeStore(path)
					move(backup, path)
				},
				Config:           guardConfig(dir),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()}},
			},
		},
	})
}

// moveStore moves a SQLite store with its -wal and -shm files: the
// in-process providers of earlier steps are never closed, so its WAL may
// hold what they wrote.
func moveStore(t *testing.T, from, to string) {
	t.Helper()
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if err := os.Rename(from+suffix, to+suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
	}
}

// removeStore removes a SQLite store with its -wal and -shm files.
func removeStore(path string) {
	for _, suffix := range []string{"", "-wal", "-shm"} {
		os.Remove(path + suffix)
	}
}
