package registry

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/duration"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
)

// MinRateLimitPer is the shortest window a rate limit may count uses over.
const MinRateLimitPer = time.Second

// CheckCIDR reports whether s is a network a token may be restricted to:
// an IPv4 or IPv6 CIDR in its canonical form (no host bits set, lower case,
// IPv4 not written as IPv6), as net/netip prints it. The error says what to
// write instead.
func CheckCIDR(s string) error {
	const field = "allowed_cidrs"
	p, err := netip.ParsePrefix(s)
	if err != nil {
		if a, aerr := netip.ParseAddr(s); aerr == nil && a.Zone() == "" {
			return invalid(field, "%s is an address, not a network: write %s for that address alone", Quote(s), netip.PrefixFrom(a, a.BitLen()))
		}
		return invalid(field, "%s is not a CIDR: write a network as address/prefix length, such as 10.0.0.0/8, 192.0.2.7/32 or 2001:db8::/32", Quote(s))
	}
	if p.Addr().Is4In6() {
		if p.Bits() >= 96 {
			return invalid(field, "%s is an IPv4 network written as IPv6: write %s", Quote(s), netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96).Masked())
		}
		return invalid(field, "%s mixes IPv4-mapped addresses with others: write the IPv4 networks as IPv4, such as 10.0.0.0/8", Quote(s))
	}
	canonical := p.Masked()
	switch {
	case canonical.Addr() != p.Addr():
		return invalid(field, "%s has bits set past its prefix length: write %s for the whole network, or %s for the one address",
			Quote(s), canonical, netip.PrefixFrom(p.Addr(), p.Addr().BitLen()))
	case canonical.String() != s:
		return invalid(field, "%s is not written canonically: write %s", Quote(s), canonical)
	}
	return nil
}

// CheckRateLimit reports whether a rate limit is usable: the zero value (no
// limit), or at least one request per at least MinRateLimitPer.
func CheckRateLimit(l store.RateLimit) error {
	switch {
	case l == store.RateLimit{}:
		return nil
	case l.Requests < 1:
		return invalid("rate_limit.requests", "must be at least 1, such as 100 with per = \"1m\" for 100 uses a minute")
	case l.Per < MinRateLimitPer:
		return invalid("rate_limit.per", "must be at least %s, such as 1m; %s is shorter", duration.Format(MinRateLimitPer), duration.Format(l.Per))
	}
	return nil
}

// FormatRateLimit is a rate limit as audit details and messages show it,
// such as 100/1m; "" for none.
func FormatRateLimit(l store.RateLimit) string {
	if l == (store.RateLimit{}) {
		return ""
	}
	return fmt.Sprintf("%d/%s", l.Requests, duration.Format(l.Per))
}

func checkRestrictions(spec TokenSpec) error {
	for _, c := range spec.AllowedCIDRs {
		if err := CheckCIDR(c); err != nil {
			return err
		}
	}
	return CheckRateLimit(spec.RateLimit)
}

// restrictionDetails records a token's restrictions in audit details, as
// "allowed_cidrs" and "rate_limit" followed by suffix ("_before" for what
// an update replaced, as "scopes_before").
func restrictionDetails(d map[string]string, suffix string, tk store.Token) {
	d["allowed_cidrs"+suffix] = strings.Join(tk.AllowedCIDRs, ",")
	d["rate_limit"+suffix] = FormatRateLimit(tk.RateLimit)
}

// optionalSet is sortedSet, nil for no values, as the store returns them.
func optionalSet(in []string) []string {
	if len(in) == 0 {
		return nil
	}
	return sortedSet(in)
}
