package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"
)

// memory is a Source held in memory, with checkpoints signed by key.
type memory struct {
	events      []Event
	head        Head
	checkpoints []Checkpoint
}

func (m *memory) AuditHead(context.Context) (Head, error) { return m.head, nil }

func (m *memory) AuditEvents(_ context.Context, after int64, limit int) ([]Event, error) {
	var out []Event
	for _, e := range m.events {
		if e.Seq > after && len(out) < limit {
			out = append(out, e)
		}
	}
	return out, nil
}

func (m *memory) AuditCheckpoints(_ context.Context, after, upTo int64) ([]Checkpoint, error) {
	var out []Checkpoint
	for _, c := range m.checkpoints {
		if c.Seq > after && c.Seq <= upTo {
			out = append(out, c)
		}
	}
	return out, nil
}

func (m *memory) AuditPastHead(context.Context) (PastHead, error) {
	p := PastHead{Head: m.head}
	for _, e := range m.events {
		if e.Seq > m.head.Seq && (p.Event == 0 || e.Seq < p.Event) {
			p.Event = e.Seq
		}
	}
	for _, c := range m.checkpoints {
		if c.Seq > m.head.Seq && (p.Checkpoint == 0 || c.Seq < p.Checkpoint) {
			p.Checkpoint = c.Seq
		}
	}
	return p, nil
}

type signer struct {
	id   string
	priv ed25519.PrivateKey
	pub  ed25519.PublicKey
}

func newSigner(t *testing.T, id string) signer {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return signer{id: id, priv: priv, pub: pub}
}

func (s signer) sign(e Event) Checkpoint {
	c := Checkpoint{Seq: e.Seq, Hash: e.Hash, Time: e.Time.Add(time.Second), KeyID: s.id}
	c.Signature = ed25519.Sign(s.priv, c.SignedBytes())
	return c
}

// signedChain is a chain of n events with a checkpoint of every event.
func signedChain(t *testing.T, n int, s signer) *memory {
	events, head := chain(t, n)
	m := &memory{events: events, head: head}
	for _, e := range events {
		m.checkpoints = append(m.checkpoints, s.sign(e))
	}
	return m
}

// rewrite changes event seq of m and recomputes every later hash and the
// head, as anyone who can write the store can: the hashes need no key.
func rewrite(m *memory, seq int64) {
	head := Genesis()
	for i, e := range m.events {
		if e.Seq == seq {
			e.Actor = "mallory"
		}
		if e.Seq >= seq {
			m.events[i] = Link(head, e)
		}
		head = Head{Seq: m.events[i].Seq, Hash: m.events[i].Hash}
	}
	m.head = head
}

func TestSignedBytesBindEveryField(t *testing.T) {
	t.Parallel()
	base := Checkpoint{Seq: 7, Hash: strings.Repeat("a", 64), Time: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC), KeyID: "0123456789abcdef"}
	if !bytes.HasPrefix(base.SignedBytes(), []byte(checkpointDomain)) {
		t.Fatal("signed bytes lack the domain prefix")
	}
	for name, c := range map[string]Checkpoint{
		"seq":    {Seq: 8, Hash: base.Hash, Time: base.Time, KeyID: base.KeyID},
		"hash":   {Seq: 7, Hash: strings.Repeat("b", 64), Time: base.Time, KeyID: base.KeyID},
		"time":   {Seq: 7, Hash: base.Hash, Time: base.Time.Add(time.Microsecond), KeyID: base.KeyID},
		"key id": {Seq: 7, Hash: base.Hash, Time: base.Time, KeyID: "fedcba9876543210"},
	} {
		if bytes.Equal(c.SignedBytes(), base.SignedBytes()) {
			t.Errorf("changing the %s leaves the signed bytes alike", name)
		}
	}
	s := newSigner(t, base.KeyID)
	signed := base
	signed.Signature = ed25519.Sign(s.priv, base.SignedBytes())
	if !signed.VerifySignature(s.pub) {
		t.Fatal("a signed checkpoint does not verify")
	}
	signed.Seq++
	if signed.VerifySignature(s.pub) {
		t.Fatal("a checkpoint moved to another event still verifies")
	}
}

func TestVerifySource(t *testing.T) {
	t.Parallel()
	good := newSigner(t, "good")
	other := newSigner(t, "other")
	keys := map[string]ed25519.PublicKey{good.id: good.pub}
	cases := []struct {
		name    string
		tamper  func(m *memory)
		opts    Options
		wantSeq int64  // 0: verifies
		want    string // in the error
	}{
		{name: "intact, keyed", opts: Options{Keys: keys}},
		{name: "intact, no keys: signatures not checked", opts: Options{}},
		{
			name: "rewritten with its checkpoints' hashes: passes without keys",
			tamper: func(m *memory) {
				rewrite(m, 3)
				for i := range m.checkpoints {
					m.checkpoints[i].Hash = m.events[i].Hash
				}
			},
			opts: Options{},
		},
		{
			name: "rewritten with its checkpoints' hashes: the key catches it",
			tamper: func(m *memory) {
				rewrite(m, 3)
				for i := range m.checkpoints {
					m.checkpoints[i].Hash = m.events[i].Hash
				}
			},
			opts: Options{Keys: keys}, wantSeq: 3, want: "does not verify",
		},
		{
			name:   "rewritten, checkpoints left: the key names where",
			tamper: func(m *memory) { rewrite(m, 3) },
			opts:   Options{Keys: keys}, wantSeq: 3, want: "differs from what key good signed",
		},
		{
			name:   "rewritten, checkpoints left: seen without keys too",
			tamper: func(m *memory) { rewrite(m, 3) },
			opts:   Options{}, wantSeq: 3, want: "signature not checked",
		},
		{
			name:   "checkpoints removed: the key finds none",
			tamper: func(m *memory) { rewrite(m, 3); m.checkpoints = nil },
			opts:   Options{Keys: keys}, wantSeq: 5, want: "no checkpoint signed by the given keys (good)",
		},
		{
			name:   "checkpoints of another key only",
			tamper: func(m *memory) { m.checkpoints = []Checkpoint{other.sign(m.events[4])} },
			opts:   Options{Keys: keys}, wantSeq: 5, want: "no checkpoint signed",
		},
		{
			name: "cut from the end, checkpoints left: the key says who signed it",
			tamper: func(m *memory) {
				m.events = m.events[:3]
				m.head = Head{Seq: 3, Hash: m.events[2].Hash}
			},
			opts: Options{Keys: keys}, wantSeq: 4, want: "missing, but key good signed it",
		},
		{
			name: "cut from the end with its checkpoints: only a witness sees it",
			tamper: func(m *memory) {
				m.events, m.checkpoints = m.events[:3], m.checkpoints[:3]
				m.head = Head{Seq: 3, Hash: m.events[2].Hash}
			},
			opts: Options{Keys: keys},
		},
		{
			name: "cut from the end with its checkpoints, witness kept",
			tamper: func(m *memory) {
				m.events, m.checkpoints = m.events[:3], m.checkpoints[:3]
				m.head = Head{Seq: 3, Hash: m.events[2].Hash}
			},
			opts: Options{Keys: keys, Witnesses: []Head{{Seq: 5, Hash: strings.Repeat("c", 64)}}}, wantSeq: 5, want: "events were cut from the end (rolled back)",
		},
		{
			name:   "witness of a rewritten event",
			tamper: func(m *memory) { rewrite(m, 2); m.checkpoints = m.checkpoints[:1] },
			opts:   Options{Keys: keys, Witnesses: []Head{{Seq: 4, Hash: "placeholder"}}}, wantSeq: 4, want: "differs from the witness",
		},
		{
			name: "a row added past the head",
			tamper: func(m *memory) {
				m.events = append(m.events, Link(m.head, Event{Action: "token.create"}))
			},
			opts: Options{}, wantSeq: 6, want: "stored past the recorded head (event 5)",
		},
		{
			name:   "a forged checkpoint",
			tamper: func(m *memory) { m.checkpoints[1].Signature = other.sign(m.events[1]).Signature },
			opts:   Options{Keys: keys}, wantSeq: 2, want: "does not verify",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := signedChain(t, 5, good)
			for i, w := range tc.opts.Witnesses {
				if w.Hash == "placeholder" {
					tc.opts.Witnesses[i].Hash = m.events[w.Seq-1].Hash
				}
			}
			if tc.tamper != nil {
				tc.tamper(m)
			}
			tc.opts.PageSize = 2 // pages split the checkpoints too
			rep, err := VerifySource(t.Context(), m, tc.opts)
			if tc.wantSeq == 0 {
				if err != nil {
					t.Fatalf("verify: %v", err)
				}
				if len(tc.opts.Keys) > 0 && rep.Signed != m.head {
					t.Fatalf("signed up to %v, want the head %v", rep.Signed, m.head)
				}
				if len(tc.opts.Keys) == 0 && (rep.Signed.Seq != 0 || rep.Unchecked["good"] != len(m.checkpoints)) {
					t.Fatalf("without keys: signed %v, unchecked %v", rep.Signed, rep.Unchecked)
				}
				return
			}
			var ce *ChainError
			if !errors.As(err, &ce) || ce.Seq != tc.wantSeq || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want a chain error at event %d saying %q", err, tc.wantSeq, tc.want)
			}
		})
	}
}

func TestParseHead(t *testing.T) {
	t.Parallel()
	hash := strings.Repeat("ab", 32)
	h, err := ParseHead(" 42:" + strings.ToUpper(hash) + "\n")
	if err != nil || h != (Head{Seq: 42, Hash: hash}) || h.String() != "42:"+hash {
		t.Fatalf("ParseHead = %v, %v", h, err)
	}
	for _, bad := range []string{"", "42", "0:" + hash, "-1:" + hash, "x:" + hash, "42:" + hash[:63], "42:" + strings.Repeat("z", 64)} {
		if _, err := ParseHead(bad); err == nil || !strings.Contains(err.Error(), "SEQ:HASH") {
			t.Errorf("ParseHead(%q) = %v, want an error saying SEQ:HASH", bad, err)
		}
	}
}
