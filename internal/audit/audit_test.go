package audit

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func chain(t *testing.T, n int) ([]Event, Head) {
	t.Helper()
	head := Genesis()
	base := time.Date(2026, 11, 27, 10, 0, 0, 123456789, time.UTC)
	var events []Event
	for i := 0; i < n; i++ {
		e := Link(head, Event{
			Time:    base.Add(time.Duration(i) * time.Minute),
			Actor:   "terraform",
			Action:  "scope.create",
			Subject: fmt.Sprintf("scope/billing:read%d", i),
			Outcome: Success,
			Details: map[string]string{"description": fmt.Sprintf("d%d", i)},
		})
		events = append(events, e)
		head = Head{Seq: e.Seq, Hash: e.Hash}
	}
	return events, head
}

func TestLinkIsDeterministic(t *testing.T) {
	t.Parallel()
	a, _ := chain(t, 3)
	b, _ := chain(t, 3)
	for i := range a {
		if a[i].Hash != b[i].Hash {
			t.Fatalf("event %d hashes differ: %s vs %s", i+1, a[i].Hash, b[i].Hash)
		}
	}
	if a[0].PrevHash != GenesisHash || a[1].PrevHash != a[0].Hash {
		t.Fatalf("links wrong: %q %q", a[0].PrevHash, a[1].PrevHash)
	}
	if a[0].Time.Nanosecond()%1000 != 0 || a[0].Time.Location() != time.UTC {
		t.Fatalf("time not normalized: %v", a[0].Time)
	}
	// Nil and empty details hash alike, so a store that reads back {} as nil
	// still verifies.
	x := Link(Genesis(), Event{Action: "a"})
	y := Link(Genesis(), Event{Action: "a", Details: map[string]string{}})
	if x.Hash != y.Hash {
		t.Fatal("nil and empty details hash differently")
	}
}

func TestVerifyIntact(t *testing.T) {
	t.Parallel()
	events, head := chain(t, 5)
	if err := Verify(events, head); err != nil {
		t.Fatalf("intact chain: %v", err)
	}
	if err := Verify(nil, Genesis()); err != nil {
		t.Fatalf("empty chain: %v", err)
	}
}

func TestVerifyNamesFirstBadEvent(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		tamper  func(events []Event, head Head) ([]Event, Head)
		wantSeq int64
		reason  string
	}{
		{
			name: "changed details",
			tamper: func(ev []Event, h Head) ([]Event, Head) {
				ev[2].Details = map[string]string{"description": "forged"}
				return ev, h
			},
			wantSeq: 3, reason: "changed",
		},
		{
			name: "changed actor",
			tamper: func(ev []Event, h Head) ([]Event, Head) {
				ev[1].Actor = "mallory"
				return ev, h
			},
			wantSeq: 2, reason: "changed",
		},
		{
			name: "changed and rehashed",
			tamper: func(ev []Event, h Head) ([]Event, Head) {
				ev[1].Outcome = Failure
				ev[1].Hash = hashOf(ev[1])
				return ev, h
			},
			wantSeq: 3, reason: "does not follow event 2",
		},
		{
			name: "removed",
			tamper: func(ev []Event, h Head) ([]Event, Head) {
				return append(ev[:2:2], ev[3:]...), h
			},
			wantSeq: 3, reason: "removed",
		},
		{
			name: "removed and renumbered",
			tamper: func(ev []Event, h Head) ([]Event, Head) {
				out := append(ev[:2:2], ev[3:]...)
				for i := 2; i < len(out); i++ {
					out[i].Seq--
				}
				return out, h
			},
			wantSeq: 3, reason: "changed",
		},
		{
			name: "removed from the end",
			tamper: func(ev []Event, h Head) ([]Event, Head) {
				return ev[:3], h
			},
			wantSeq: 4, reason: "removed from the end",
		},
		{
			name: "inserted with a valid link",
			tamper: func(ev []Event, h Head) ([]Event, Head) {
				forged := Link(Head{Seq: ev[1].Seq, Hash: ev[1].Hash}, Event{Action: "token.create", Subject: "token/backdoor"})
				out := append([]Event{}, ev[:2]...)
				out = append(out, forged)
				return append(out, ev[2:]...), h
			},
			wantSeq: 3, reason: "inserted",
		},
		{
			name: "inserted at the end",
			tamper: func(ev []Event, h Head) ([]Event, Head) {
				last := ev[len(ev)-1]
				return append(ev, Link(Head{Seq: last.Seq, Hash: last.Hash}, Event{Action: "x"})), h
			},
			wantSeq: 6, reason: "inserted",
		},
		{
			name: "reordered",
			tamper: func(ev []Event, h Head) ([]Event, Head) {
				ev[2], ev[3] = ev[3], ev[2]
				return ev, h
			},
			wantSeq: 3, reason: "reordered",
		},
		{
			name: "reordered and renumbered",
			tamper: func(ev []Event, h Head) ([]Event, Head) {
				ev[2], ev[3] = ev[3], ev[2]
				ev[2].Seq, ev[3].Seq = 3, 4
				return ev, h
			},
			wantSeq: 3, reason: "changed",
		},
		{
			name: "last event replaced",
			tamper: func(ev []Event, h Head) ([]Event, Head) {
				prev := ev[3]
				ev[4] = Link(Head{Seq: prev.Seq, Hash: prev.Hash}, Event{Action: "forged"})
				return ev, h
			},
			wantSeq: 5, reason: "replaced",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			events, head := chain(t, 5)
			events, head = tc.tamper(events, head)
			err := Verify(events, head)
			var ce *ChainError
			if !errors.As(err, &ce) {
				t.Fatalf("want *ChainError, got %v", err)
			}
			if ce.Seq != tc.wantSeq {
				t.Errorf("names event %d, want %d (%v)", ce.Seq, tc.wantSeq, err)
			}
			if !strings.Contains(err.Error(), tc.reason) {
				t.Errorf("error %q does not say %q", err, tc.reason)
			}
		})
	}
}
