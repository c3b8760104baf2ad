package registry_test

import (
	"github.com/tokenward/terraform-provider-tokenward/internal/clocktest"
	"testing"

	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/seal"
	"github.com/tokenward/terraform-provider-tokenward/internal/seal/sealtest"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
	"github.com/tokenward/terraform-provider-tokenward/internal/store/storetest"
)

var engines *storetest.Engines

func TestMain(m *testing.M) { storetest.Main(m, &engines) }

// fixture is a registry on one engine's store.
type fixture struct {
	reg   *registry.Registry
	st    store.Store
	dsn   string
	clock *clocktest.Clock
	key   seal.Key
}

func forEachEngine(t *testing.T, fn func(t *testing.T, f fixture)) {
	t.Helper()
	engines.Run(t, func(t *testing.T, st store.Store, dsn string) {
		c := clocktest.New()
		k := sealtest.Key(t)
		reg := registry.New(st, seal.NewKeyring(k), registry.WithClock(c.Now), registry.WithActor("test"))
		fn(t, fixture{reg: reg, st: st, dsn: dsn, clock: c, key: k})
	})
}
