package audit

import (
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Checkpoint is a signed statement that event Seq of the chain had hash
// Hash. The chain's hashes need no key, so whoever can write the store can
// rewrite an event and recompute every later hash and the head; a checkpoint
// signed with a key the writer does not hold catches that. It cannot catch
// events cut from the end together with the checkpoints that cover them:
// only a witness kept outside the store (a Head recorded elsewhere) can.
type Checkpoint struct {
	Seq       int64     // the event signed
	Hash      string    // its hash
	Time      time.Time // when it was signed, UTC, microsecond precision
	KeyID     string    // id of the signing key
	Signature []byte    // Ed25519 over SignedBytes
}

// checkpointDomain prefixes what a checkpoint signs, so its signature can
// never be taken for a signature over anything else a key might sign.
const checkpointDomain = "tokenward/audit/checkpoint/v1\x00"

// SignedBytes returns the canonical bytes a checkpoint's signature covers:
// the domain prefix, then the key id, the sequence number, the hash and the
// time in Unix microseconds, each of fixed width or length-prefixed so no
// two checkpoints share their bytes.
func (c Checkpoint) SignedBytes() []byte {
	b := make([]byte, 0, len(checkpointDomain)+4+len(c.KeyID)+8+4+len(c.Hash)+8)
	b = append(b, checkpointDomain...)
	b = appendField(b, c.KeyID)
	b = binary.BigEndian.AppendUint64(b, uint64(c.Seq))
	b = appendField(b, c.Hash)
	return binary.BigEndian.AppendUint64(b, uint64(Normalize(c.Time).UnixMicro()))
}

func appendField(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// VerifySignature reports whether the checkpoint's signature verifies
// under pub.
func (c Checkpoint) VerifySignature(pub ed25519.PublicKey) bool {
	return len(pub) == ed25519.PublicKeySize && len(c.Signature) == ed25519.SignatureSize &&
		ed25519.Verify(pub, c.SignedBytes(), c.Signature)
}

// String returns the head as SEQ:HASH, the form ParseHead reads and a
// witness is kept in.
func (h Head) String() string { return strconv.FormatInt(h.Seq, 10) + ":" + h.Hash }

var hexHash = regexp.MustCompile(`^[0-9a-f]{64}$`)

// ParseHead reads a head written as SEQ:HASH, such as a witness that a
// workflow kept from the output of an earlier run.
func ParseHead(s string) (Head, error) {
	seq, hash, ok := strings.Cut(strings.TrimSpace(s), ":")
	n, err := strconv.ParseInt(seq, 10, 64)
	hash = strings.ToLower(hash)
	if !ok || err != nil || n < 1 || !hexHash.MatchString(hash) {
		return Head{}, fmt.Errorf("%q is not SEQ:HASH, such as 42:%s…, with SEQ an event number from 1 and HASH its 64 hex digits, as tokenward rotate prints in audit-head", s, GenesisHash[:8])
	}
	return Head{Seq: n, Hash: hash}, nil
}

// PastHead is what a store holds past the recorded head of its chain. The
// store moves its head in the transaction that appends, so any such row was
// written around tokenward.
type PastHead struct {
	Head       Head  // the head the rows were compared with
	Event      int64 // the lowest sequence number of an event past it, 0 when none
	Checkpoint int64 // the lowest event a checkpoint past it signs, 0 when none
}

// Source is where VerifySource reads a chain and its checkpoints from; a
// tokenward store is one.
type Source interface {
	AuditHead(ctx context.Context) (Head, error)
	// AuditEvents returns up to limit events with a sequence number above after, in order.
	AuditEvents(ctx context.Context, after int64, limit int) ([]Event, error)
	// AuditCheckpoints returns the checkpoints of events after < seq <= upTo, by seq.
	AuditCheckpoints(ctx context.Context, after, upTo int64) ([]Checkpoint, error)
	AuditPastHead(ctx context.Context) (PastHead, error)
}

// Options say what VerifySource checks beyond the chain itself.
type Options struct {
	// Keys are the checkpoint keys to trust, by key id. Checkpoints signed
	// by them must verify and match the chain, and one of them must cover
	// the chain. Without keys, checkpoints are only compared with the chain
	// and their signatures are not checked.
	Keys map[string]ed25519.PublicKey
	// Witnesses are events kept outside the store that must still be in
	// the chain with these hashes.
	Witnesses []Head
	// PageSize is how many events are read at a time; 1000 when 0.
	PageSize int
}

// Report is what VerifySource found in a chain that verified.
type Report struct {
	Head        Head           // the head verified
	Checkpoints int            // checkpoints that match the chain
	Signed      Head           // the latest event covered by a checkpoint whose signature was verified; Seq 0 when none
	SignedBy    map[string]int // checkpoints verified, by key id
	Unchecked   map[string]int // checkpoints whose signature was not checked, by key id
	Witnesses   int            // witnesses that matched
}

// VerifySource verifies the chain of src in constant memory: every event
// against the one before it, the end against the recorded head, every
// checkpoint against the event it signs, the signatures of checkpoints by
// opts.Keys, each witness against its event, and that nothing is stored past
// the head. A chain that fails returns a *ChainError naming the event; any
// other error means the source could not be read. Events appended while it
// runs are past the head it read first and are not judged.
func VerifySource(ctx context.Context, src Source, opts Options) (Report, error) {
	page := opts.PageSize
	if page <= 0 {
		page = 1000
	}
	head, err := src.AuditHead(ctx)
	if err != nil {
		return Report{}, err
	}
	rep := Report{Head: head, SignedBy: map[string]int{}, Unchecked: map[string]int{}}
	witnesses := map[int64]string{}
	for _, w := range opts.Witnesses {
		if w.Seq > head.Seq {
			return rep, &ChainError{Seq: w.Seq, Reason: fmt.Sprintf("missing, but a witness kept it with hash %s: the chain ends at event %d, so events were cut from the end (rolled back)", w.Hash, head.Seq)}
		}
		witnesses[w.Seq] = w.Hash
	}
	v := NewVerifier()
	var after int64
	for after < head.Seq {
		events, err := src.AuditEvents(ctx, after, page)
		if err != nil {
			return rep, err
		}
		if len(events) == 0 {
			break
		}
		hashes := make(map[int64]string, len(events))
		from := after
		for _, e := range events {
			if e.Seq > head.Seq {
				break // appended after the head was read, or past it: see below
			}
			if err := v.Add(e); err != nil {
				return rep, err
			}
			if want, ok := witnesses[e.Seq]; ok {
				if want != e.Hash {
					return rep, &ChainError{Seq: e.Seq, Reason: fmt.Sprintf("hash %s differs from the witness kept outside the store (%s): the chain was rewritten from here or earlier", e.Hash, want)}
				}
				rep.Witnesses++
			}
			hashes[e.Seq] = e.Hash
			after = e.Seq
		}
		if after == from {
			break
		}
		cps, err := src.AuditCheckpoints(ctx, from, after)
		if err != nil {
			return rep, err
		}
		for _, c := range cps {
			if err := rep.check(c, hashes, opts.Keys); err != nil {
				return rep, err
			}
		}
	}
	if err := v.Finish(head); err != nil {
		return rep, err
	}
	if err := pastHead(ctx, src, opts.Keys); err != nil {
		return rep, err
	}
	if len(opts.Keys) > 0 && head.Seq > 0 && rep.Signed.Seq == 0 {
		return rep, &ChainError{Seq: head.Seq, Reason: fmt.Sprintf("no checkpoint signed by the given keys (%s) covers the chain: its checkpoints were removed, or these keys are not the ones tokenward audit pubkey prints for this store", strings.Join(keyIDs(opts.Keys), ", "))}
	}
	return rep, nil
}

// check compares one checkpoint with the hash of the event it signs.
func (rep *Report) check(c Checkpoint, hashes map[int64]string, keys map[string]ed25519.PublicKey) error {
	hash, ok := hashes[c.Seq]
	if !ok {
		return &ChainError{Seq: c.Seq, Reason: "a checkpoint names an event that was not read"}
	}
	pub, trusted := keys[c.KeyID]
	if !trusted {
		if hash != c.Hash {
			return &ChainError{Seq: c.Seq, Reason: fmt.Sprintf("differs from its checkpoint of %s (key %s, signature not checked): the event or the checkpoint was changed", stamp(c.Time), c.KeyID)}
		}
		rep.Checkpoints++
		rep.Unchecked[c.KeyID]++
		return nil
	}
	if !c.VerifySignature(pub) {
		return &ChainError{Seq: c.Seq, Reason: fmt.Sprintf("the checkpoint of key %s does not verify: it was forged or changed", c.KeyID)}
	}
	if hash != c.Hash {
		return &ChainError{Seq: c.Seq, Reason: fmt.Sprintf("differs from what key %s signed at %s: an event from %d to %d was changed and the hashes after it recomputed", c.KeyID, stamp(c.Time), rep.Signed.Seq+1, c.Seq)}
	}
	rep.Checkpoints++
	rep.SignedBy[c.KeyID]++
	rep.Signed = Head{Seq: c.Seq, Hash: c.Hash}
	return nil
}

// pastHead fails when the store holds an event or a checkpoint past its
// head: a row added around tokenward, or events cut from the end with the
// head moved back and their checkpoints left behind.
func pastHead(ctx context.Context, src Source, keys map[string]ed25519.PublicKey) error {
	past, err := src.AuditPastHead(ctx)
	if err != nil {
		return err
	}
	if past.Event > 0 {
		return &ChainError{Seq: past.Event, Reason: fmt.Sprintf("stored past the recorded head (event %d): a row was added to the audit log outside tokenward", past.Head.Seq)}
	}
	if past.Checkpoint == 0 {
		return nil
	}
	reason := fmt.Sprintf("missing, but a checkpoint signs it: the chain ends at event %d, so events were cut from the end (or the checkpoint was forged)", past.Head.Seq)
	cps, err := src.AuditCheckpoints(ctx, past.Checkpoint-1, past.Checkpoint)
	if err != nil {
		return err
	}
	for _, c := range cps {
		if pub, ok := keys[c.KeyID]; ok {
			if c.VerifySignature(pub) {
				reason = fmt.Sprintf("missing, but key %s signed it at %s: the chain ends at event %d, so events were cut from the end", c.KeyID, stamp(c.Time), past.Head.Seq)
			} else {
				reason = fmt.Sprintf("missing, and a forged checkpoint of key %s names it past the end of the chain (event %d)", c.KeyID, past.Head.Seq)
			}
			break
		}
	}
	return &ChainError{Seq: past.Checkpoint, Reason: reason}
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func keyIDs(keys map[string]ed25519.PublicKey) []string {
	ids := make([]string, 0, len(keys))
	for id := range keys {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// IsChainError tells whether err says the chain does not verify, rather
// than that it could not be read.
func IsChainError(err error) bool {
	var ce *ChainError
	return errors.As(err, &ce)
}
