package review

import (
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/duration"
	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
)

// tokenRestrictions details a token's allowed_cidrs and rate_limit, and
// flags an update that lifts or loosens them: a leaked value then works
// from more places, or more often.
func tokenRestrictions(ch *Change, r resource) {
	cidrsBefore, cidrsAfter := r.list(false, "allowed_cidrs"), r.list(true, "allowed_cidrs")
	if len(cidrsBefore)+len(cidrsAfter) > 0 || r.hidden("allowed_cidrs") {
		ch.Details = append(ch.Details, "allowed_cidrs: "+listChange(r, "allowed_cidrs", cidrsBefore, cidrsAfter))
	}
	limitBefore, okBefore := rateLimitOf(r, false)
	limitAfter, okAfter := rateLimitOf(r, true)
	if okBefore || okAfter || r.hidden("rate_limit") {
		ch.Details = append(ch.Details, "rate_limit: "+showRateLimit(r, limitBefore, okBefore, limitAfter, okAfter))
	}
	if r.after == nil {
		return
	}
	for _, attr := range []string{"allowed_cidrs", "rate_limit"} {
		if r.unknown(attr) && !r.sensitive(attr) {
			ch.flag(Warn, Reach, "%s is known only after apply: review the token's restrictions in the plan", attr)
		}
	}
	// A decoy's restrictions guard nothing: none of its values verifies.
	if ch.Action != Update && ch.Action != Replace || ch.Honeytoken {
		return
	}
	name := label(ch.Name)
	if !r.hidden("allowed_cidrs") && !r.sensitive("allowed_cidrs") {
		switch wider := uncovered(cidrsBefore, cidrsAfter); {
		case len(cidrsBefore) > 0 && len(cidrsAfter) == 0:
			ch.flag(High, Reach, "allowed_cidrs is removed: token %s can be used from any address (it was limited to %s)", name, codes(cidrsBefore))
		case len(cidrsBefore) > 0 && len(wider) > 0:
			ch.flag(Warn, Reach, "allowed_cidrs is widened: token %s can be used from %s too", name, codes(wider))
		}
	}
	if okBefore && !r.hidden("rate_limit") {
		switch {
		case !okAfter:
			ch.flag(Warn, Privilege, "rate_limit is removed: token %s can be used as often as callers like (it was limited to %s)", name, code(limitBefore.String()))
		case limitAfter.requests > limitBefore.requests || limitAfter.per < limitBefore.per:
			ch.flag(Warn, Privilege, "rate_limit is raised from %s to %s: token %s can be used more often", code(limitBefore.String()), code(limitAfter.String()), name)
		}
	}
}

// rateLimit is a token's rate_limit as the plan holds it.
type rateLimit struct {
	requests float64
	per      time.Duration
}

func (l rateLimit) String() string {
	return fmt.Sprintf("%g per %s", l.requests, duration.Format(l.per))
}

// rateLimitOf reads rate_limit on one side; false when it is unset, hidden
// or not a rate limit.
func rateLimitOf(r resource, after bool) (rateLimit, bool) {
	if r.side(after) == nil || r.sensitive("rate_limit") || (after && r.unknown("rate_limit")) {
		return rateLimit{}, false
	}
	o, ok := r.side(after)["rate_limit"].(map[string]any)
	if !ok {
		return rateLimit{}, false
	}
	requests, okR := o["requests"].(float64)
	per, err := duration.Parse(str(o["per"]))
	if !okR || err != nil {
		return rateLimit{}, false
	}
	return rateLimit{requests: requests, per: per}, true
}

// showRateLimit renders rate_limit as "before → after", or as its value
// when it did not change or exists on one side only.
func showRateLimit(r resource, before rateLimit, okBefore bool, after rateLimit, okAfter bool) string {
	show := func(l rateLimit, ok bool) string {
		if !ok {
			return "none"
		}
		return code(l.String())
	}
	switch {
	case r.sensitive("rate_limit"):
		return sensitiveText
	case r.after != nil && r.unknown("rate_limit"):
		return unknownText
	case r.after == nil:
		return show(before, okBefore)
	case r.before != nil && (okBefore != okAfter || before != after):
		return show(before, okBefore) + " → " + show(after, okAfter)
	}
	return show(after, okAfter)
}

// uncovered returns the networks of after that no network of before holds
// whole: those added, or a prefix shortened. What does not parse counts as
// uncovered, since the review cannot tell what it allows.
func uncovered(before, after []string) []string {
	var was []netip.Prefix
	for _, s := range before {
		if p, err := netip.ParsePrefix(s); err == nil {
			was = append(was, p.Masked())
		}
	}
	var out []string
	for _, s := range after {
		p, err := netip.ParsePrefix(s)
		if err == nil && slices.ContainsFunc(was, func(w netip.Prefix) bool { return w.Bits() <= p.Bits() && w.Contains(p.Addr()) }) {
			continue
		}
		out = append(out, s)
	}
	return out
}

// introspection flags a token that comes to hold tokenward:introspect,
// directly or through a role: it can then ask tokenward serve whether any
// token is valid, and so test values it finds. before are the token's
// effective scopes before the change (none for a new token).
func introspection(ch *Change, w world, g grants, before []string) {
	after, _ := w.effective(g.scopesAfter, g.rolesAfter)
	const s = registry.ScopeIntrospect
	if !slices.Contains(after, s) || slices.Contains(before, s) {
		return
	}
	how := ""
	if !slices.Contains(g.scopesAfter, s) {
		how = ", through " + roleNames(w.through(s, g.rolesAfter)) + ","
	}
	ch.flag(Warn, Privilege, "built-in scope %s is granted%s: token %s can check whether any token is valid through tokenward serve's introspection and verify endpoints",
		code(s), how, label(ch.Name))
}
