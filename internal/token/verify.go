package token

import (
	"context"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
	"strings"
	"time"
)

// Code is the outcome of verifying a token; callers switch on it.
type Code string

// Verification outcomes.
const (
	Valid             Code = "valid"
	Malformed         Code = "malformed"
	NotFound          Code = "not_found"
	Revoked           Code = "revoked"
	Expired           Code = "expired"
	InsufficientScope Code = "insufficient_scope"
)

// State is where a token version is in its rotation lifecycle.
type State string

// Version states. Pending, current and previous versions all verify until
// they expire.
const (
	StatePending  State = "pending"
	StateCurrent  State = "current"
	StatePrevious State = "previous"
	StateRevoked  State = "revoked"
)

// Record is what the store knows about one version.
type Record struct {
	VersionID string
	TokenName string
	Hash      [32]byte
	State     State
	ExpiresAt time.Time
	Scopes    []string // effective scopes of the token
}

// Lookup finds a version by id; it returns nil when there is none. err is
// for I/O failures only.
type Lookup func(ctx context.Context, versionID string) (*Record, error)

// Result is the outcome of Verify.
type Result struct {
	Code      Code
	VersionID string // the presented id; empty when Malformed
	TokenName string // filled only once the secret matched
	Scopes    []string
	ExpiresAt time.Time
}

// Valid reports whether the token was accepted.
func (r Result) Valid() bool { return r.Code == Valid }

// Verify checks value against the store reached through lookup and reports
// whether it grants every required scope at now. The error is non-nil only
// when lookup fails; every other outcome is a Result code.
//
// A wrong secret for an existing id is reported as NotFound, like an
// unknown id, and reveals nothing about the record. A version in a state
// Verify does not know is treated as revoked.
func Verify(ctx context.Context, value string, required []string, now time.Time, lookup Lookup) (Result, error) {
	p, err := Parse(value)
	if err != nil {
		return Result{Code: Malformed}, nil
	}
	rec, err := lookup(ctx, p.ID)
	if err != nil {
		return Result{}, fmt.Errorf("verify token: look up version %s: %w", p.ID, err)
	}
	// Hash and compare even when the id is unknown, so the secret check
	// costs the same on both not-found paths. (Ids are not secret: the
	// lookup itself may take longer for a known id.)
	want := &[32]byte{}
	if rec != nil {
		want = &rec.Hash
	}
	h := HashSecret(p.Secret)
	if !equal(&h, want) || rec == nil {
		return Result{Code: NotFound, VersionID: p.ID}, nil
	}
	return Result{
		Code:      check(rec, required, now),
		VersionID: p.ID,
		TokenName: rec.TokenName,
		Scopes:    rec.Scopes,
		ExpiresAt: rec.ExpiresAt,
	}, nil
}

// check returns the code for a version whose secret matched.
func check(rec *Record, required []string, now time.Time) Code {
	switch {
	case !live(rec.State):
		return Revoked
	case !now.Before(rec.ExpiresAt):
		return Expired
	case !grantsAll(rec.Scopes, required):
		return InsufficientScope
	}
	return Valid
}

// equal reports whether a and b are equal, in time independent of their
// contents. It does what subtle.ConstantTimeCompare does a word rather than a
// byte at a time, which matters on the Verify hot path.
func equal(a, b *[32]byte) bool {
	var diff uint64
	for i := 0; i < len(a); i += 8 {
		diff |= binary.LittleEndian.Uint64(a[i:]) ^ binary.LittleEndian.Uint64(b[i:])
	}
	return subtle.ConstantTimeEq(int32(uint32(diff>>32)|uint32(diff)), 0) == 1
}

// live reports whether s is a state in which a version may verify. Unknown
// states fail closed.
func live(s State) bool {
	switch s {
	case StatePending, StateCurrent, StatePrevious:
		return true
	}
	return false
}

// grantsAll reports whether granted covers every required scope.
func grantsAll(granted, required []string) bool {
	for _, r := range required {
		if !Grants(granted, r) {
			return false
		}
	}
	return true
}

// Grants reports whether the granted scopes cover the required scope. A
// scope is `resource:action`; `resource:*` grants every action of that
// resource. Comparison is exact and case-sensitive. The action is what
// follows the last colon, so `org:*` does not grant `org:billing:read`.
func Grants(granted []string, required string) bool {
	for _, g := range granted {
		if g == required {
			return true
		}
		// g is "resource:*" and required is "resource:action".
		n := len(g) - 1 // length of "resource:"
		if n > 1 && g[n] == '*' && g[n-1] == ':' && len(required) > n &&
			required[:n] == g[:n] && strings.IndexByte(required[n:], ':') < 0 {
			return true
		}
	}
	return false
}
