package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/jackc/pgx/v5/stdlib"
)

// VerificationData is everything a verifier keeps in memory, read in one
// transaction so that it is exactly the store as of change counter Seq.
type VerificationData struct {
	// Seq is the audit head's sequence number the read saw: the store's
	// change counter, since every change appends an audit event in its own
	// transaction.
	Seq    int64
	Tokens []VerifiableToken // every token, deleted ones included, by id
}

// VerifiableToken is a token with what verifying its values needs.
type VerifiableToken struct {
	Token                    // own Scopes and Roles; DeletedAt set for a deleted token
	EffectiveScopes []string // own scopes and those of its roles, sorted
	// Versions are all the token's versions, revoked ones included, in no
	// particular order; Sealed is always nil (a verifier has no key).
	Versions []Version
}

// VerificationData reads every token, deleted ones included, with its
// effective scopes and every version, and the change counter, in one read
// transaction: a handful of queries whatever the number of tokens. On
// PostgreSQL the transaction is REPEATABLE READ, so every query sees the
// same committed state (at READ COMMITTED each would see its own); a SQLite
// read transaction keeps one snapshot of the file from its first read.
//
// A SQLite store opened immutable (by a reader that may not write its
// folder, while no writer held it) is refused: SQLite would never show it
// a change, so a server could not follow the store.
func (s *sqlStore) VerificationData(ctx context.Context) (VerificationData, error) {
	if s.immutable {
		return VerificationData{}, ErrImmutable
	}
	opts := &sql.TxOptions{ReadOnly: true}
	if s.d == postgresDialect {
		opts.Isolation = sql.LevelRepeatableRead
	}
	tx, err := s.db.BeginTx(ctx, opts)
	if err != nil {
		return VerificationData{}, fmt.Errorf("read verification data: begin transaction: %w", s.redact(err))
	}
	defer func() { _ = tx.Rollback() }()
	out, err := (&sqlTx{tx: tx, d: s.d}).verificationData(ctx)
	if err != nil {
		return VerificationData{}, fmt.Errorf("read verification data: %w", s.redact(err))
	}
	return out, nil
}

func (t *sqlTx) verificationData(ctx context.Context) (VerificationData, error) {
	var out VerificationData
	if err := t.row(ctx, `SELECT seq FROM audit_head WHERE id = 1`).Scan(&out.Seq); err != nil {
		return out, fmt.Errorf("audit head: %w", err)
	}
	// Counted first, so that 100,000 tokens and versions are not copied
	// over and over as the slices grow.
	var nTokens, nVersions int
	if err := t.row(ctx, `SELECT (SELECT COUNT(*) FROM tokens), (SELECT COUNT(*) FROM token_versions)`).Scan(&nTokens, &nVersions); err != nil {
		return out, fmt.Errorf("count tokens: %w", err)
	}
	out.Tokens = make([]VerifiableToken, 0, nTokens)
	rows, err := t.query(ctx, `SELECT `+tokenColumns+` FROM tokens ORDER BY id`)
	if err != nil {
		return out, fmt.Errorf("tokens: %w", err)
	}
	byID := make(map[string]int, nTokens)
	for rows.Next() {
		tk, err := scanTokenRow(rows)
		if err != nil {
			rows.Close()
			return out, fmt.Errorf("tokens: %w", err)
		}
		byID[tk.ID] = len(out.Tokens)
		out.Tokens = append(out.Tokens, VerifiableToken{Token: tk})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return out, fmt.Errorf("tokens: %w", err)
	}

	roleScopes := map[string][]string{}
	if err := t.pairs(ctx, `SELECT role, scope FROM role_scopes ORDER BY role, scope`, func(role, scope string) {
		roleScopes[role] = append(roleScopes[role], scope)
	}); err != nil {
		return out, fmt.Errorf("role scopes: %w", err)
	}
	if err := t.pairs(ctx, `SELECT token_id, scope FROM token_scopes ORDER BY token_id, scope`, func(id, scope string) {
		if i, ok := byID[id]; ok {
			out.Tokens[i].Scopes = append(out.Tokens[i].Scopes, scope)
		}
	}); err != nil {
		return out, fmt.Errorf("token scopes: %w", err)
	}
	if err := t.pairs(ctx, `SELECT token_id, role FROM token_roles ORDER BY token_id, role`, func(id, role string) {
		if i, ok := byID[id]; ok {
			out.Tokens[i].Roles = append(out.Tokens[i].Roles, role)
		}
	}); err != nil {
		return out, fmt.Errorf("token roles: %w", err)
	}
	for i := range out.Tokens {
		tk := &out.Tokens[i]
		if tk.Scopes == nil {
			tk.Scopes = []string{}
		}
		if tk.Roles == nil {
			tk.Roles = []string{}
		}
		tk.EffectiveScopes = effectiveScopes(tk.Scopes, tk.Roles, roleScopes)
	}

	rows, err = t.query(ctx, `SELECT `+versionColumns+` FROM token_versions`)
	if err != nil {
		return out, fmt.Errorf("versions: %w", err)
	}
	defer rows.Close()
	all := make([]Version, 0, nVersions)
	owner := make([]int, 0, nVersions) // index in out.Tokens of all[i]'s token
	count := make([]int, len(out.Tokens))
	for rows.Next() {
		v, err := scanVersion(rows)
		if err != nil {
			return out, fmt.Errorf("versions: %w", err)
		}
		v.Sealed = nil
		if i, ok := byID[v.TokenID]; ok {
			all, owner = append(all, v), append(owner, i)
			count[i]++
		}
	}
	if err := rows.Err(); err != nil {
		return out, fmt.Errorf("versions: %w", err)
	}
	// Each token's versions are a window of one array, in the order read.
	start := make([]int, len(out.Tokens)+1)
	for i, c := range count {
		start[i+1] = start[i] + c
	}
	pos := slices.Clone(start[:len(out.Tokens)])
	grouped := make([]Version, len(all))
	for j, v := range all {
		grouped[pos[owner[j]]] = v
		pos[owner[j]]++
	}
	for i := range out.Tokens {
		out.Tokens[i].Versions = grouped[start[i]:start[i+1]:start[i+1]]
	}
	return out, nil
}

// pairs runs a query of two text columns and hands each row to fn.
func (t *sqlTx) pairs(ctx context.Context, query string, fn func(a, b string)) error {
	rows, err := t.query(ctx, query)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var a, b string
		if err := rows.Scan(&a, &b); err != nil {
			return err
		}
		fn(a, b)
	}
	return rows.Err()
}

// effectiveScopes is what Tx.EffectiveScopes returns, computed from rows
// already read: the own scopes and the roles' scopes, sorted, each once.
func effectiveScopes(own, roles []string, roleScopes map[string][]string) []string {
	out := slices.Clone(own)
	for _, r := range roles {
		out = append(out, roleScopes[r]...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// ErrImmutable is VerificationData's error on a SQLite store that was opened
// as an immutable file.
var ErrImmutable = errors.New("read verification data: the SQLite store was opened as a file that never changes, " +
	"because this user may not write its folder (to share the -shm file with the store's writers) and no writer held it open; " +
	"such a reader would never see a revocation: give the server's user write access to the store's folder, or use a PostgreSQL store")

// changeChannel is the PostgreSQL notification channel every change is
// announced on, with the new change counter as payload. Notifications stay
// within one database, so stores on one server do not hear each other.
const changeChannel = "tokenward_change"

// ErrNoNotifications is wrapped by Listen on an engine that cannot announce
// changes (SQLite): poll AuditHead instead.
var ErrNoNotifications = fmt.Errorf("the store sends no change notifications: %w", errors.ErrUnsupported)

// Listener receives the store's change notifications over a connection of
// its own. It is not safe for concurrent use.
type Listener interface {
	// Wait blocks until the store commits a change, and returns the change
	// counter the change announced, or until ctx ends. Any other error means
	// the connection is lost: Close the listener and Listen again (changes
	// committed meanwhile are not announced again; read AuditHead).
	Wait(ctx context.Context) (int64, error)
	Close() error
}

// Listen opens a Listener on PostgreSQL: it takes a connection of the pool
// for itself and LISTENs on it. Any role that may connect may listen. On
// SQLite it returns an error wrapping ErrNoNotifications.
func (s *sqlStore) Listen(ctx context.Context) (Listener, error) {
	if s.d != postgresDialect {
		return nil, ErrNoNotifications
	}
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("listen for changes: connect: %w", s.redact(err))
	}
	if _, err := conn.ExecContext(ctx, `LISTEN `+changeChannel); err != nil {
		l := &pgListener{conn: conn, s: s}
		l.Close()
		return nil, fmt.Errorf("listen for changes: %w", s.redact(err))
	}
	return &pgListener{conn: conn, s: s}, nil
}

// pgListener waits for notifications on a connection taken from the pool.
type pgListener struct {
	conn *sql.Conn
	s    *sqlStore
}

func (l *pgListener) Wait(ctx context.Context) (int64, error) {
	var payload string
	err := l.conn.Raw(func(dc any) error {
		c, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("the pgx driver gave a %T", dc)
		}
		n, err := c.Conn().WaitForNotification(ctx)
		if err != nil {
			return err
		}
		payload = n.Payload
		return nil
	})
	if err != nil {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		return 0, fmt.Errorf("wait for a change notification: %w", l.s.redact(err))
	}
	seq, err := strconv.ParseInt(payload, 10, 64)
	if err != nil {
		// Someone else's NOTIFY on the channel: a change may have happened.
		return 0, nil
	}
	return seq, nil
}

// Close closes the listener's connection rather than handing it back to
// the pool, which would keep it listening.
func (l *pgListener) Close() error {
	_ = l.conn.Raw(func(dc any) error {
		if c, ok := dc.(*stdlib.Conn); ok {
			return c.Conn().Close(context.Background())
		}
		return nil
	})
	err := l.conn.Close()
	if errors.Is(err, sql.ErrConnDone) {
		return nil
	}
	return err
}

// redact keeps the PostgreSQL URL's password out of an error of the
// running store, as Open does for its own: a connection the pool reopens
// reports its errors here.
func (s *sqlStore) redact(err error) error {
	if err == nil || s.opts.dsn == "" {
		return err
	}
	return redact(err, s.opts.dsn)
}
