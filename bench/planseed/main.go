// Command planseed lets bench/plan.sh plan N applied tokenward_token
// resources without applying N: the registry takes a transaction (and an
// fsync) per change, so on a loaded machine an apply of 10,000 tokens runs
// for hours, and a plan only needs what an apply leaves behind.
//
// bench/plan.sh applies a few tokens for real (bench-0…bench-SEED-1), then
// planseed copies bench-0 to bench-SEED…bench-N-1 in both places a plan
// reads: the store (its tokens, token_scopes, token_versions, destinations
// and deliveries rows, copied in SQL in one transaction, as bench/serve/fill
// does) and terraform.tfstate (bench-0's instance, with each copy's name,
// id, version, fingerprint and file paths). A copy's version has a random
// hash, and its file is not written: a plan reads neither. The copies
// bypass the audit log, so such a store is for benchmarks only; the script
// checks that the plan of it is empty, which is what makes it "applied".
package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"

	_ "modernc.org/sqlite"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "planseed:", err)
		os.Exit(1)
	}
}

func run() error {
	dbPath := flag.String("store", "", "the SQLite store the seed tokens were applied to")
	statePath := flag.String("state", "", "the terraform.tfstate of that apply, rewritten in place")
	from := flag.Int("from", 0, "the number of tokens applied for real (bench-0 is the one copied)")
	to := flag.Int("n", 0, "the number of tokens to reach")
	flag.Parse()
	switch {
	case *dbPath == "" || *statePath == "":
		return fmt.Errorf("give --store and --state")
	case *from < 1 || *to <= *from:
		return fmt.Errorf("--from must be at least 1 and --n larger than --from (got %d and %d)", *from, *to)
	}
	if err := copyRows(context.Background(), *dbPath, *from, *to); err != nil {
		return err
	}
	return copyState(*statePath, *from, *to)
}

// The copies' version ids: an id is 12 base62 characters, so a
// letter and 11 digits; the template's fingerprint shape is
// tw_<version id>…<4 characters>.
func versionID(i int) string   { return fmt.Sprintf("w%011d", i) }
func fingerprint(i int) string { return "tw_" + versionID(i) + "…0000" }

const numbers = `WITH RECURSIVE n(i) AS (SELECT ? UNION ALL SELECT i + 1 FROM n WHERE i < ?) `

// copyRows copies bench-0's rows, every column as it is but the ones a copy
// must own (set in SQL, in the same formats as tokenID and the others):
// listing the columns from the table keeps it right when a migration adds
// one.
func copyRows(ctx context.Context, path string, from, to int) error {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=foreign_keys(1)&_pragma=busy_timeout(10000)")
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	defer db.Close()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	const (
		tid   = `printf('s%011d', i)`
		vid   = `printf('w%011d', i)`
		tmpl  = `(SELECT id FROM tokens WHERE name = 'bench-0' AND deleted_at IS NULL)`
		vtmpl = `(SELECT id FROM token_versions WHERE token_id = ` + tmpl + ` AND state = 'current')`
		// bench-0's file is out/0.env; each copy's is out/<i>.env.
		file = `replace(%s, '/out/0.env', '/out/' || i || '.env')`
	)
	for _, c := range []struct {
		table, where string
		set          map[string]string
		rows         int // per copy
	}{
		{"tokens", `id = ` + tmpl, map[string]string{"id": tid, "name": `'bench-' || i`}, 1},
		{"token_scopes", `token_id = ` + tmpl, map[string]string{"token_id": tid}, 0},
		{"token_versions", `id = ` + vtmpl, map[string]string{"id": vid, "token_id": tid,
			"fingerprint": `'tw_' || ` + vid + ` || '…0000'`, "secret_hash": `randomblob(32)`}, 1},
		{"destinations", `token_id = ` + tmpl, map[string]string{"token_id": tid,
			"key": fmt.Sprintf(file, "key"), "config": fmt.Sprintf(file, "config")}, 1},
		{"deliveries", `version_id = ` + vtmpl, map[string]string{"id": "NULL", "version_id": vid,
			"destination": fmt.Sprintf(file, "destination")}, 0},
	} {
		cols, err := columns(ctx, tx, c.table)
		if err != nil {
			return err
		}
		exprs := make([]string, len(cols))
		for k, col := range cols {
			exprs[k] = "t." + col
			if e, ok := c.set[col]; ok {
				exprs[k] = e
			}
		}
		q := numbers + `INSERT INTO ` + c.table + ` (` + strings.Join(cols, ", ") + `) SELECT ` +
			strings.Join(exprs, ", ") + ` FROM n, ` + c.table + ` t WHERE t.` + c.where
		res, err := tx.ExecContext(ctx, q, from, to-1)
		if err != nil {
			return fmt.Errorf("copy %s: %w", c.table, err)
		}
		if got, _ := res.RowsAffected(); c.rows > 0 && got != int64(c.rows*(to-from)) {
			return fmt.Errorf("copy %s: %d rows for %d copies of bench-0 (is bench-0 applied?)", c.table, got, to-from)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

func columns(ctx context.Context, tx *sql.Tx, table string) ([]string, error) {
	rows, err := tx.QueryContext(ctx, `SELECT name FROM pragma_table_info(?)`, table)
	if err != nil {
		return nil, fmt.Errorf("columns of %s: %w", table, err)
	}
	defer rows.Close()
	var cols []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, fmt.Errorf("columns of %s: %w", table, err)
		}
		cols = append(cols, c)
	}
	if len(cols) == 0 {
		return nil, fmt.Errorf("columns of %s: no such table", table)
	}
	return cols, rows.Err()
}

// copyState appends bench-0's instance's copies to tokenward_token.t. The
// state is decoded generically (numbers kept as written) so every
// attribute and field it does not know passes through.
func copyState(path string, from, to int) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read state: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var st map[string]any
	if err := dec.Decode(&st); err != nil {
		return fmt.Errorf("decode state %s: %w", path, err)
	}
	res, _ := st["resources"].([]any)
	var tokens map[string]any
	for _, r := range res {
		if m, _ := r.(map[string]any); m["type"] == "tokenward_token" && m["name"] == "t" {
			tokens = m
		}
	}
	if tokens == nil {
		return fmt.Errorf("state %s has no tokenward_token.t", path)
	}
	insts, _ := tokens["instances"].([]any)
	if len(insts) != from {
		return fmt.Errorf("state %s has %d instances of tokenward_token.t, want %d", path, len(insts), from)
	}
	var tmpl map[string]any
	for _, in := range insts {
		if m, _ := in.(map[string]any); m["index_key"] == json.Number("0") {
			tmpl = m
		}
	}
	if tmpl == nil {
		return fmt.Errorf("state %s has no tokenward_token.t[0]", path)
	}
	raw, err := json.Marshal(tmpl)
	if err != nil {
		return fmt.Errorf("encode template: %w", err)
	}
	for i := from; i < to; i++ {
		var in map[string]any
		d := json.NewDecoder(bytes.NewReader(raw))
		d.UseNumber()
		if err := d.Decode(&in); err != nil {
			return fmt.Errorf("copy template: %w", err)
		}
		in["index_key"] = i
		a := in["attributes"].(map[string]any)
		name := fmt.Sprintf("bench-%d", i)
		a["name"], a["id"] = name, name
		a["current_version"], a["fingerprint"] = versionID(i), fingerprint(i)
		files, _ := a["files"].([]any)
		if len(files) != 1 {
			return fmt.Errorf("state %s: tokenward_token.t[0] has %d files, want 1", path, len(files))
		}
		f := files[0].(map[string]any)
		for _, k := range []string{"path", "resolved_path"} {
			s, _ := f[k].(string)
			f[k] = strings.Replace(s, "/out/0.env", fmt.Sprintf("/out/%d.env", i), 1)
		}
		insts = append(insts, in)
	}
	tokens["instances"] = insts
	serial, _ := st["serial"].(json.Number).Int64()
	st["serial"] = serial + 1
	out, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	// terraform.tfstate holds no token value (the provider keeps none in
	// state); 0600 as Terraform writes it.
	if err := os.WriteFile(path, append(out, '\n'), 0o600); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	return nil
}
