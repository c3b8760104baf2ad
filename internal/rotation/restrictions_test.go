package rotation_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/rotation"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
	"github.com/tokenward/terraform-provider-tokenward/internal/token"
)

// TestRestrictionsPassThrough: Issue stores the declared restrictions, and
// a Redeclare that changes only them updates the token in place: no
// rotation, the delivered value stays current.
func TestRestrictionsPassThrough(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, f *fixture) {
		ctx := t.Context()
		ds := []store.Destination{secret(t, "acme/api")}
		spec := f.billingSpec(t, ds...)
		spec.AllowedCIDRs = []string{"10.0.0.0/8"}
		spec.RateLimit = store.RateLimit{Requests: 100, Per: time.Minute}
		if _, err := f.engine().Issue(ctx, spec); err != nil {
			t.Fatal(err)
		}
		value := f.mem.get(ds[0].Key)
		check := func(t *testing.T, cidrs []string, rl store.RateLimit) {
			t.Helper()
			ti, err := f.reg.Token(ctx, spec.Name)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(ti.AllowedCIDRs, cidrs) || ti.RateLimit != rl {
				t.Fatalf("token: allowed %v, rate %+v; want %v, %+v", ti.AllowedCIDRs, ti.RateLimit, cidrs, rl)
			}
		}
		check(t, spec.AllowedCIDRs, spec.RateLimit)

		changed := spec
		changed.AllowedCIDRs = []string{"10.0.0.0/8", "2001:db8::/32"}
		changed.RateLimit = store.RateLimit{Requests: 10, Per: time.Second}
		done, err := f.engine().Redeclare(ctx, rotation.Redeclaration{TokenSpec: changed, Before: ds})
		if err != nil {
			t.Fatal(err)
		}
		if done.Rotated || f.mem.get(ds[0].Key) != value || f.verify(t, value) != token.Valid {
			t.Fatalf("a restriction change rotated the token: %+v", done)
		}
		check(t, changed.AllowedCIDRs, changed.RateLimit)
	})
}
