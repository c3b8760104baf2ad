package store_test

import (
	"testing"

	"github.com/tokenward/terraform-provider-tokenward/internal/store"
	"github.com/tokenward/terraform-provider-tokenward/internal/store/storetest"
)

var engines *storetest.Engines

func TestMain(m *testing.M) { storetest.Main(m, &engines) }

func forEachEngine(t *testing.T, fn func(t *testing.T, st store.Store, dsn string)) {
	t.Helper()
	engines.Run(t, fn)
}
