package registry_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/seal"
	"github.com/tokenward/terraform-provider-tokenward/internal/seal/sealtest"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
	"github.com/tokenward/terraform-provider-tokenward/internal/token"
)

func rotate(t *testing.T, f fixture) registry.Issued {
	t.Helper()
	p := begin(t, f)
	if _, err := f.reg.FinishRotation(t.Context(), "ci-deploy", p.VersionID); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestQuickRotationsRevokeThePrevious: a rotation inside the overlap of the
// last one revokes the version that was previous, whose value the
// destinations no longer hold.
func TestQuickRotationsRevokeThePrevious(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, f fixture) {
		ctx := t.Context()
		setupToken(t, f)
		first := issue(t, f)
		second := rotate(t, f)
		f.clock.Advance(time.Hour)
		p, _, err := f.reg.BeginRotation(ctx, "ci-deploy")
		if err != nil {
			t.Fatal(err)
		}
		fin, err := f.reg.FinishRotation(ctx, "ci-deploy", p.VersionID)
		if err != nil {
			t.Fatal(err)
		}
		if fin.Revoked == nil || fin.Revoked.ID != first.VersionID || fin.Previous.ID != second.VersionID {
			t.Fatalf("finish = %+v", fin)
		}
		for value, want := range map[string]token.Code{first.Value: token.Revoked, second.Value: token.Valid, p.Value: token.Valid} {
			if got := verify(t, f, value).Code; got != want {
				t.Errorf("%s verifies as %s, want %s", token.Fingerprint(value), got, want)
			}
		}
	})
}

// TestFinishIsIdempotent: a run that crashed after finishing retries the
// finish, possibly after another run began the next rotation.
func TestFinishIsIdempotent(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, f fixture) {
		ctx := t.Context()
		setupToken(t, f)
		issue(t, f)
		p := begin(t, f)
		// Delivery took two days: the version's life starts at the finish.
		f.clock.Advance(2 * day)
		fin, err := f.reg.FinishRotation(ctx, "ci-deploy", p.VersionID)
		if err != nil {
			t.Fatal(err)
		}
		if want := f.clock.Now().Add(lifetime.TTL); !fin.Current.ExpiresAt.Equal(want) {
			t.Fatalf("current expires %v, want a full ttl from the finish, %v", fin.Current.ExpiresAt, want)
		}
		next, _, err := f.reg.BeginRotation(ctx, "ci-deploy")
		if err != nil {
			t.Fatal(err)
		}
		again, err := f.reg.FinishRotation(ctx, "ci-deploy", p.VersionID)
		if err != nil {
			t.Fatalf("retried finish after another run began: %v", err)
		}
		if again.Current.ID != p.VersionID {
			t.Fatalf("retried finish moved versions: %+v", again)
		}
		info, err := f.reg.Token(ctx, "ci-deploy")
		if err != nil {
			t.Fatal(err)
		}
		if info.Pending == nil || info.Pending.ID != next.VersionID {
			t.Fatalf("the other run's pending version was lost: %+v", info.Pending)
		}
	})
}

// TestConcurrentBeginsShareOnePending: a run that begins a rotation while
// another run is between reading the token and minting must end with the
// other run's pending version and value, not a second one or an error.
func TestConcurrentBeginsShareOnePending(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, f fixture) {
		ctx := t.Context()
		setupToken(t, f)
		issue(t, f)
		ps := newPausingStore(f.st, "ListVersions")
		slow := registry.New(ps, seal.NewKeyring(f.key), registry.WithClock(f.clock.Now))
		first := make(chan registry.Issued, 1)
		go func() {
			p, _, err := slow.BeginRotation(ctx, "ci-deploy")
			if err != nil {
				t.Error(err)
			}
			first <- p
		}()
		<-ps.paused
		second := make(chan registry.Issued, 1)
		go func() {
			p, _, err := f.reg.BeginRotation(ctx, "ci-deploy")
			if err != nil {
				t.Error(err)
			}
			second <- p
		}()
		// Let the second run go now if it can; serialized, it waits.
		select {
		case p := <-second:
			second <- p
		case <-time.After(300 * time.Millisecond):
		}
		close(ps.resume)
		a, b := <-first, <-second
		if a.Value == "" || a.Value != b.Value || a.VersionID != b.VersionID {
			t.Fatalf("two runs began two rotations: %s and %s", a.Fingerprint, b.Fingerprint)
		}
	})
}

// pausingStore stops the first write transaction that calls the named Tx
// method, right after the call, until resume is closed: a slow transaction
// interleaved with another process.
type pausingStore struct {
	store.Store
	method         string
	once           sync.Once
	paused, resume chan struct{}
}

func newPausingStore(st store.Store, method string) *pausingStore {
	return &pausingStore{Store: st, method: method, paused: make(chan struct{}), resume: make(chan struct{})}
}

func (p *pausingStore) Update(ctx context.Context, fn func(store.Tx) error) error {
	return p.Store.Update(ctx, func(tx store.Tx) error { return fn(&pausingTx{Tx: tx, p: p}) })
}

func (p *pausingStore) pause(method string) {
	if method != p.method {
		return
	}
	p.once.Do(func() {
		close(p.paused)
		<-p.resume
	})
}

type pausingTx struct {
	store.Tx
	p *pausingStore
}

func (t *pausingTx) ListSealedVersions(ctx context.Context) ([]store.Version, error) {
	v, err := t.Tx.ListSealedVersions(ctx)
	t.p.pause("ListSealedVersions")
	return v, err
}

func (t *pausingTx) ListVersions(ctx context.Context, tokenID string) ([]store.Version, error) {
	v, err := t.Tx.ListVersions(ctx, tokenID)
	t.p.pause("ListVersions")
	return v, err
}

// TestRekeyDoesNotUndoAFinish: a rekey that read a pending version before a
// rotation finished it must not write the version back as pending.
func TestRekeyDoesNotUndoAFinish(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, f fixture) {
		ctx := t.Context()
		setupToken(t, f)
		issue(t, f)
		p := begin(t, f)
		ps := newPausingStore(f.st, "ListSealedVersions")
		rekeyer := registry.New(ps, seal.NewKeyring(sealtest.Key(t), f.key), registry.WithClock(f.clock.Now))
		rekeyed := make(chan error, 1)
		go func() { _, err := rekeyer.Rekey(ctx); rekeyed <- err }()
		<-ps.paused
		finished := make(chan error, 1)
		go func() { _, err := f.reg.FinishRotation(ctx, "ci-deploy", p.VersionID); finished <- err }()
		// Let the finish run now if it can; serialized, it waits for the rekey.
		select {
		case err := <-finished:
			finished <- err
		case <-time.After(300 * time.Millisecond):
		}
		close(ps.resume)
		if err := <-rekeyed; err != nil {
			t.Fatalf("rekey: %v", err)
		}
		if err := <-finished; err != nil {
			t.Fatalf("finish: %v", err)
		}
		info, err := f.reg.Token(ctx, "ci-deploy")
		if err != nil {
			t.Fatal(err)
		}
		if info.Pending != nil || info.Current == nil || info.Current.ID != p.VersionID || info.Current.Sealed != nil {
			t.Fatalf("the finished rotation was undone: pending=%v current=%v", info.Pending, info.Current)
		}
	})
}
