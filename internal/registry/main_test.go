package registry_test

import (
	"crypto/rand"
	"sync"
	"testing"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/audit"
	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/seal"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
	"github.com/tokenward/terraform-provider-tokenward/internal/store/storetest"
)

var engines *storetest.Engines

func TestMain(m *testing.M) { storetest.Main(m, &engines) }

// clock is a settable test clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func newKey(t *testing.T) seal.Key {
	t.Helper()
	b := make([]byte, seal.KeySize)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	k, err := seal.NewKey(b)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// fixture is a registry on one engine's store.
type fixture struct {
	reg   *registry.Registry
	st    store.Store
	dsn   string
	clock *clock
	key   seal.Key
}

func forEachEngine(t *testing.T, fn func(t *testing.T, f fixture)) {
	t.Helper()
	engines.Run(t, func(t *testing.T, st store.Store, dsn string) {
		c := newClock()
		k := newKey(t)
		reg := registry.New(st, seal.NewKeyring(k), registry.WithClock(c.Now), registry.WithActor("test"))
		fn(t, fixture{reg: reg, st: st, dsn: dsn, clock: c, key: k})
	})
}

// verifyAudit checks the stored chain and returns its events.
func verifyAudit(t *testing.T, st store.Store) []audit.Event {
	t.Helper()
	events, err := st.AuditEvents(t.Context(), 0, 100000)
	if err != nil {
		t.Fatal(err)
	}
	head, err := st.AuditHead(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := audit.Verify(events, head); err != nil {
		t.Fatalf("audit chain: %v", err)
	}
	return events
}
