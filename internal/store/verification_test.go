package store_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/audit"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
	"github.com/tokenward/terraform-provider-tokenward/internal/token"
)

func appendEvent(ctx context.Context, tx store.Tx, subject string) error {
	_, err := tx.AppendAudit(ctx, audit.Event{Time: t0, Actor: "test", Action: "test", Subject: subject, Outcome: audit.Success})
	return err
}

// restricted is tk with allowed networks and a rate limit, which the bulk
// read must carry like every other column.
func restricted(tk store.Token) store.Token {
	tk.AllowedCIDRs = []string{"192.0.2.0/24"}
	tk.RateLimit = store.RateLimit{Requests: 5, Per: time.Second}
	return tk
}

// TestVerificationData: the bulk read returns every token, deleted ones
// included, exactly as GetTokenByID reads it, with the effective scopes
// EffectiveScopes computes and every version without its sealed value, at
// the change counter AuditHead reports; a read-only store reads it too.
func TestVerificationData(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, st store.Store, dsn string) {
		ctx := t.Context()
		seedScopes(t, st, "a:read", "a:write", "b:read")
		update(t, st, func(tx store.Tx) error {
			if err := tx.CreateRole(ctx, store.Role{Name: "r1", Scopes: []string{"a:write", "b:read"}, CreatedAt: t0, UpdatedAt: t0}); err != nil {
				return err
			}
			for _, tk := range []store.Token{
				restricted(newToken("live", "live", []string{"a:read", "b:read"}, []string{"r1"})),
				newToken("gone", "gone", []string{"b:read"}, nil),
				newToken("bare", "bare", nil, nil),
			} {
				if err := tx.CreateToken(ctx, tk); err != nil {
					return err
				}
			}
			for _, v := range []store.Version{
				version("live-cur", "live", token.StateCurrent, nil),
				version("live-pend", "live", token.StatePending, []byte("sealed value")),
				version("live-old", "live", token.StateRevoked, nil),
				version("gone-cur", "gone", token.StateRevoked, nil),
			} {
				if err := tx.CreateVersion(ctx, v); err != nil {
					return err
				}
			}
			if err := tx.RetireToken(ctx, "gone", t0.Add(time.Hour)); err != nil {
				return err
			}
			return appendEvent(ctx, tx, "setup")
		})

		ro, err := store.Open(ctx, dsn, store.ReadOnly())
		if err != nil {
			t.Fatal(err)
		}
		defer ro.Close()
		for name, s := range map[string]store.Store{"read-write": st, "read-only": ro} {
			data, err := s.VerificationData(ctx)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			head, err := st.AuditHead(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if data.Seq != head.Seq || head.Seq == 0 {
				t.Errorf("%s: seq %d, want the head's %d", name, data.Seq, head.Seq)
			}
			var ids []string
			for _, tk := range data.Tokens {
				ids = append(ids, tk.ID)
			}
			if want := []string{"bare", "gone", "live"}; !reflect.DeepEqual(ids, want) {
				t.Fatalf("%s: tokens %v, want %v", name, ids, want)
			}
			if live := data.Tokens[2]; len(live.AllowedCIDRs) != 1 || live.RateLimit.Requests != 5 {
				t.Errorf("%s: the restrictions of live: %v %+v", name, live.AllowedCIDRs, live.RateLimit)
			}
			err = st.View(ctx, func(tx store.Tx) error {
				for _, got := range data.Tokens {
					want, err := tx.GetTokenByID(ctx, got.ID)
					if err != nil {
						return err
					}
					if !reflect.DeepEqual(got.Token, want) {
						t.Errorf("%s: token %s = %+v\nwant %+v", name, got.ID, got.Token, want)
					}
					eff, err := tx.EffectiveScopes(ctx, got.ID)
					if err != nil {
						return err
					}
					if !reflect.DeepEqual(got.EffectiveScopes, eff) && (len(eff) > 0 || len(got.EffectiveScopes) > 0) {
						t.Errorf("%s: effective scopes of %s = %v, want %v", name, got.ID, got.EffectiveScopes, eff)
					}
					versions, err := tx.ListVersions(ctx, got.ID)
					if err != nil {
						return err
					}
					for i := range versions {
						versions[i].Sealed = nil
					}
					byID := func(a, b store.Version) int { return strings.Compare(a.ID, b.ID) }
					slices.SortFunc(versions, byID)
					gotVersions := slices.Clone(got.Versions)
					slices.SortFunc(gotVersions, byID)
					if len(versions) != len(gotVersions) || (len(versions) > 0 && !reflect.DeepEqual(gotVersions, versions)) {
						t.Errorf("%s: versions of %s = %+v\nwant %+v", name, got.ID, gotVersions, versions)
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
	})
}

// TestListen: on PostgreSQL a listener hears each committed change with its
// change counter, and nothing of a change rolled back; SQLite has no
// notifications and says so.
func TestListen(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, st store.Store, _ string) {
		ctx := t.Context()
		l, err := st.Listen(ctx)
		if st.Engine() == "sqlite" {
			if !errors.Is(err, store.ErrNoNotifications) || !errors.Is(err, errors.ErrUnsupported) {
				t.Fatalf("sqlite listen: %v, want ErrNoNotifications", err)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		head, err := st.AuditHead(ctx)
		if err != nil {
			t.Fatal(err)
		}
		rolledBack := errors.New("roll back")
		if err := st.Update(ctx, func(tx store.Tx) error {
			if err := appendEvent(ctx, tx, "rolled back"); err != nil {
				return err
			}
			return rolledBack
		}); !errors.Is(err, rolledBack) {
			t.Fatal(err)
		}
		for _, subject := range []string{"first", "second"} {
			update(t, st, func(tx store.Tx) error { return appendEvent(ctx, tx, subject) })
		}
		wait, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		for _, want := range []int64{head.Seq + 1, head.Seq + 2} {
			seq, err := l.Wait(wait)
			if err != nil || seq != want {
				t.Fatalf("heard %d, %v; want %d (a rolled-back change announces nothing)", seq, err, want)
			}
		}
		short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		if seq, err := l.Wait(short); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("with no change, Wait = %d, %v; want the context's deadline", seq, err)
		}
	})
}

// asReader names the variable under which the test binary, run again as
// the user nobody, plays a reader that may not write the store's folder.
const asReader = "TOKENWARD_TEST_IMMUTABLE_READER"

// TestVerificationDataRefusesAnImmutableStore: a reader that may not write
// the SQLite store's folder, opening it while no writer holds it, opens it
// immutable; the bulk read refuses such a store, since it would never see
// a change. It runs the test binary again as nobody, so it needs root.
func TestVerificationDataRefusesAnImmutableStore(t *testing.T) {
	if path := os.Getenv(asReader); path != "" {
		st, err := store.Open(t.Context(), path, store.ReadOnly())
		if err != nil {
			t.Fatalf("open as a reader that may not write the folder: %v", err)
		}
		defer st.Close()
		if _, err := st.VerificationData(t.Context()); !errors.Is(err, store.ErrImmutable) {
			t.Fatalf("the bulk read of an immutable store: %v, want ErrImmutable", err)
		}
		return
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root, to run the reader as nobody")
	}
	if _, err := user.Lookup("nobody"); err != nil {
		t.Skipf("no user nobody: %v", err)
	}
	// Not t.TempDir, whose parent nobody may not enter.
	dir, err := os.MkdirTemp("", "tokenward-immutable-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "tokenward.db")
	st, err := store.Open(t.Context(), path, store.Create())
	if err != nil {
		t.Fatal(err)
	}
	st.Close() // no writer holds it: no -wal file
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "store.test")
	b, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("runuser", "-u", "nobody", "--", bin, "-test.run=^TestVerificationDataRefusesAnImmutableStore$", "-test.count=1")
	// A PostgreSQL URL for TestMain, so the child starts no server (it uses none).
	cmd.Env = append(os.Environ(), asReader+"="+path, "TOKENWARD_TEST_POSTGRES=postgres://unused@127.0.0.1:1/unused", "HOME="+dir)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "PASS") {
		t.Fatalf("the reader run as nobody: %v\n%s", err, out)
	}
}
