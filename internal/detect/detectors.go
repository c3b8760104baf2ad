package detect

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/store"
	"github.com/tokenward/terraform-provider-tokenward/internal/token"
)

// Outcome codes the detectors read beyond token.Verify's (the server's).
const (
	codeIPDenied    = "ip_denied"
	codeRateLimited = "rate_limited"
)

// network is the /24 (IPv4) or /48 (IPv6) of an address.
func network(ip string) (netip.Prefix, bool) {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return netip.Prefix{}, false
	}
	a = a.Unmap().WithZone("")
	bits := 48
	if a.Is4() {
		bits = 24
	}
	p, _ := a.Prefix(bits)
	return p, true
}

// liveUse reports whether a code is a use of a token its secret matched and
// that was not refused for its state: what a network baseline and a rate
// are made of.
func liveUse(code string) bool {
	switch token.Code(code) {
	case token.Valid, token.InsufficientScope, codeRateLimited:
		return true
	}
	return false
}

// failed reports whether a code is a failed verification a scanner causes:
// a value that does not verify, or a caller refused. Refusals that are not
// about the value (a bad request, the store unavailable, a rate limit) and
// scope refusals (counted per token) are not.
func failed(code string) bool {
	switch code {
	case string(token.Malformed), string(token.NotFound), string(token.Revoked), string(token.Expired),
		codeIPDenied, "invalid_client", "caller_denied":
		return true
	}
	return false
}

// observe runs every detector on one event.
func (e *Engine) observe(ctx context.Context, ev store.UsageEvent) {
	net, hasNet := network(ev.SourceIP)
	base := func(detector, severity, detail string, evidence map[string]string) store.Alert {
		a := store.Alert{At: ev.At, Detector: detector, Severity: severity, TokenID: ev.TokenID,
			TokenName: ev.TokenName, SourceIP: ev.SourceIP, Detail: detail, Evidence: evidence}
		if hasNet {
			a.Network = net.String()
		}
		return a
	}
	if ev.Honeytoken {
		// Answered as an unknown token; nothing else about it matters.
		e.Raise(ctx, base(HoneytokenUsed, store.SeverityCritical,
			fmt.Sprintf("honeytoken %s was presented from %s", orUnknown(ev.TokenName), orUnknown(ev.SourceIP)),
			map[string]string{"source_ip": ev.SourceIP, "user_agent": ev.UserAgent, "method": ev.Method,
				"path": ev.Path, "endpoint": ev.Endpoint, "version": ev.VersionID, "fingerprint": ev.Fingerprint}))
		return
	}
	if hasNet && failed(ev.Code) {
		b, ok := e.failures.get(net)
		if !ok {
			b = newBurst(e.cfg.FailureBurst.N)
			e.failures.put(net, b)
		}
		if b.add(ev.At, e.cfg.FailureBurst.Window) {
			a := base(FailureBurst, store.SeverityHigh,
				fmt.Sprintf("%d failed verifications from %s within %s (scanning?)", e.cfg.FailureBurst.N, net, e.cfg.FailureBurst.Window),
				map[string]string{"kind": "scanning", "failures": strconv.Itoa(e.cfg.FailureBurst.N),
					"window": e.cfg.FailureBurst.Window.String(), "last_code": ev.Code, "endpoint": ev.Endpoint})
			// Scanning is about the network, whatever values it tries.
			a.TokenID, a.TokenName = "", ""
			e.Raise(ctx, a)
		}
	}
	switch token.Code(ev.Code) {
	case token.Revoked, token.Expired:
		e.versionUsed(ctx, ev, base)
	case codeIPDenied:
		e.Raise(ctx, base(IPDenied, store.SeverityHigh,
			fmt.Sprintf("token %s was used from %s, outside its allowed networks", orUnknown(ev.TokenName), orUnknown(ev.SourceIP)),
			map[string]string{"version": ev.VersionID, "fingerprint": ev.Fingerprint, "endpoint": ev.Endpoint,
				"user_agent": ev.UserAgent, "path": ev.Path}))
	case token.InsufficientScope:
		e.probe(ctx, ev, base)
	}
	if ev.TokenName == "" || !liveUse(ev.Code) {
		return
	}
	ts, ok := e.tokens.get(ev.TokenName)
	if !ok {
		ts = e.newTokenState(ev.At)
		e.tokens.put(ev.TokenName, ts)
	}
	if hasNet {
		e.newNetwork(ctx, ev, ts, net, base)
	}
	e.rateSpike(ctx, ev, ts, base)
}

type alertFunc func(detector, severity, detail string, evidence map[string]string) store.Alert

// versionUsed raises revoked_version_used or expired_version_used. Verify
// answers revoked for a revoked version (and the server for any version of
// a destroyed token), and expired both for a previous version past its
// overlap (until the rotation run revokes it) and for a current one past
// its ttl: the version's state tells those two apart.
func (e *Engine) versionUsed(ctx context.Context, ev store.UsageEvent, base alertFunc) {
	ev2 := map[string]string{"version": ev.VersionID, "fingerprint": ev.Fingerprint, "code": ev.Code,
		"endpoint": ev.Endpoint, "user_agent": ev.UserAgent, "path": ev.Path}
	var info VersionInfo
	known := false
	if e.versions != nil && ev.VersionID != "" {
		info, known = e.versions(ev.VersionID)
	}
	if known {
		ev2["state"] = string(info.State)
		if !info.ExpiresAt.IsZero() {
			ev2["expires_at"] = info.ExpiresAt.UTC().Format(time.RFC3339)
		}
	}
	var reason string
	switch {
	case ev.Code == string(token.Revoked) && known && info.Retired:
		reason = "token destroyed"
	case ev.Code == string(token.Revoked):
		reason = "version revoked"
	case known && info.State == token.StatePrevious:
		reason = "overlap ended"
	default:
		ev2["reason"] = "ttl ended"
		e.Raise(ctx, base(ExpiredVersionUsed, store.SeverityWarn,
			fmt.Sprintf("an expired version of %s was presented from %s", orUnknown(ev.TokenName), orUnknown(ev.SourceIP)), ev2))
		return
	}
	ev2["reason"] = reason
	a := base(RevokedVersionUsed, store.SeverityHigh,
		fmt.Sprintf("a version of %s that no longer verifies (%s) was presented from %s: a consumer that was never updated, or a copy that leaked",
			orUnknown(ev.TokenName), reason, orUnknown(ev.SourceIP)), ev2)
	if e.cfg.OnRevokedVersionUsed == RespondRevoke && ev.TokenName != "" && reason != "token destroyed" {
		if !e.isNew(a) {
			return // already raised and answered within the window
		}
		if _, done := e.answered.get(ev.VersionID); done && ev.VersionID != "" {
			// This version took the token out once: presenting it again
			// (from another network, after the token was rotated anew)
			// alerts, and revokes nothing more.
			a.Evidence["response"], a.Evidence["revoked"] = RespondRevoke, "false"
			a.Detail += "; the token was revoked for this version already, so nothing more is revoked"
		} else {
			e.answered.put(ev.VersionID, ev.At)
			e.respondRevoke(ctx, &a)
		}
	}
	e.Raise(ctx, a)
}

// respondRevoke carries out on_revoked_version_used = "revoke" and says in
// the alert what happened.
func (e *Engine) respondRevoke(ctx context.Context, a *store.Alert) {
	a.Evidence["response"] = RespondRevoke
	if e.revoker == nil {
		a.Evidence["revoked"] = "false"
		a.Detail += "; the token could not be revoked: " + orUnknown(e.noRevoke)
		return
	}
	n, err := e.revoker.RevokeTokenVersions(ctx, a.TokenName, "on_revoked_version_used = revoke (alert "+a.Detector+")")
	if err != nil {
		e.log.Error("revoke after revoked_version_used", "token", a.TokenName, "err", err)
		a.Evidence["revoked"] = "false"
		a.Detail += "; revoking the token failed: " + err.Error()
		return
	}
	a.Evidence["revoked"], a.Evidence["revoked_versions"] = "true", strconv.Itoa(n)
	a.Detail += fmt.Sprintf("; the policy revoked the whole token (%d versions): it verifies no more until rotated", n)
}

// probe counts insufficient_scope answers per token.
func (e *Engine) probe(ctx context.Context, ev store.UsageEvent, base alertFunc) {
	if ev.TokenName == "" {
		return
	}
	b, ok := e.probes.get(ev.TokenName)
	if !ok {
		b = newBurst(e.cfg.ScopeProbe.N)
		e.probes.put(ev.TokenName, b)
	}
	if !b.add(ev.At, e.cfg.ScopeProbe.Window) {
		return
	}
	e.Raise(ctx, base(FailureBurst, store.SeverityHigh,
		fmt.Sprintf("%d insufficient_scope answers for %s within %s (probing?)", e.cfg.ScopeProbe.N, ev.TokenName, e.cfg.ScopeProbe.Window),
		map[string]string{"kind": "probing", "refusals": strconv.Itoa(e.cfg.ScopeProbe.N), "window": e.cfg.ScopeProbe.Window.String(),
			"scopes_required": strings.Join(ev.ScopesRequired, " "), "path": ev.Path, "endpoint": ev.Endpoint}))
}

// newNetwork learns a token's networks and raises new_network for one not
// seen within the history once the learning period is over.
func (e *Engine) newNetwork(ctx context.Context, ev store.UsageEvent, ts *tokenState, net netip.Prefix, base alertFunc) {
	first := len(ts.networks.items) == 0 && ev.At.Equal(ts.firstUse)
	learning := first || ev.At.Before(ts.firstUse.Add(e.cfg.LearningPeriod))
	last, seen := ts.networks.get(net)
	ts.networks.put(net, ev.At)
	if learning || (seen && ev.At.Sub(last) < e.cfg.History) {
		return
	}
	evidence := map[string]string{"network": net.String(), "known_networks": strconv.Itoa(ts.networks.len() - 1),
		"baseline_since": ts.firstUse.UTC().Format(time.RFC3339), "user_agent": ev.UserAgent, "endpoint": ev.Endpoint,
		"version": ev.VersionID}
	if seen {
		evidence["last_seen"] = last.UTC().Format(time.RFC3339)
	}
	e.Raise(ctx, base(NewNetwork, store.SeverityWarn,
		fmt.Sprintf("token %s was used from %s, a network it has not been used from in the last %s", ev.TokenName, net, days(e.cfg.History)),
		evidence))
}

// rateSpike raises rate_spike when a token's current bucket is far above its
// moving baseline and above the absolute floor.
func (e *Engine) rateSpike(ctx context.Context, ev store.UsageEvent, ts *tokenState, base alertFunc) {
	n := ts.rate.observe(ev.At, e.cfg.RateBucket, e.cfg.RateAlpha)
	if ts.rate.buckets < e.cfg.RateWarmup || n <= e.cfg.RateFloor || float64(n) <= ts.rate.limit(e.cfg.RateK) {
		return
	}
	a := base(RateSpike, store.SeverityWarn,
		fmt.Sprintf("token %s was used %d times in %s, far above its usual %.1f", ev.TokenName, n, e.cfg.RateBucket, ts.rate.mean),
		map[string]string{"uses": strconv.Itoa(n), "bucket": ts.rate.bucket.UTC().Format(time.RFC3339),
			"bucket_size": e.cfg.RateBucket.String(), "mean": strconv.FormatFloat(ts.rate.mean, 'f', 2, 64),
			"limit": strconv.FormatFloat(ts.rate.limit(e.cfg.RateK), 'f', 2, 64), "floor": strconv.Itoa(e.cfg.RateFloor)})
	// The rate is the token's, wherever it comes from.
	a.Network = ""
	e.Raise(ctx, a)
}

func orUnknown(s string) string {
	if s == "" {
		return "(unknown)"
	}
	return s
}

// days writes a whole number of days as "30d".
func days(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return strconv.Itoa(int(d/(24*time.Hour))) + "d"
	}
	return d.String()
}
