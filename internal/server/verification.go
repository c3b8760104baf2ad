package server

import (
	"context"
	"net/netip"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/token"
)

// Codes the runtime adds to token.Verify's.
const (
	// IPDenied: the token may not be used from the source address, or the
	// source address is unknown and the token has allowed networks.
	IPDenied token.Code = "ip_denied"
	// RateLimited: the token was used more often than its rate limit allows
	// on this instance.
	RateLimited token.Code = "rate_limited"
	// Unavailable: no current snapshot of the store; verification fails
	// closed.
	Unavailable token.Code = "unavailable"
)

// outcome is one verification: the result, the entry once the secret
// matched, and how long a rate-limited use must wait.
type outcome struct {
	token.Result
	entry      *Entry // nil unless the secret matched
	retryAfter time.Duration
	// honeytoken: the presented version belongs to a honeytoken. The
	// answer never shows it; the usage event and the detectors do.
	honeytoken bool
}

// verifyOnce verifies value for the required scopes, used from src (invalid
// when unknown): the one verification every endpoint shares. It parses and
// checksums the value before any lookup, looks its version up once in the
// current snapshot, compares the secret's hash in constant time
// (token.Verify), then checks the token's allowed networks against src and,
// when count, counts the use against the token's rate limit on this
// instance.
func (s *Server) verifyOnce(value string, required []string, src netip.Addr, count bool) outcome {
	snap, err := s.src.Current()
	if err != nil || snap == nil {
		return outcome{Result: token.Result{Code: Unavailable}}
	}
	var entry *Entry
	lookup := func(_ context.Context, id string) (*token.Record, error) {
		if entry = snap.Lookup(id); entry == nil {
			return nil, nil
		}
		return &entry.Record, nil
	}
	now := s.now()
	// The lookup never fails: the snapshot is in memory.
	res, _ := token.Verify(context.Background(), value, required, now, lookup)
	out := outcome{Result: res}
	if res.TokenName == "" {
		return out // malformed, or no version with that secret
	}
	out.entry = entry
	info := entry.Token
	if info != nil && info.Retired && live(res.Code) {
		out.Code = token.Revoked // a destroyed token's versions never verify
	}
	if !live(out.Code) || info == nil {
		return out
	}
	if !allowedFrom(info.AllowedCIDRs, src) {
		out.Code = IPDenied
		return out
	}
	if !count {
		return out
	}
	if wait, ok := s.limits.allow(info.ID, info.RateLimit, now); !ok {
		out.Code, out.retryAfter = RateLimited, wait
	}
	return out
}

// live reports whether a code is one a use from an allowed network would
// turn into a success or a scope refusal: only such uses are checked against
// the networks and counted against the rate limit.
func live(c token.Code) bool { return c == token.Valid || c == token.InsufficientScope }

// allowedFrom reports whether a token restricted to nets may be used from
// addr. No restriction allows any source, even an unknown one; with one, an
// unknown (invalid) address is refused: fail closed.
func allowedFrom(nets []netip.Prefix, addr netip.Addr) bool {
	if len(nets) == 0 {
		return true
	}
	if !addr.IsValid() {
		return false
	}
	addr = addr.Unmap().WithZone("")
	for _, p := range nets {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}
