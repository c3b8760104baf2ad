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
	// named is the token the presented version id names, whether or not the
	// secret matched (nil for an unknown id): for the usage log, which names
	// the token of every presentation; never for an answer.
	named *TokenInfo
	// honeytoken is set when the presented version id is a honeytoken's,
	// whatever the secret: any presentation of a decoy's id is suspicious,
	// since only its value (or its fingerprint) shows the id. The Result is
	// then exactly an unknown token's; only the usage log and the
	// honeytoken_used detector read this flag, never an answer, a metric or
	// the log line.
	honeytoken bool
}

// verifyOnce verifies value for the required scopes, used from src (invalid
// when unknown): the one verification every endpoint shares. It parses and
// checksums the value before any lookup, looks its version up once in the
// current snapshot, compares the secret's hash in constant time
// (token.Verify), then checks the token's allowed networks against src and,
// when count, counts the use against the token's rate limit on this
// instance.
//
// A honeytoken's version is handed to token.Verify as not found: Verify
// then does what it does for an unknown id (hash the secret, compare it with
// the dummy hash, answer not_found), and verifyOnce returns where it returns
// for one, before the networks and the rate limit. So the answer is an
// unknown token's to the byte, and the work is the same but for the map
// lookup finding the id, which a real token's wrong secret shares; the
// outcome's honeytoken flag is the only trace.
func (s *Server) verifyOnce(value string, required []string, src netip.Addr, count bool) outcome {
	snap, err := s.src.Current()
	if err != nil || snap == nil {
		return outcome{Result: token.Result{Code: Unavailable}}
	}
	var entry *Entry
	lookup := func(_ context.Context, id string) (*token.Record, error) {
		if entry = snap.Lookup(id); entry == nil || entry.Token.isHoneytoken() {
			return nil, nil
		}
		return &entry.Record, nil
	}
	now := s.now()
	// The lookup never fails: the snapshot is in memory.
	res, _ := token.Verify(context.Background(), value, required, now, lookup)
	out := outcome{Result: res}
	if entry != nil {
		out.named, out.honeytoken = entry.Token, entry.Token.isHoneytoken()
	}
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

// isHoneytoken reports whether t is a honeytoken's; false for nil.
func (t *TokenInfo) isHoneytoken() bool { return t != nil && t.Honeytoken }
