package server_test

import (
	"os"
	"testing"

	"github.com/tokenward/terraform-provider-tokenward/internal/store/storetest"
)

// engines gives the tests a store of each engine (PostgreSQL through
// pgtest: skipped outside CI when there is none, a failure under CI).
var engines *storetest.Engines

func TestMain(m *testing.M) {
	engines = storetest.Start()
	code := m.Run()
	engines.Stop()
	removeBenchStores()
	os.Exit(code)
}
