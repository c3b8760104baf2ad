package registry_test

import (
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
	"github.com/tokenward/terraform-provider-tokenward/internal/store/storetest"
)

func TestCheckCIDR(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in   string
		want string // in the error; "" for valid
	}{
		{"10.0.0.0/8", ""},
		{"192.0.2.7/32", ""},
		{"0.0.0.0/0", ""},
		{"2001:db8::/32", ""},
		{"::1/128", ""},
		{"::/0", ""},
		{"10.0.0.1/8", "write 10.0.0.0/8 for the whole network, or 10.0.0.1/32 for the one address"},
		{"2001:db8::1/32", "write 2001:db8::/32 for the whole network, or 2001:db8::1/128"},
		{"2001:DB8::/32", "not written canonically: write 2001:db8::/32"},
		{"2001:0db8::/32", "not written canonically: write 2001:db8::/32"},
		{"::ffff:10.0.0.0/104", "IPv4 network written as IPv6: write 10.0.0.0/8"},
		{"10.0.0.7", "an address, not a network: write 10.0.0.7/32"},
		{"2001:db8::7", "write 2001:db8::7/128"},
		{"10.0.0.0/33", "not a CIDR"},
		{"10.0.0/8", "not a CIDR"},
		{"fe80::1%eth0/64", "not a CIDR"},
		{"", "not a CIDR"},
		{"example.com/24", "not a CIDR"},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			err := registry.CheckCIDR(tc.in)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("CheckCIDR(%q) = %v", tc.in, err)
				}
				return
			}
			var ie *registry.InvalidError
			if !errors.As(err, &ie) || ie.Field != "allowed_cidrs" || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("CheckCIDR(%q) = %v, want an InvalidError on allowed_cidrs saying %q", tc.in, err, tc.want)
			}
		})
	}
}

func TestCheckRateLimit(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		in    store.RateLimit
		field string // "" for valid
	}{
		{"none", store.RateLimit{}, ""},
		{"100 a minute", store.RateLimit{Requests: 100, Per: time.Minute}, ""},
		{"1 a second", store.RateLimit{Requests: 1, Per: time.Second}, ""},
		{"no requests", store.RateLimit{Per: time.Minute}, "rate_limit.requests"},
		{"negative requests", store.RateLimit{Requests: -1, Per: time.Minute}, "rate_limit.requests"},
		{"no window", store.RateLimit{Requests: 10}, "rate_limit.per"},
		{"under a second", store.RateLimit{Requests: 10, Per: 999 * time.Millisecond}, "rate_limit.per"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := registry.CheckRateLimit(tc.in)
			var ie *registry.InvalidError
			switch {
			case tc.field == "" && err != nil:
				t.Fatalf("got %v", err)
			case tc.field != "" && (!errors.As(err, &ie) || ie.Field != tc.field):
				t.Fatalf("got %v, want an InvalidError on %s", err, tc.field)
			}
		})
	}
}

// TestTokenRestrictions: allowed networks and a rate limit are stored by
// CreateToken and UpdateToken, read back by Token, recorded in the audit
// event with what they replaced, and refused with an InvalidError naming
// the field when bad, without a change.
func TestTokenRestrictions(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, f fixture) {
		ctx := t.Context()
		spec := registry.TokenSpec{Name: "api", Lifetime: lifetime,
			AllowedCIDRs: []string{"2001:db8::/32", "10.0.0.0/8", "10.0.0.0/8"},
			RateLimit:    store.RateLimit{Requests: 100, Per: time.Minute}}
		if _, err := f.reg.CreateToken(ctx, spec); err != nil {
			t.Fatal(err)
		}
		check := func(t *testing.T, cidrs []string, rl store.RateLimit) {
			t.Helper()
			ti, err := f.reg.Token(ctx, "api")
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(ti.AllowedCIDRs, cidrs) || ti.RateLimit != rl {
				t.Fatalf("token: allowed %#v, rate %+v; want %#v, %+v", ti.AllowedCIDRs, ti.RateLimit, cidrs, rl)
			}
		}
		lastEvent := func(t *testing.T) map[string]string {
			t.Helper()
			chain := storetest.AuditChain(t, f.st)
			return chain[len(chain)-1].Details
		}
		t.Run("created", func(t *testing.T) {
			check(t, []string{"10.0.0.0/8", "2001:db8::/32"}, spec.RateLimit)
			d := lastEvent(t)
			if d["allowed_cidrs"] != "10.0.0.0/8,2001:db8::/32" || d["rate_limit"] != "100/1m" {
				t.Fatalf("audit details = %v", d)
			}
		})
		t.Run("updated in place", func(t *testing.T) {
			spec.AllowedCIDRs, spec.RateLimit = []string{"192.0.2.0/24"}, store.RateLimit{Requests: 10, Per: time.Second}
			if _, err := f.reg.UpdateToken(ctx, spec); err != nil {
				t.Fatal(err)
			}
			check(t, []string{"192.0.2.0/24"}, spec.RateLimit)
			d := lastEvent(t)
			want := map[string]string{"allowed_cidrs": "192.0.2.0/24", "rate_limit": "10/1s",
				"allowed_cidrs_before": "10.0.0.0/8,2001:db8::/32", "rate_limit_before": "100/1m"}
			for k, v := range want {
				if d[k] != v {
					t.Errorf("audit details[%s] = %q, want %q", k, d[k], v)
				}
			}
		})
		t.Run("cleared", func(t *testing.T) {
			spec.AllowedCIDRs, spec.RateLimit = []string{}, store.RateLimit{}
			if _, err := f.reg.UpdateToken(ctx, spec); err != nil {
				t.Fatal(err)
			}
			check(t, nil, store.RateLimit{})
			if d := lastEvent(t); d["allowed_cidrs"] != "" || d["rate_limit"] != "" || d["rate_limit_before"] != "10/1s" {
				t.Fatalf("audit details = %v", d)
			}
		})
		t.Run("invalid", func(t *testing.T) {
			before := len(storetest.AuditChain(t, f.st))
			for field, bad := range map[string]registry.TokenSpec{
				"allowed_cidrs":       {Name: "api", Lifetime: lifetime, AllowedCIDRs: []string{"10.0.0.1/8"}},
				"rate_limit.requests": {Name: "api", Lifetime: lifetime, RateLimit: store.RateLimit{Per: time.Minute}},
				"rate_limit.per":      {Name: "api", Lifetime: lifetime, RateLimit: store.RateLimit{Requests: 1, Per: time.Millisecond}},
			} {
				for verb, do := range map[string]func(registry.TokenSpec) error{
					"create": func(s registry.TokenSpec) error { s.Name = "other"; _, err := f.reg.CreateToken(ctx, s); return err },
					"update": func(s registry.TokenSpec) error { _, err := f.reg.UpdateToken(ctx, s); return err },
				} {
					var ie *registry.InvalidError
					if err := do(bad); !errors.As(err, &ie) || ie.Field != field {
						t.Errorf("%s with a bad %s: got %v", verb, field, err)
					}
				}
			}
			if after := len(storetest.AuditChain(t, f.st)); after != before {
				t.Fatalf("refused changes wrote %d audit events", after-before)
			}
			check(t, nil, store.RateLimit{})
		})
	})
}

// FuzzCheckCIDR: whatever CheckCIDR accepts is a network in the form
// net/netip prints it, so the store and tokenward serve read it alike.
func FuzzCheckCIDR(f *testing.F) {
	for _, s := range []string{"10.0.0.0/8", "10.0.0.1/8", "2001:db8::/32", "::ffff:10.0.0.0/104", "192.0.2.7", "", "1.2.3.4/33"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if registry.CheckCIDR(s) != nil {
			return
		}
		p, err := netip.ParsePrefix(s)
		if err != nil || p.Masked().String() != s || p.Addr().Is4In6() {
			t.Fatalf("CheckCIDR accepted %q, which is not canonical (%v, %v)", s, p, err)
		}
	})
}
