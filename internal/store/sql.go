package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/tokenward/terraform-provider-tokenward/internal/audit"
	"github.com/tokenward/terraform-provider-tokenward/internal/token"
)

// sqlStore implements Store for both engines over database/sql.
type sqlStore struct {
	db    *sql.DB
	d     dialect
	opts  options
	stmts stmtCache // see stmts.go
	// immutable: a SQLite file opened as one that never changes (see
	// openSQLite), which cannot be followed (VerificationData).
	immutable bool
	usage     usagePartitions // see usage_sql.go
	usageConn usageConn       // SQLite's usage appends; see usage_sql.go
}

func (s *sqlStore) Engine() string { return s.d.name }

func (s *sqlStore) Close() error {
	s.closeUsageConn()
	return s.db.Close()
}

func (s *sqlStore) Update(ctx context.Context, fn func(Tx) error) error {
	return s.run(ctx, false, fn)
}

func (s *sqlStore) View(ctx context.Context, fn func(Tx) error) error {
	return s.run(ctx, true, fn)
}

// run runs fn in a transaction. Writers are serialized on both engines: on
// SQLite by BEGIN IMMEDIATE, on PostgreSQL by locking the audit head row
// first, which every change appends to anyway. So a change that reads a
// record and writes it back never undoes another change committed in
// between, although PostgreSQL runs at READ COMMITTED. Readers take no lock;
// on PostgreSQL they read at REPEATABLE READ, so that a read of several
// statements (ListTokenDetails) sees one moment, as SQLite's readers do.
func (s *sqlStore) run(ctx context.Context, readOnly bool, fn func(Tx) error) error {
	opts := &sql.TxOptions{ReadOnly: readOnly}
	if readOnly && s.d == postgresDialect {
		opts.Isolation = sql.LevelRepeatableRead
	}
	tx, err := s.db.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	if !readOnly && s.d.serializeWriters != "" {
		if _, err := tx.ExecContext(ctx, s.d.serializeWriters); err != nil {
			_ = tx.Rollback()
			return fmt.Errorf("begin transaction: take the writer lock: %w", err)
		}
	}
	if err := fn(&sqlTx{tx: tx, d: s.d, store: s}); err != nil {
		_ = tx.Rollback()
		return err
	}
	if readOnly {
		return tx.Rollback()
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", classify(err))
	}
	return nil
}

func (s *sqlStore) AuditEvents(ctx context.Context, after int64, limit int) ([]audit.Event, error) {
	rows, err := s.db.QueryContext(ctx, s.d.bind(
		`SELECT seq, at, actor, action, subject, outcome, details, prev_hash, hash
		 FROM audit_events WHERE seq > ? ORDER BY seq LIMIT ?`), after, limit)
	if err != nil {
		return nil, fmt.Errorf("list audit events: %w", err)
	}
	defer rows.Close()
	var out []audit.Event
	for rows.Next() {
		var e audit.Event
		var at int64
		var details string
		if err := rows.Scan(&e.Seq, &at, &e.Actor, &e.Action, &e.Subject, &e.Outcome, &details, &e.PrevHash, &e.Hash); err != nil {
			return nil, fmt.Errorf("list audit events: %w", err)
		}
		e.Time = fromMicros(at)
		if err := json.Unmarshal([]byte(details), &e.Details); err != nil {
			return nil, fmt.Errorf("audit event %d: details: %w", e.Seq, err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list audit events: %w", err)
	}
	return out, nil
}

func (s *sqlStore) AuditHead(ctx context.Context) (audit.Head, error) {
	var h audit.Head
	err := s.queryRow(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1`).Scan(&h.Seq, &h.Hash)
	if err != nil {
		return audit.Head{}, fmt.Errorf("read audit head: %w", s.redact(err))
	}
	return h, nil
}

func (s *sqlStore) TryLock(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	now := s.opts.leaseClock()
	res, err := s.db.ExecContext(ctx, s.d.bind(
		`INSERT INTO locks (name, holder, expires_at) VALUES (?, ?, ?)
		 ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
		 WHERE locks.expires_at <= ? OR locks.holder = excluded.holder`),
		name, holder, micros(now.Add(ttl)), micros(now))
	if err != nil {
		return false, fmt.Errorf("lock %s: %w", name, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("lock %s: %w", name, err)
	}
	return n == 1, nil
}

func (s *sqlStore) Unlock(ctx context.Context, name, holder string) error {
	_, err := s.db.ExecContext(ctx, s.d.bind(`DELETE FROM locks WHERE name = ? AND holder = ?`), name, holder)
	if err != nil {
		return fmt.Errorf("unlock %s: %w", name, err)
	}
	return nil
}

func (s *sqlStore) Lease(ctx context.Context, name string) (Lease, bool, error) {
	var l Lease
	var expires int64
	err := s.db.QueryRowContext(ctx, s.d.bind(`SELECT holder, expires_at FROM locks WHERE name = ?`), name).Scan(&l.Holder, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return Lease{}, false, nil
	}
	if err != nil {
		return Lease{}, false, fmt.Errorf("read lock %s: %w", name, err)
	}
	l.ExpiresAt = fromMicros(expires)
	return l, true, nil
}

// sqlTx implements Tx.
type sqlTx struct {
	tx    *sql.Tx
	d     dialect
	store *sqlStore // whose prepared statements the helpers below use
}

func (t *sqlTx) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := t.stmt(ctx, query); st != nil {
		res, err := st.ExecContext(ctx, args...)
		return res, classify(err)
	}
	res, err := t.tx.ExecContext(ctx, t.d.bind(query), args...)
	return res, classify(err)
}

func (t *sqlTx) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := t.stmt(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return t.tx.QueryContext(ctx, t.d.bind(query), args...)
}

func (t *sqlTx) row(ctx context.Context, query string, args ...any) *sql.Row {
	if st := t.stmt(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return t.tx.QueryRowContext(ctx, t.d.bind(query), args...)
}

// mustAffect turns an update or delete that matched no row into ErrNotFound.
func mustAffect(res sql.Result, err error, what string) error {
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if n == 0 {
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	return nil
}

// column runs a query that returns one text column.
func (t *sqlTx) column(ctx context.Context, query string, args ...any) ([]string, error) {
	rows, err := t.query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// --- scopes

func (t *sqlTx) CreateScope(ctx context.Context, s Scope) error {
	_, err := t.exec(ctx, `INSERT INTO scopes (name, description, privileged, created_at, updated_at) VALUES (?, ?, ?, ?, ?)`,
		s.Name, s.Description, s.Privileged, micros(s.CreatedAt), micros(s.UpdatedAt))
	if err != nil {
		return fmt.Errorf("create scope %s: %w", s.Name, err)
	}
	return nil
}

func (t *sqlTx) UpdateScope(ctx context.Context, s Scope) error {
	res, err := t.exec(ctx, `UPDATE scopes SET description = ?, privileged = ?, updated_at = ? WHERE name = ?`,
		s.Description, s.Privileged, micros(s.UpdatedAt), s.Name)
	return mustAffect(res, err, "update scope "+s.Name)
}

func (t *sqlTx) GetScope(ctx context.Context, name string) (Scope, error) {
	var s Scope
	var c, u int64
	err := t.row(ctx, `SELECT name, description, privileged, created_at, updated_at FROM scopes WHERE name = ?`, name).
		Scan(&s.Name, &s.Description, &s.Privileged, &c, &u)
	if err != nil {
		return Scope{}, fmt.Errorf("get scope %s: %w", name, classify(err))
	}
	s.CreatedAt, s.UpdatedAt = fromMicros(c), fromMicros(u)
	return s, nil
}

func (t *sqlTx) ListScopes(ctx context.Context) ([]Scope, error) {
	rows, err := t.query(ctx, `SELECT name, description, privileged, created_at, updated_at FROM scopes ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list scopes: %w", err)
	}
	defer rows.Close()
	out := []Scope{}
	for rows.Next() {
		var s Scope
		var c, u int64
		if err := rows.Scan(&s.Name, &s.Description, &s.Privileged, &c, &u); err != nil {
			return nil, fmt.Errorf("list scopes: %w", err)
		}
		s.CreatedAt, s.UpdatedAt = fromMicros(c), fromMicros(u)
		out = append(out, s)
	}
	return out, rows.Err()
}

func (t *sqlTx) DeleteScope(ctx context.Context, name string) error {
	res, err := t.exec(ctx, `DELETE FROM scopes WHERE name = ?`, name)
	return mustAffect(res, err, "delete scope "+name)
}

func (t *sqlTx) ScopeUsers(ctx context.Context, name string) (tokens, roles []string, err error) {
	tokens, err = t.column(ctx, `SELECT t.name FROM token_scopes ts JOIN tokens t ON t.id = ts.token_id WHERE ts.scope = ? ORDER BY t.name`, name)
	if err != nil {
		return nil, nil, fmt.Errorf("users of scope %s: %w", name, err)
	}
	roles, err = t.column(ctx, `SELECT role FROM role_scopes WHERE scope = ? ORDER BY role`, name)
	if err != nil {
		return nil, nil, fmt.Errorf("users of scope %s: %w", name, err)
	}
	return tokens, roles, nil
}

// --- roles

func (t *sqlTx) CreateRole(ctx context.Context, r Role) error {
	_, err := t.exec(ctx, `INSERT INTO roles (name, description, created_at, updated_at) VALUES (?, ?, ?, ?)`,
		r.Name, r.Description, micros(r.CreatedAt), micros(r.UpdatedAt))
	if err != nil {
		return fmt.Errorf("create role %s: %w", r.Name, err)
	}
	if err := t.setMembers(ctx, "role_scopes", "role", "scope", r.Name, r.Scopes); err != nil {
		return fmt.Errorf("create role %s: %w", r.Name, err)
	}
	return nil
}

func (t *sqlTx) UpdateRole(ctx context.Context, r Role) error {
	res, err := t.exec(ctx, `UPDATE roles SET description = ?, updated_at = ? WHERE name = ?`,
		r.Description, micros(r.UpdatedAt), r.Name)
	if err := mustAffect(res, err, "update role "+r.Name); err != nil {
		return err
	}
	if err := t.setMembers(ctx, "role_scopes", "role", "scope", r.Name, r.Scopes); err != nil {
		return fmt.Errorf("update role %s: %w", r.Name, err)
	}
	return nil
}

// setMembers replaces the rows of a two-column membership table for owner.
// The table and column names are constants of this package, never input.
func (t *sqlTx) setMembers(ctx context.Context, table, ownerCol, memberCol, owner string, members []string) error {
	if _, err := t.exec(ctx, `DELETE FROM `+table+` WHERE `+ownerCol+` = ?`, owner); err != nil {
		return err
	}
	for _, m := range members {
		if _, err := t.exec(ctx, `INSERT INTO `+table+` (`+ownerCol+`, `+memberCol+`) VALUES (?, ?)`, owner, m); err != nil {
			if errors.Is(err, ErrInUse) {
				// A foreign key failed on insert: the member does not exist.
				return fmt.Errorf("%s %s: %w", memberCol, m, ErrNotFound)
			}
			return fmt.Errorf("%s %s: %w", memberCol, m, err)
		}
	}
	return nil
}

func (t *sqlTx) GetRole(ctx context.Context, name string) (Role, error) {
	var r Role
	var c, u int64
	err := t.row(ctx, `SELECT name, description, created_at, updated_at FROM roles WHERE name = ?`, name).
		Scan(&r.Name, &r.Description, &c, &u)
	if err != nil {
		return Role{}, fmt.Errorf("get role %s: %w", name, classify(err))
	}
	r.CreatedAt, r.UpdatedAt = fromMicros(c), fromMicros(u)
	if r.Scopes, err = t.column(ctx, `SELECT scope FROM role_scopes WHERE role = ? ORDER BY scope`, name); err != nil {
		return Role{}, fmt.Errorf("get role %s: %w", name, err)
	}
	return r, nil
}

func (t *sqlTx) ListRoles(ctx context.Context) ([]Role, error) {
	names, err := t.column(ctx, `SELECT name FROM roles ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list roles: %w", err)
	}
	out := make([]Role, 0, len(names))
	for _, n := range names {
		r, err := t.GetRole(ctx, n)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

func (t *sqlTx) DeleteRole(ctx context.Context, name string) error {
	res, err := t.exec(ctx, `DELETE FROM roles WHERE name = ?`, name)
	return mustAffect(res, err, "delete role "+name)
}

func (t *sqlTx) RoleUsers(ctx context.Context, name string) ([]string, error) {
	out, err := t.column(ctx, `SELECT t.name FROM token_roles tr JOIN tokens t ON t.id = tr.token_id WHERE tr.role = ? ORDER BY t.name`, name)
	if err != nil {
		return nil, fmt.Errorf("users of role %s: %w", name, err)
	}
	return out, nil
}

// --- tokens

const tokenColumns = `id, name, owner, description, ttl, rotate_before, overlap, created_at, updated_at, deleted_at, allowed_cidrs, rate_limit_requests, rate_limit_per, kind, issuer, honeytoken`

// cidrsJSON is a token's allowed networks as the allowed_cidrs column holds
// them: a JSON array, [] for none.
func cidrsJSON(cidrs []string) string {
	if cidrs == nil {
		cidrs = []string{}
	}
	b, _ := json.Marshal(cidrs) // a []string always marshals
	return string(b)
}

func (t *sqlTx) CreateToken(ctx context.Context, tk Token) error {
	_, err := t.exec(ctx, `INSERT INTO tokens (`+tokenColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		tk.ID, tk.Name, tk.Owner, tk.Description, int64(tk.Lifetime.TTL), int64(tk.Lifetime.RotateBefore),
		int64(tk.Lifetime.Overlap), micros(tk.CreatedAt), micros(tk.UpdatedAt), nullMicros(tk.DeletedAt),
		cidrsJSON(tk.AllowedCIDRs), int64(tk.RateLimit.Requests), int64(tk.RateLimit.Per), tk.Kind, string(tk.Issuer), tk.Honeytoken)
	if err != nil {
		return fmt.Errorf("create token %s: %w", tk.Name, err)
	}
	return t.setTokenMembers(ctx, tk, "create")
}

func (t *sqlTx) UpdateToken(ctx context.Context, tk Token) error {
	res, err := t.exec(ctx, `UPDATE tokens SET name = ?, owner = ?, description = ?, ttl = ?, rotate_before = ?, overlap = ?, updated_at = ?,
		allowed_cidrs = ?, rate_limit_requests = ?, rate_limit_per = ?, issuer = ? WHERE id = ? AND deleted_at IS NULL`,
		tk.Name, tk.Owner, tk.Description, int64(tk.Lifetime.TTL), int64(tk.Lifetime.RotateBefore),
		int64(tk.Lifetime.Overlap), micros(tk.UpdatedAt),
		cidrsJSON(tk.AllowedCIDRs), int64(tk.RateLimit.Requests), int64(tk.RateLimit.Per), string(tk.Issuer), tk.ID)
	if err := mustAffect(res, err, "update token "+tk.Name); err != nil {
		return err
	}
	return t.setTokenMembers(ctx, tk, "update")
}

func (t *sqlTx) setTokenMembers(ctx context.Context, tk Token, verb string) error {
	if err := t.setMembers(ctx, "token_scopes", "token_id", "scope", tk.ID, tk.Scopes); err != nil {
		return fmt.Errorf("%s token %s: %w", verb, tk.Name, err)
	}
	if err := t.setMembers(ctx, "token_roles", "token_id", "role", tk.ID, tk.Roles); err != nil {
		return fmt.Errorf("%s token %s: %w", verb, tk.Name, err)
	}
	return nil
}

// scanToken reads one token; where is a condition of this package's, never input.
func (t *sqlTx) scanToken(ctx context.Context, where string, arg any) (Token, error) {
	tk, err := scanTokenRow(t.row(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE `+where, arg))
	if err != nil {
		return Token{}, classify(err)
	}
	if tk.Scopes, err = t.column(ctx, `SELECT scope FROM token_scopes WHERE token_id = ? ORDER BY scope`, tk.ID); err != nil {
		return Token{}, err
	}
	if tk.Roles, err = t.column(ctx, `SELECT role FROM token_roles WHERE token_id = ? ORDER BY role`, tk.ID); err != nil {
		return Token{}, err
	}
	return tk, nil
}

// scanTokenRow reads the tokenColumns of one row, without the token's
// scopes and roles: scanToken and the bulk read of VerificationData share it.
func scanTokenRow(r rowScanner) (Token, error) {
	var tk Token
	var ttl, rb, ov, c, u, rlReq, rlPer int64
	var d sql.NullInt64
	var cidrs, issuer string
	if err := r.Scan(&tk.ID, &tk.Name, &tk.Owner, &tk.Description, &ttl, &rb, &ov, &c, &u, &d, &cidrs, &rlReq, &rlPer, &tk.Kind, &issuer, &tk.Honeytoken); err != nil {
		return Token{}, err
	}
	if issuer != "" {
		tk.Issuer = json.RawMessage(issuer)
	}
	// Most tokens allow any source: skip decoding their '[]' (the bulk read
	// of 100,000 tokens notices).
	if cidrs != "[]" {
		if err := json.Unmarshal([]byte(cidrs), &tk.AllowedCIDRs); err != nil {
			return Token{}, fmt.Errorf("token %s: allowed_cidrs: %w", tk.Name, err)
		}
	}
	if len(tk.AllowedCIDRs) == 0 {
		tk.AllowedCIDRs = nil
	}
	tk.RateLimit = RateLimit{Requests: int(rlReq), Per: time.Duration(rlPer)}
	tk.Lifetime = Lifetime{TTL: time.Duration(ttl), RotateBefore: time.Duration(rb), Overlap: time.Duration(ov)}
	tk.CreatedAt, tk.UpdatedAt = fromMicros(c), fromMicros(u)
	if d.Valid {
		tk.DeletedAt = fromMicros(d.Int64)
	}
	return tk, nil
}

func (t *sqlTx) GetToken(ctx context.Context, name string) (Token, error) {
	tk, err := t.scanToken(ctx, "name = ? AND deleted_at IS NULL", name)
	if err != nil {
		return Token{}, fmt.Errorf("get token %s: %w", name, err)
	}
	return tk, nil
}

func (t *sqlTx) GetTokenByID(ctx context.Context, id string) (Token, error) {
	tk, err := t.scanToken(ctx, "id = ?", id)
	if err != nil {
		return Token{}, fmt.Errorf("get token id %s: %w", id, err)
	}
	return tk, nil
}

// ListTokens reads the tokens, their scopes and their roles in three
// queries rather than three a token.
func (t *sqlTx) ListTokens(ctx context.Context) ([]Token, error) {
	rows, err := t.query(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE deleted_at IS NULL ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	out := []Token{}
	byID := map[string]int{}
	for rows.Next() {
		tk, err := scanTokenRow(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("list tokens: %w", err)
		}
		tk.Scopes, tk.Roles = []string{}, []string{}
		byID[tk.ID] = len(out)
		out = append(out, tk)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	// Ordered by scope and role within each token, as GetToken orders them.
	if err := t.pairs(ctx, `SELECT token_id, scope FROM token_scopes ORDER BY token_id, scope`, func(id, scope string) {
		if i, ok := byID[id]; ok {
			out[i].Scopes = append(out[i].Scopes, scope)
		}
	}); err != nil {
		return nil, fmt.Errorf("list tokens: scopes: %w", err)
	}
	if err := t.pairs(ctx, `SELECT token_id, role FROM token_roles ORDER BY token_id, role`, func(id, role string) {
		if i, ok := byID[id]; ok {
			out[i].Roles = append(out[i].Roles, role)
		}
	}); err != nil {
		return nil, fmt.Errorf("list tokens: roles: %w", err)
	}
	return out, nil
}

// ListTokenDetails reads every live token with what EffectiveScopes,
// ListDestinations and ListVersions return for it, in six queries.
func (t *sqlTx) ListTokenDetails(ctx context.Context) ([]TokenDetails, error) {
	tks, err := t.ListTokens(ctx)
	if err != nil {
		return nil, err
	}
	roleScopes := map[string][]string{}
	if err := t.pairs(ctx, `SELECT role, scope FROM role_scopes ORDER BY role, scope`, func(role, scope string) {
		roleScopes[role] = append(roleScopes[role], scope)
	}); err != nil {
		return nil, fmt.Errorf("list token details: role scopes: %w", err)
	}
	out := make([]TokenDetails, len(tks))
	byID := make(map[string]int, len(tks))
	for i, tk := range tks {
		out[i] = TokenDetails{Token: tk, EffectiveScopes: effectiveScopes(tk.Scopes, tk.Roles, roleScopes),
			Destinations: []Destination{}, Versions: []Version{}}
		if out[i].EffectiveScopes == nil {
			out[i].EffectiveScopes = []string{}
		}
		byID[tk.ID] = i
	}
	rows, err := t.query(ctx, `SELECT token_id, key, kind, config FROM destinations ORDER BY token_id, position`)
	if err != nil {
		return nil, fmt.Errorf("list token details: destinations: %w", err)
	}
	ds, err := scanDestinations(rows)
	if err != nil {
		return nil, fmt.Errorf("list token details: destinations: %w", err)
	}
	for _, d := range ds {
		if i, ok := byID[d.TokenID]; ok {
			out[i].Destinations = append(out[i].Destinations, d)
		}
	}
	vs, err := t.versions(ctx, "list token details: versions", `token_id IN (SELECT id FROM tokens WHERE deleted_at IS NULL) ORDER BY token_id, created_at DESC, id`)
	if err != nil {
		return nil, err
	}
	for _, v := range vs {
		if i, ok := byID[v.TokenID]; ok {
			out[i].Versions = append(out[i].Versions, v)
		}
	}
	return out, nil
}

func (t *sqlTx) RetireToken(ctx context.Context, id string, at time.Time) error {
	res, err := t.exec(ctx, `UPDATE tokens SET deleted_at = ?, updated_at = ? WHERE id = ? AND deleted_at IS NULL`, micros(at), micros(at), id)
	if err := mustAffect(res, err, "delete token id "+id); err != nil {
		return err
	}
	for _, table := range []string{"token_scopes", "token_roles", "destinations"} {
		if _, err := t.exec(ctx, `DELETE FROM `+table+` WHERE token_id = ?`, id); err != nil {
			return fmt.Errorf("delete token id %s: %w", id, err)
		}
	}
	return nil
}

func (t *sqlTx) EffectiveScopes(ctx context.Context, tokenID string) ([]string, error) {
	out, err := t.column(ctx, `
		SELECT scope FROM token_scopes WHERE token_id = ?
		UNION
		SELECT rs.scope FROM token_roles tr JOIN role_scopes rs ON rs.role = tr.role WHERE tr.token_id = ?`,
		tokenID, tokenID)
	if err != nil {
		return nil, fmt.Errorf("effective scopes of token id %s: %w", tokenID, err)
	}
	sort.Strings(out)
	return out, nil
}

// --- versions

const versionColumns = `id, token_id, state, secret_hash, fingerprint, sealed_value, created_at, activated_at, expires_at, revoked_at, username`

func (t *sqlTx) CreateVersion(ctx context.Context, v Version) error {
	_, err := t.exec(ctx, `INSERT INTO token_versions (`+versionColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		v.ID, v.TokenID, string(v.State), v.Hash[:], v.Fingerprint, nullBytes(v.Sealed), micros(v.CreatedAt),
		nullMicros(v.ActivatedAt), micros(v.ExpiresAt), nullMicros(v.RevokedAt), v.User)
	if err != nil {
		return fmt.Errorf("create version %s (%s): %w", v.ID, v.State, err)
	}
	return nil
}

func (t *sqlTx) UpdateVersion(ctx context.Context, v Version) error {
	res, err := t.exec(ctx, `UPDATE token_versions SET state = ?, sealed_value = ?, activated_at = ?, expires_at = ?, revoked_at = ? WHERE id = ?`,
		string(v.State), nullBytes(v.Sealed), nullMicros(v.ActivatedAt), micros(v.ExpiresAt), nullMicros(v.RevokedAt), v.ID)
	return mustAffect(res, err, fmt.Sprintf("update version %s (%s)", v.ID, v.State))
}

type rowScanner interface{ Scan(...any) error }

func scanVersion(r rowScanner) (Version, error) {
	var v Version
	var state string
	var hash, sealed []byte
	var c, e int64
	var a, rv sql.NullInt64
	if err := r.Scan(&v.ID, &v.TokenID, &state, &hash, &v.Fingerprint, &sealed, &c, &a, &e, &rv, &v.User); err != nil {
		return Version{}, err
	}
	if len(hash) != len(v.Hash) {
		return Version{}, fmt.Errorf("version %s: stored hash has %d bytes", v.ID, len(hash))
	}
	copy(v.Hash[:], hash)
	v.State = token.State(state)
	if len(sealed) > 0 {
		v.Sealed = sealed
	}
	v.CreatedAt, v.ExpiresAt = fromMicros(c), fromMicros(e)
	if a.Valid {
		v.ActivatedAt = fromMicros(a.Int64)
	}
	if rv.Valid {
		v.RevokedAt = fromMicros(rv.Int64)
	}
	return v, nil
}

func (t *sqlTx) GetVersion(ctx context.Context, id string) (Version, error) {
	v, err := scanVersion(t.row(ctx, `SELECT `+versionColumns+` FROM token_versions WHERE id = ?`, id))
	if err != nil {
		return Version{}, fmt.Errorf("get version %s: %w", id, classify(err))
	}
	return v, nil
}

func (t *sqlTx) versions(ctx context.Context, what, where string, args ...any) ([]Version, error) {
	rows, err := t.query(ctx, `SELECT `+versionColumns+` FROM token_versions WHERE `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer rows.Close()
	out := []Version{}
	for rows.Next() {
		v, err := scanVersion(rows)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

func (t *sqlTx) ListVersions(ctx context.Context, tokenID string) ([]Version, error) {
	return t.versions(ctx, "list versions of token id "+tokenID, `token_id = ? ORDER BY created_at DESC, id`, tokenID)
}

func (t *sqlTx) ListSealedVersions(ctx context.Context) ([]Version, error) {
	return t.versions(ctx, "list sealed versions", `sealed_value IS NOT NULL ORDER BY id`)
}

// --- destinations and deliveries

func (t *sqlTx) SetDestinations(ctx context.Context, tokenID string, ds []Destination) error {
	if _, err := t.exec(ctx, `DELETE FROM destinations WHERE token_id = ?`, tokenID); err != nil {
		return fmt.Errorf("set destinations of token id %s: %w", tokenID, err)
	}
	for i, d := range ds {
		cfg := d.Config
		if len(cfg) == 0 {
			cfg = json.RawMessage("{}")
		}
		if _, err := t.exec(ctx, `INSERT INTO destinations (token_id, key, kind, config, position) VALUES (?, ?, ?, ?, ?)`,
			tokenID, d.Key, d.Kind, string(cfg), i); err != nil {
			return fmt.Errorf("set destination %s of token id %s: %w", d.Key, tokenID, err)
		}
	}
	return nil
}

func (t *sqlTx) ListDestinations(ctx context.Context, tokenID string) ([]Destination, error) {
	rows, err := t.query(ctx, `SELECT token_id, key, kind, config FROM destinations WHERE token_id = ? ORDER BY position`, tokenID)
	if err != nil {
		return nil, fmt.Errorf("list destinations of token id %s: %w", tokenID, err)
	}
	out, err := scanDestinations(rows)
	if err != nil {
		return nil, fmt.Errorf("list destinations of token id %s: %w", tokenID, err)
	}
	return out, nil
}

// scanDestinations reads rows of token_id, key, kind, config, and closes them.
func scanDestinations(rows *sql.Rows) ([]Destination, error) {
	defer rows.Close()
	out := []Destination{}
	for rows.Next() {
		var d Destination
		var cfg string
		if err := rows.Scan(&d.TokenID, &d.Key, &d.Kind, &cfg); err != nil {
			return nil, err
		}
		d.Config = json.RawMessage(cfg)
		out = append(out, d)
	}
	return out, rows.Err()
}

func (t *sqlTx) RecordDelivery(ctx context.Context, d Delivery) error {
	_, err := t.exec(ctx, `INSERT INTO deliveries (version_id, destination, at, outcome, detail) VALUES (?, ?, ?, ?, ?)`,
		d.VersionID, d.Destination, micros(d.At), d.Outcome, d.Detail)
	if err != nil {
		return fmt.Errorf("record delivery of version %s to %s: %w", d.VersionID, d.Destination, err)
	}
	return nil
}

func (t *sqlTx) DestinationOwners(ctx context.Context, key string) ([]string, error) {
	out, err := t.column(ctx, `SELECT token_id FROM destinations WHERE key = ? ORDER BY token_id`, key)
	if err != nil {
		return nil, fmt.Errorf("find the tokens of destination %s: %w", key, err)
	}
	return out, nil
}

func (t *sqlTx) DestinationsWithKeyPrefix(ctx context.Context, prefix string) ([]Destination, error) {
	// substr counts characters on both engines; a LIKE pattern would need
	// escaping and is case-blind on SQLite.
	rows, err := t.query(ctx, `SELECT token_id, key, kind, config FROM destinations WHERE substr(key, 1, ?) = ? ORDER BY token_id, position`,
		utf8.RuneCountInString(prefix), prefix)
	if err != nil {
		return nil, fmt.Errorf("find the destinations under %s: %w", prefix, err)
	}
	out, err := scanDestinations(rows)
	if err != nil {
		return nil, fmt.Errorf("find the destinations under %s: %w", prefix, err)
	}
	return out, nil
}

func (t *sqlTx) ListDeliveries(ctx context.Context, versionID string) ([]Delivery, error) {
	rows, err := t.query(ctx, `SELECT version_id, destination, at, outcome, detail FROM deliveries WHERE version_id = ? ORDER BY id`, versionID)
	if err != nil {
		return nil, fmt.Errorf("list deliveries of version %s: %w", versionID, err)
	}
	defer rows.Close()
	out := []Delivery{}
	for rows.Next() {
		var d Delivery
		var at int64
		if err := rows.Scan(&d.VersionID, &d.Destination, &at, &d.Outcome, &d.Detail); err != nil {
			return nil, fmt.Errorf("list deliveries of version %s: %w", versionID, err)
		}
		d.At = fromMicros(at)
		out = append(out, d)
	}
	return out, rows.Err()
}

// --- settings and user values

const settingColumns = `key, type, default_value, sealed_default, description, constraints, sensitive, user_editable, created_at, updated_at`

func settingArgs(s Setting) ([]any, error) {
	cons, err := json.Marshal(s.Constraints)
	if err != nil {
		return nil, fmt.Errorf("setting %s: constraints: %w", s.Key, err)
	}
	return []any{s.Key, s.Type, nullJSON(s.Default), nullBytes(s.SealedDefault), s.Description, string(cons),
		s.Sensitive, s.UserEditable, micros(s.CreatedAt), micros(s.UpdatedAt)}, nil
}

func (t *sqlTx) CreateSetting(ctx context.Context, s Setting) error {
	args, err := settingArgs(s)
	if err != nil {
		return err
	}
	if _, err := t.exec(ctx, `INSERT INTO settings (`+settingColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, args...); err != nil {
		return fmt.Errorf("create setting %s: %w", s.Key, err)
	}
	return nil
}

func (t *sqlTx) UpdateSetting(ctx context.Context, s Setting) error {
	args, err := settingArgs(s)
	if err != nil {
		return err
	}
	// args follow settingColumns: key first, created_at (args[8]) unchanged.
	key, fields, updatedAt := args[0], args[1:8], args[9]
	res, err := t.exec(ctx, `UPDATE settings SET type = ?, default_value = ?, sealed_default = ?, description = ?, constraints = ?, sensitive = ?, user_editable = ?, updated_at = ? WHERE key = ?`,
		append(append([]any{}, fields...), updatedAt, key)...)
	return mustAffect(res, err, "update setting "+s.Key)
}

func scanSetting(r rowScanner) (Setting, error) {
	var s Setting
	var def sql.NullString
	var sealed []byte
	var cons string
	var c, u int64
	if err := r.Scan(&s.Key, &s.Type, &def, &sealed, &s.Description, &cons, &s.Sensitive, &s.UserEditable, &c, &u); err != nil {
		return Setting{}, err
	}
	if def.Valid {
		s.Default = json.RawMessage(def.String)
	}
	if len(sealed) > 0 {
		s.SealedDefault = sealed
	}
	if err := json.Unmarshal([]byte(cons), &s.Constraints); err != nil {
		return Setting{}, fmt.Errorf("setting %s: constraints: %w", s.Key, err)
	}
	s.CreatedAt, s.UpdatedAt = fromMicros(c), fromMicros(u)
	return s, nil
}

func (t *sqlTx) GetSetting(ctx context.Context, key string) (Setting, error) {
	s, err := scanSetting(t.row(ctx, `SELECT `+settingColumns+` FROM settings WHERE key = ?`, key))
	if err != nil {
		return Setting{}, fmt.Errorf("get setting %s: %w", key, classify(err))
	}
	return s, nil
}

func (t *sqlTx) ListSettings(ctx context.Context) ([]Setting, error) {
	rows, err := t.query(ctx, `SELECT `+settingColumns+` FROM settings ORDER BY key`)
	if err != nil {
		return nil, fmt.Errorf("list settings: %w", err)
	}
	defer rows.Close()
	out := []Setting{}
	for rows.Next() {
		s, err := scanSetting(rows)
		if err != nil {
			return nil, fmt.Errorf("list settings: %w", err)
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

func (t *sqlTx) DeleteSetting(ctx context.Context, key string) error {
	res, err := t.exec(ctx, `DELETE FROM settings WHERE key = ?`, key)
	return mustAffect(res, err, "delete setting "+key)
}

func (t *sqlTx) SettingUsers(ctx context.Context, key string) ([]string, error) {
	out, err := t.column(ctx, `SELECT user_id FROM user_values WHERE key = ? ORDER BY user_id`, key)
	if err != nil {
		return nil, fmt.Errorf("users of setting %s: %w", key, err)
	}
	return out, nil
}

func (t *sqlTx) PutUserValue(ctx context.Context, v UserValue) error {
	_, err := t.exec(ctx, `INSERT INTO user_values (user_id, key, value, sealed_value, updated_at, managed) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (user_id, key) DO UPDATE SET value = excluded.value, sealed_value = excluded.sealed_value, updated_at = excluded.updated_at, managed = excluded.managed`,
		v.User, v.Key, nullJSON(v.Value), nullBytes(v.Sealed), micros(v.UpdatedAt), v.Managed)
	if err != nil {
		if errors.Is(err, ErrInUse) {
			return fmt.Errorf("put value of %s for user %s: setting %w", v.Key, v.User, ErrNotFound)
		}
		return fmt.Errorf("put value of %s for user %s: %w", v.Key, v.User, err)
	}
	return nil
}

func (t *sqlTx) DeleteUserValue(ctx context.Context, user, key string) error {
	res, err := t.exec(ctx, `DELETE FROM user_values WHERE user_id = ? AND key = ?`, user, key)
	return mustAffect(res, err, fmt.Sprintf("delete value of %s for user %s", key, user))
}

func (t *sqlTx) userValues(ctx context.Context, what, where string, args ...any) ([]UserValue, error) {
	rows, err := t.query(ctx, `SELECT user_id, key, value, sealed_value, updated_at, managed FROM user_values WHERE `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer rows.Close()
	out := []UserValue{}
	for rows.Next() {
		var v UserValue
		var val sql.NullString
		var sealed []byte
		var u int64
		if err := rows.Scan(&v.User, &v.Key, &val, &sealed, &u, &v.Managed); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		if val.Valid {
			v.Value = json.RawMessage(val.String)
		}
		if len(sealed) > 0 {
			v.Sealed = sealed
		}
		v.UpdatedAt = fromMicros(u)
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

func (t *sqlTx) ListUserValues(ctx context.Context, user string) ([]UserValue, error) {
	return t.userValues(ctx, "list values of user "+user, `user_id = ? ORDER BY key`, user)
}

func (t *sqlTx) KeyCheck(ctx context.Context) ([]byte, error) {
	var sealed []byte
	err := t.row(ctx, `SELECT sealed FROM key_check WHERE id = 1`).Scan(&sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the key check: %w", err)
	}
	return sealed, nil
}

func (t *sqlTx) PutKeyCheck(ctx context.Context, sealed []byte) error {
	if _, err := t.exec(ctx, `INSERT INTO key_check (id, sealed) VALUES (1, ?)
		ON CONFLICT (id) DO UPDATE SET sealed = excluded.sealed`, sealed); err != nil {
		return fmt.Errorf("store the key check: %w", err)
	}
	return nil
}

func (t *sqlTx) ListSealedUserValues(ctx context.Context) ([]UserValue, error) {
	return t.userValues(ctx, "list sealed user values", `sealed_value IS NOT NULL ORDER BY user_id, key`)
}

func (t *sqlTx) ListAllUserValues(ctx context.Context) ([]UserValue, error) {
	return t.userValues(ctx, "list user values", `TRUE ORDER BY user_id, key`)
}

// --- audit

func (t *sqlTx) AppendAudit(ctx context.Context, e audit.Event) (audit.Event, error) {
	var head audit.Head
	// Locking the head row serializes appends on PostgreSQL; SQLite write
	// transactions are serialized already.
	if err := t.row(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1`+t.d.forUpdate).Scan(&head.Seq, &head.Hash); err != nil {
		return audit.Event{}, fmt.Errorf("append audit event: read head: %w", err)
	}
	if err := t.pastHead(ctx, head); err != nil {
		return audit.Event{}, fmt.Errorf("append audit event: %w", err)
	}
	e = audit.Link(head, e)
	details := e.Details
	if details == nil {
		details = map[string]string{}
	}
	body, err := json.Marshal(details)
	if err != nil {
		return audit.Event{}, fmt.Errorf("append audit event: %w", err)
	}
	if _, err := t.exec(ctx, `INSERT INTO audit_events (seq, at, actor, action, subject, outcome, details, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.Seq, micros(e.Time), e.Actor, e.Action, e.Subject, e.Outcome, string(body), e.PrevHash, e.Hash); err != nil {
		return audit.Event{}, fmt.Errorf("append audit event: %w", err)
	}
	if _, err := t.exec(ctx, `UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1`, e.Seq, e.Hash); err != nil {
		return audit.Event{}, fmt.Errorf("append audit event: move head: %w", err)
	}
	if t.d == postgresDialect {
		// Delivered at commit, and only then: a listener that hears it knows
		// the change is committed (see Listen).
		if _, err := t.exec(ctx, `SELECT pg_notify('`+changeChannel+`', ?)`, strconv.FormatInt(e.Seq, 10)); err != nil {
			return audit.Event{}, fmt.Errorf("append audit event: announce the change: %w", err)
		}
	}
	return e, nil
}

// --- value conversions

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

func nullMicros(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

func nullBytes(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

func nullJSON(b json.RawMessage) any {
	if len(b) == 0 {
		return nil
	}
	return string(b)
}
