// Command fill prepares the store bench/serve.sh measures tokenward serve
// on: a SQLite store (created) with the scope billing:read, the caller
// token bench-caller (tokenward:introspect) and the API token
// billing-client, whose values it writes to files of mode 0600. With
// --extra N it adds N more tokens, each with a current version, by copying
// billing-client's rows in SQL in one transaction: the registry would take
// a transaction (and an fsync) per change, an hour for 100,000 tokens, and
// serve only needs the rows. The copies bypass the audit log, so such a
// store is for benchmarks only.
package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
	_ "modernc.org/sqlite"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "fill:", err)
		os.Exit(1)
	}
}

func run() error {
	dbPath := flag.String("store", "", "the SQLite store to create (the master key comes from TOKENWARD_MASTER_KEY)")
	out := flag.String("values", "", "the folder to write caller.token and client.token into")
	extra := flag.Int("extra", 0, "add this many more tokens to an existing store, and issue nothing")
	del := flag.String("delete", "", "delete this token of an existing store through the registry, as terraform destroy does, and issue nothing")
	flag.Parse()
	ctx := context.Background()
	if *dbPath == "" {
		return fmt.Errorf("give --store")
	}
	if *extra > 0 {
		return addCopies(ctx, *dbPath, *extra)
	}
	if *del != "" {
		reg, err := registry.Open(ctx, registry.Config{Store: *dbPath})
		if err != nil {
			return err
		}
		defer reg.Close()
		return reg.DeleteToken(ctx, *del)
	}
	if *out == "" {
		return fmt.Errorf("give --values")
	}
	reg, err := registry.Open(ctx, registry.Config{Store: *dbPath, Create: true})
	if err != nil {
		return err
	}
	defer reg.Close()
	if _, err := reg.CreateScope(ctx, "billing:read", ""); err != nil {
		return err
	}
	life := store.Lifetime{TTL: 30 * 24 * time.Hour, RotateBefore: 7 * 24 * time.Hour, Overlap: 24 * time.Hour}
	for file, spec := range map[string]registry.TokenSpec{
		"caller.token": {Name: "bench-caller", Owner: "bench", Scopes: []string{"tokenward:introspect"}, Lifetime: life},
		"client.token": {Name: "billing-client", Owner: "billing", Scopes: []string{"billing:read"}, Lifetime: life},
	} {
		if _, err := reg.CreateToken(ctx, spec); err != nil {
			return err
		}
		iss, err := reg.IssueFirst(ctx, spec.Name)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(*out, file), []byte(iss.Value), 0o600); err != nil {
			return err
		}
	}
	return nil
}

// addCopies adds n tokens bench-000001… with billing-client's settings and
// scopes, each with a current version of its own id and a random hash.
func addCopies(ctx context.Context, path string, n int) error {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=foreign_keys(1)&_pragma=busy_timeout(10000)")
	if err != nil {
		return err
	}
	defer db.Close()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	const numbers = `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) `
	for _, q := range []string{
		numbers + `INSERT INTO tokens (id, name, owner, description, ttl, rotate_before, overlap, created_at, updated_at)
		  SELECT printf('bench%07d', i), printf('bench-%06d', i), t.owner, t.description, t.ttl, t.rotate_before, t.overlap, t.created_at, t.updated_at
		  FROM n, tokens t WHERE t.name = 'billing-client' AND t.deleted_at IS NULL`,
		numbers + `INSERT INTO token_scopes (token_id, scope) SELECT printf('bench%07d', i), 'billing:read' FROM n`,
		// A version id is 12 base62 characters: b and 11 digits.
		numbers + `INSERT INTO token_versions (id, token_id, state, secret_hash, fingerprint, created_at, activated_at, expires_at)
		  SELECT printf('b%011d', i), printf('bench%07d', i), 'current', randomblob(32), printf('tw_b%011d…0000', i), v.created_at, v.activated_at, v.expires_at
		  FROM n, token_versions v JOIN tokens t ON t.id = v.token_id WHERE t.name = 'billing-client' AND t.deleted_at IS NULL AND v.state = 'current'`,
	} {
		res, err := tx.ExecContext(ctx, q, n)
		if err != nil {
			return fmt.Errorf("add %d tokens: %w", n, err)
		}
		if rows, _ := res.RowsAffected(); rows != int64(n) {
			return fmt.Errorf("add %d tokens: a statement added %d rows", n, rows)
		}
	}
	return tx.Commit()
}
