// Package audit defines tokenward's append-only audit events and the hash
// chain that binds them.
//
// Every event carries the hash of the event before it, and its own hash is
// SHA-256(previous hash ‖ canonical JSON of the event). Verification walks the
// chain in sequence order and names the first event that was changed, removed,
// inserted or reordered; comparing the end of the walk with the recorded head
// also catches events cut from the end. Events never carry secrets: callers put
// fingerprints and names in Details, never values.
//
// The hashes need no key, so they show changes only to whoever cannot also
// recompute them. Checkpoints, signed heads of the chain, catch a chain
// rewritten with its hashes recomputed; a head kept outside the store (a
// witness) catches a chain cut back together with its checkpoints.
// VerifySource checks all three.
package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// Outcomes of an audited action.
const (
	Success = "success"
	Failure = "failure"
)

// GenesisHash is the previous hash of the first event of a chain.
const GenesisHash = "0000000000000000000000000000000000000000000000000000000000000000"

// Event is one audited change.
type Event struct {
	Seq      int64             // position in the chain, from 1 without gaps
	Time     time.Time         // when it happened, UTC, microsecond precision
	Actor    string            // who did it: "terraform", "tokenward-action", a user name
	Action   string            // what was done: "token.create", "version.finish"
	Subject  string            // what it was done to: "token/ci-deploy"
	Outcome  string            // Success or Failure
	Details  map[string]string // context without secrets: fingerprints, names, counts
	PrevHash string            // hex hash of the event before, GenesisHash for the first
	Hash     string            // hex hash of this event
}

// Head is the end of a chain: the sequence number and hash of its last event.
type Head struct {
	Seq  int64
	Hash string
}

// Genesis returns the head of an empty chain.
func Genesis() Head { return Head{Seq: 0, Hash: GenesisHash} }

// canonical is the hashed form of an event: fixed field order, UTC time in
// RFC 3339 with microseconds, details with sorted keys (encoding/json sorts
// map keys), so the same event always hashes the same on every engine.
type canonical struct {
	Seq     int64             `json:"seq"`
	Time    string            `json:"time"`
	Actor   string            `json:"actor"`
	Action  string            `json:"action"`
	Subject string            `json:"subject"`
	Outcome string            `json:"outcome"`
	Details map[string]string `json:"details"`
}

// Normalize returns t as the chain stores it: UTC, truncated to microseconds,
// which both SQLite and PostgreSQL keep exactly.
func Normalize(t time.Time) time.Time {
	return t.UTC().Truncate(time.Microsecond)
}

// Link returns e appended after head: its sequence number, previous hash and
// hash set, its time normalized.
func Link(head Head, e Event) Event {
	e.Seq = head.Seq + 1
	e.Time = Normalize(e.Time)
	e.PrevHash = head.Hash
	e.Hash = hashOf(e)
	return e
}

func hashOf(e Event) string {
	details := e.Details
	if details == nil {
		details = map[string]string{}
	}
	body, err := json.Marshal(canonical{
		Seq:     e.Seq,
		Time:    e.Time.UTC().Format("2006-01-02T15:04:05.000000Z"),
		Actor:   e.Actor,
		Action:  e.Action,
		Subject: e.Subject,
		Outcome: e.Outcome,
		Details: details,
	})
	if err != nil {
		// Marshalling strings, an int and a map of strings cannot fail.
		panic(fmt.Sprintf("audit: marshal event: %v", err))
	}
	h := sha256.New()
	h.Write([]byte(e.PrevHash))
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

// ChainError names the first event at which a chain stops verifying.
type ChainError struct {
	Seq    int64  // the sequence number where the chain breaks
	Reason string // what is wrong there
}

func (e *ChainError) Error() string {
	return fmt.Sprintf("audit event %d: %s", e.Seq, e.Reason)
}

// Verifier checks a chain one event at a time, so a chain of any length is
// verified in constant memory. Feed it events in the order they are stored.
type Verifier struct {
	head Head
}

// NewVerifier starts verifying a chain from its genesis.
func NewVerifier() *Verifier {
	return &Verifier{head: Genesis()}
}

// Head returns the head of the part of the chain verified so far.
func (v *Verifier) Head() Head { return v.head }

// Add verifies the next event of the chain. It returns a *ChainError naming
// the event where the chain breaks.
func (v *Verifier) Add(e Event) error {
	want := v.head.Seq + 1
	switch {
	case e.Seq > want:
		if e.Seq == want+1 {
			return &ChainError{Seq: want, Reason: "missing: the event was removed or moved later (reordered)"}
		}
		return &ChainError{Seq: want, Reason: fmt.Sprintf("missing: events %d to %d were removed", want, e.Seq-1)}
	case e.Seq < want:
		return &ChainError{Seq: e.Seq, Reason: fmt.Sprintf("out of order: found after event %d (reordered or inserted)", v.head.Seq)}
	}
	if hashOf(e) != e.Hash {
		return &ChainError{Seq: e.Seq, Reason: "hash mismatch: the event was changed"}
	}
	if e.PrevHash != v.head.Hash {
		return &ChainError{Seq: e.Seq, Reason: fmt.Sprintf("does not follow event %d: an event was inserted, removed or reordered before it", v.head.Seq)}
	}
	v.head = Head{Seq: e.Seq, Hash: e.Hash}
	return nil
}

// Finish compares the end of the verified chain with the head the store
// recorded, which catches events cut from the end of the chain.
func (v *Verifier) Finish(recorded Head) error {
	switch {
	case recorded.Seq > v.head.Seq:
		return &ChainError{Seq: v.head.Seq + 1, Reason: fmt.Sprintf("missing: events %d to %d were removed from the end", v.head.Seq+1, recorded.Seq)}
	case recorded.Seq < v.head.Seq:
		return &ChainError{Seq: recorded.Seq + 1, Reason: "inserted: the chain runs past its recorded head"}
	case recorded.Hash != v.head.Hash:
		return &ChainError{Seq: v.head.Seq, Reason: "hash differs from the recorded head: the last event was replaced"}
	}
	return nil
}

// Verify checks a whole chain held in memory against its recorded head.
func Verify(events []Event, recorded Head) error {
	v := NewVerifier()
	for _, e := range events {
		if err := v.Add(e); err != nil {
			return err
		}
	}
	return v.Finish(recorded)
}
