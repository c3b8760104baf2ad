package issuer

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
)

// postgresIssuer alternates two login roles in one owner role. It keeps one
// admin connection, opened by Open and reopened when it breaks, so a run
// that rotates many credentials pays one admin login per issuer.
type postgresIssuer struct {
	cfg     PostgresConfig
	admin   *url.URL        // the admin DSN, parsed; never printed
	adminPW string          // for scrub
	connCfg *pgx.ConnConfig // the admin connection's settings
	tracer  pgx.QueryTracer // counts round trips in the benchmark; nil otherwise
	mu      sync.Mutex      // guards conn, which serves one statement at a time
	conn    *pgx.Conn       // the admin connection
}

// pgCredentialParams are admin DSN options that hold the admin's own
// credential, which a consumer's dsn must not inherit.
var pgCredentialParams = []string{"user", "password", "passfile", "sslcert", "sslkey", "sslpassword", "service", "servicefile"}

func openPostgres(ctx context.Context, cfg PostgresConfig, dsn string) (*postgresIssuer, error) {
	u, err := url.Parse(dsn)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
		// url.Parse's error quotes the DSN, password and all: say only what to fix.
		return nil, fmt.Errorf("issuer.postgres.admin_dsn_env: %s is not a postgres://user:password@host:port/database URL (the keyword=value form is not accepted)", cfg.AdminDSNEnv)
	}
	pw, _ := u.User.Password()
	connCfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, scrub(fmt.Errorf("issuer.postgres.admin_dsn_env: %s: %w", cfg.AdminDSNEnv, err), pw, u.Query().Get("password"))
	}
	if connCfg.Password != "" {
		pw = connCfg.Password // also from ?password=, PGPASSWORD or a passfile
	}
	p := &postgresIssuer{cfg: cfg, admin: u, adminPW: pw}
	if connCfg.ConnectTimeout == 0 || connCfg.ConnectTimeout > timeout {
		connCfg.ConnectTimeout = timeout
	}
	p.connCfg = connCfg
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, err := p.adminConnLocked(ctx); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *postgresIssuer) Kind() string      { return KindPostgres }
func (p *postgresIssuer) MainField() string { return FieldPassword }

func (p *postgresIssuer) NextUser(current string) string {
	if current == p.cfg.Users[0] {
		return p.cfg.Users[1]
	}
	return p.cfg.Users[0]
}

// adminConnLocked returns the admin connection, connecting when there is
// none or the last one broke. The caller holds p.mu.
func (p *postgresIssuer) adminConnLocked(ctx context.Context) (*pgx.Conn, error) {
	if p.conn != nil && !p.conn.IsClosed() {
		return p.conn, nil
	}
	cfg := p.connCfg.Copy()
	if p.tracer != nil {
		cfg.Tracer = p.tracer
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, scrub(fmt.Errorf("postgres: connect as admin: %w", err), p.adminPW)
	}
	p.conn = conn
	return conn, nil
}

// exec sends sql in one round trip: with no arguments pgx uses the simple
// protocol, which runs several statements as one implicit transaction.
func (p *postgresIssuer) exec(ctx context.Context, what, sql string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	conn, err := p.adminConnLocked(ctx)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if _, err := conn.Exec(ctx, sql); err != nil {
		return scrub(fmt.Errorf("postgres: %s: %w", what, err), p.adminPW)
	}
	return nil
}

// Stage creates the role if absent, makes it a member of member_of that
// sets its role to it on login, and sets the password (as a verifier) and
// LOGIN, all in one round trip and one transaction.
func (p *postgresIssuer) Stage(ctx context.Context, c Credential) error {
	if err := checkUser("postgres", c.Username, p.cfg.Users); err != nil {
		return err
	}
	if err := checkPassword(c.Password); err != nil {
		return fmt.Errorf("postgres: stage %s: %w", c.Username, err)
	}
	verifier, err := scramVerifier(c.Password)
	if err != nil {
		return fmt.Errorf("postgres: stage %s: %w", c.Username, err)
	}
	return p.exec(ctx, "stage "+c.Username, pgStageSQL(c.Username, p.cfg.MemberOf, verifier))
}

// pgStageSQL is Stage's statements. Names are checked by Config.Check and
// quoted again here; the verifier is base64, digits and $ : only.
func pgStageSQL(user, memberOf, verifier string) string {
	u := pgx.Identifier{user}.Sanitize()
	m := pgx.Identifier{memberOf}.Sanitize()
	return strings.Join([]string{
		// CREATE ROLE has no IF NOT EXISTS; the DO block makes a rerun fine.
		// It first refuses to take over a role that is more than a plain
		// login: setting the password of an existing superuser (users =
		// ["postgres", …] with a superuser admin), of a role with
		// CREATEROLE, REPLICATION or BYPASSRLS, of one that belongs to other
		// roles than member_of, or of the admin itself (Retire would lock
		// it out) would hand its rights to whoever reads the destinations.
		// A member_of with such attributes would do the same through SET
		// ROLE. Names are checked by Config.Check, so they fit in messages.
		"DO $tw$ BEGIN" +
			" IF " + pgLiteral(user) + " IN (current_user, session_user) THEN" +
			" RAISE EXCEPTION " + pgLiteral("role "+user+" is the admin of issuer.postgres.admin_dsn_env: tokenward would lock it out; choose other users in issuer.postgres.users") + "; END IF;" +
			" IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = " + pgLiteral(user) + " AND (rolsuper OR rolcreaterole OR rolreplication OR rolbypassrls)) THEN" +
			" RAISE EXCEPTION " + pgLiteral("role "+user+" has SUPERUSER, CREATEROLE, REPLICATION or BYPASSRLS: tokenward only manages plain login roles; choose other users in issuer.postgres.users") + "; END IF;" +
			" IF EXISTS (SELECT FROM pg_catalog.pg_auth_members am JOIN pg_catalog.pg_roles m ON m.oid = am.member JOIN pg_catalog.pg_roles g ON g.oid = am.roleid WHERE m.rolname = " + pgLiteral(user) + " AND g.rolname <> " + pgLiteral(memberOf) + ") THEN" +
			" RAISE EXCEPTION " + pgLiteral("role "+user+" is a member of roles other than "+memberOf+": tokenward only manages login roles whose rights come from issuer.postgres.member_of; choose other users, or revoke those memberships") + "; END IF;" +
			" IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = " + pgLiteral(memberOf) + " AND (rolsuper OR rolcreaterole OR rolreplication OR rolbypassrls)) THEN" +
			" RAISE EXCEPTION " + pgLiteral("role "+memberOf+" has SUPERUSER, CREATEROLE, REPLICATION or BYPASSRLS: issuer.postgres.member_of must be a role that holds only the application's privileges") + "; END IF;" +
			" IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = " + pgLiteral(user) + ") THEN CREATE ROLE " + u + " NOLOGIN; END IF; END $tw$",
		"GRANT " + m + " TO " + u,
		"ALTER ROLE " + u + " SET role = " + pgLiteral(memberOf),
		"ALTER ROLE " + u + " WITH LOGIN PASSWORD " + pgLiteral(verifier),
	}, ";\n")
}

// pgLiteral quotes a string literal (standard_conforming_strings is on
// since PostgreSQL 9.1; an E” literal would be needed otherwise).
func pgLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// Retire sets NOLOGIN on the user: new logins fail whatever the pg_hba
// method, open sessions go on. The hash is not checked: PostgreSQL keeps a
// salted verifier, not the SHA-256 the store has; the engine retires only
// the user whose overlap ended.
func (p *postgresIssuer) Retire(ctx context.Context, r Retired) error {
	if err := checkUser("postgres", r.Username, p.cfg.Users); err != nil {
		return err
	}
	return p.exec(ctx, "retire "+r.Username, "ALTER ROLE "+pgx.Identifier{r.Username}.Sanitize()+" NOLOGIN")
}

// Test logs in with c at the admin DSN's host, port and database.
func (p *postgresIssuer) Test(ctx context.Context, c Credential) error {
	if err := checkUser("postgres", c.Username, p.cfg.Users); err != nil {
		return err
	}
	cfg := p.connCfg.Copy()
	cfg.User = c.Username
	cfg.Password = c.Password
	// Without the admin's TLS client certificate a consumer could not use
	// it either; the test logs in as a consumer would.
	for i := range cfg.Fallbacks {
		cfg.Fallbacks[i].TLSConfig = cloneWithoutCerts(cfg.Fallbacks[i].TLSConfig)
	}
	cfg.TLSConfig = cloneWithoutCerts(cfg.TLSConfig)
	cfg.Tracer = p.tracer
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return scrub(fmt.Errorf("postgres: test login as %s: %w", c.Username, err), c.Password, p.adminPW)
	}
	return scrub(conn.Close(ctx), c.Password, p.adminPW)
}

// Field returns what a destination receives; dsn is the admin URL with the
// credential's user and password and without the admin's own credential
// options.
func (p *postgresIssuer) Field(c Credential, field string) (string, error) {
	switch field {
	case FieldPassword:
		return c.Password, nil
	case FieldUsername:
		return c.Username, nil
	case FieldDSN:
		u := *p.admin
		u.User = url.UserPassword(c.Username, c.Password)
		q := u.Query()
		for _, k := range pgCredentialParams {
			q.Del(k)
		}
		u.RawQuery = q.Encode()
		return u.String(), nil
	}
	return "", fmt.Errorf("postgres: field %q: use password, username or dsn", field)
}

func (p *postgresIssuer) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conn == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err := p.conn.Close(ctx)
	p.conn = nil
	if err != nil && !errors.Is(err, context.Canceled) {
		return scrub(fmt.Errorf("postgres: close: %w", err), p.adminPW)
	}
	return nil
}

// cloneWithoutCerts is c without client certificates (nil stays nil).
func cloneWithoutCerts(c *tls.Config) *tls.Config {
	if c == nil {
		return nil
	}
	c = c.Clone()
	c.Certificates = nil
	c.GetClientCertificate = nil
	return c
}
