package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
	"github.com/tokenward/terraform-provider-tokenward/internal/token"
)

// verifyUsage appends the usage events of a local `tokenward verify`
// (endpoint "cli") when the store can be written. It never makes the
// verification fail: a store that can only be read logs nothing, and an
// event that cannot be written is a warning on stderr.
type verifyUsage struct {
	c        *cli
	st       store.Store
	log      store.UsageLog
	instance string
	events   []store.UsageEvent
}

// openVerifyUsage opens the store for writing, for the usage log; nil when
// it cannot be (a file or role that may only read).
func (c *cli) openVerifyUsage(ctx context.Context, sf *storeFlags) *verifyUsage {
	// Only the store's location: c.config would print its warnings a
	// second time.
	st, err := registry.OpenStore(ctx, registry.Config{Store: sf.store, Getenv: c.env})
	if err != nil {
		return nil
	}
	ul, ok := store.AsUsageLog(st)
	if !ok {
		st.Close()
		return nil
	}
	host, _ := os.Hostname()
	return &verifyUsage{c: c, st: st, log: ul, instance: host}
}

// record keeps the event of one verification of value, answered at at
// (the verifier's clock, which TOKENWARD_NOW sets).
func (u *verifyUsage) record(ctx context.Context, value string, scopes []string, out verifyOutput, at time.Time) {
	if u == nil {
		return
	}
	ev := store.UsageEvent{At: at, VersionID: out.Version, Code: string(out.Code), Endpoint: "cli", Instance: u.instance}
	if len(scopes) > 0 {
		ev.ScopesRequired = append([]string(nil), scopes...)
	}
	if out.Version != "" {
		ev.Fingerprint = token.Fingerprint(value)
		// The token the presented id names, whether or not the secret
		// matched, as the server's events do.
		_ = u.st.View(ctx, func(tx store.Tx) error {
			v, err := tx.GetVersion(ctx, out.Version)
			if err != nil {
				return err
			}
			tk, err := tx.GetTokenByID(ctx, v.TokenID)
			if err != nil {
				return err
			}
			ev.TokenID, ev.TokenName, ev.Honeytoken = tk.ID, tk.Name, tk.Honeytoken
			return nil
		})
	}
	u.events = append(u.events, ev)
}

// close writes the events kept and closes the store.
func (u *verifyUsage) close(ctx context.Context) {
	if u == nil {
		return
	}
	defer u.st.Close()
	if len(u.events) == 0 {
		return
	}
	if err := u.log.AppendUsage(ctx, u.events); err != nil {
		fmt.Fprintf(u.c.stderr, "tokenward: warning: the usage log did not record this verification: %v\n", err)
	}
}
