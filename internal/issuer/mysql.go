package issuer

import (
	"context"
	"crypto/sha1"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/go-sql-driver/mysql"
)

// mysqlDialect is what the server supports, found by Open from VERSION().
type mysqlDialect int

const (
	// dialectMariaDB alternates two users; it has no dual passwords.
	dialectMariaDB mysqlDialect = iota
	// dialectMySQL (8.0.0 to 8.0.13) alternates two users like MariaDB.
	dialectMySQL
	// dialectMySQLDual (8.0.14 and later) keeps two passwords on the first
	// user: RETAIN CURRENT PASSWORD, then DISCARD OLD PASSWORD.
	dialectMySQLDual
)

// mysqlDialectOf reads VERSION(): "10.11.6-MariaDB-0+deb12u1", "8.0.36".
func mysqlDialectOf(version string) (mysqlDialect, error) {
	if strings.Contains(strings.ToLower(version), "mariadb") {
		return dialectMariaDB, nil
	}
	parts := strings.SplitN(strings.SplitN(version, "-", 2)[0], ".", 3)
	nums := make([]int, 3)
	for i := range parts {
		n, err := strconv.Atoi(parts[i])
		if err != nil {
			return 0, fmt.Errorf("mysql: server version %q: not major.minor.patch", version)
		}
		nums[i] = n
	}
	switch {
	case nums[0] < 8:
		return 0, fmt.Errorf("mysql: server version %s has no roles (MySQL 8.0 or MariaDB 10.4 and later), which grants_from needs", version)
	case nums[0] == 8 && nums[1] == 0 && nums[2] < 14:
		return dialectMySQL, nil
	}
	return dialectMySQLDual, nil
}

type mysqlIssuer struct {
	cfg      MySQLConfig
	dialect  mysqlDialect
	consumer *mysql.Config // the admin DSN as given, for dsn fields and test logins
	adminPW  string
	db       *sql.DB // the admin connection (one)
}

func openMySQL(ctx context.Context, cfg MySQLConfig, dsn string) (*mysqlIssuer, error) {
	parsed, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, scrub(fmt.Errorf("issuer.mysql.admin_dsn_env: %s is not a DSN of the form admin:password@tcp(host:3306)/database: %w", cfg.AdminDSNEnv, err), dsn)
	}
	m := &mysqlIssuer{cfg: cfg, consumer: parsed.Clone(), adminPW: parsed.Passwd}
	admin := withTimeouts(parsed.Clone())
	connector, err := mysql.NewConnector(admin)
	if err != nil {
		return nil, scrub(fmt.Errorf("issuer.mysql: %w", err), m.adminPW)
	}
	m.db = sql.OpenDB(connector)
	m.db.SetMaxOpenConns(1)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var version string
	if err := m.db.QueryRowContext(ctx, "SELECT VERSION()").Scan(&version); err != nil {
		m.db.Close()
		return nil, scrub(fmt.Errorf("mysql: connect as admin: %w", err), m.adminPW)
	}
	if m.dialect, err = mysqlDialectOf(version); err != nil {
		m.db.Close()
		return nil, err
	}
	return m, nil
}

// withTimeouts bounds dialling and every read and write of c.
func withTimeouts(c *mysql.Config) *mysql.Config {
	if c.Timeout == 0 || c.Timeout > timeout {
		c.Timeout = timeout
	}
	if c.ReadTimeout == 0 || c.ReadTimeout > timeout {
		c.ReadTimeout = timeout
	}
	if c.WriteTimeout == 0 || c.WriteTimeout > timeout {
		c.WriteTimeout = timeout
	}
	return c
}

func (m *mysqlIssuer) Kind() string      { return KindMySQL }
func (m *mysqlIssuer) MainField() string { return FieldPassword }

func (m *mysqlIssuer) NextUser(current string) string {
	if m.dialect != dialectMySQLDual && current == m.cfg.Users[0] {
		return m.cfg.Users[1]
	}
	return m.cfg.Users[0]
}

func (m *mysqlIssuer) users() []string {
	if m.dialect == dialectMySQLDual {
		return m.cfg.Users[:1]
	}
	return m.cfg.Users
}

// mysqlNativeHash is the mysql_native_password hash of p, as
// mysql.global_priv stores it and PASSWORD() returns it: *HEX(SHA1(SHA1(p))).
func mysqlNativeHash(p string) string {
	first := sha1.Sum([]byte(p))
	second := sha1.Sum(first[:])
	return "*" + strings.ToUpper(hex.EncodeToString(second[:]))
}

func mysqlAccount(user string) string { return "'" + user + "'@'%'" }

// mysqlStageSQL is what Stage sends, in order. On MariaDB and older MySQL
// only the mysql_native_password hash leaves tokenward (the general log and
// binary log then hold the hash, not the password). MySQL 8.0.14 and later
// get the plaintext, which they rewrite as <secret> in their logs, because
// RETAIN CURRENT PASSWORD is refused with a hash given AS. retained means c
// already logs in (a rerun): retaining it again would push the old password
// out, so the password is left as it is.
func mysqlStageSQL(d mysqlDialect, user, password, role string, retained bool) []string {
	acct := mysqlAccount(user)
	r := "`" + role + "`"
	switch d {
	case dialectMySQLDual:
		stmts := []string{
			"CREATE USER IF NOT EXISTS " + acct + " IDENTIFIED BY '" + password + "'",
			"GRANT " + r + " TO " + acct,
			"SET DEFAULT ROLE " + r + " TO " + acct,
		}
		if !retained {
			stmts = append(stmts, "ALTER USER "+acct+" IDENTIFIED BY '"+password+"' RETAIN CURRENT PASSWORD ACCOUNT UNLOCK")
		}
		return stmts
	case dialectMySQL:
		return []string{
			"CREATE USER IF NOT EXISTS " + acct + " ACCOUNT LOCK",
			"GRANT " + r + " TO " + acct,
			"SET DEFAULT ROLE " + r + " TO " + acct,
			"ALTER USER " + acct + " IDENTIFIED WITH mysql_native_password AS '" + mysqlNativeHash(password) + "' ACCOUNT UNLOCK",
		}
	}
	// MariaDB's default role is set by the user itself (mysqlSelfSQL): for
	// another user, SET DEFAULT ROLE … FOR needs UPDATE on the whole mysql
	// database, which would let the admin rewrite every grant.
	return []string{
		// Created locked: until its password is set, nobody logs in as it.
		"CREATE USER IF NOT EXISTS " + acct + " ACCOUNT LOCK",
		"GRANT " + r + " TO " + acct,
		"ALTER USER " + acct + " IDENTIFIED BY PASSWORD '" + mysqlNativeHash(password) + "' ACCOUNT UNLOCK",
	}
}

// mysqlSelfSQL is what Stage then sends logged in as the user, "" for
// none: on MariaDB, its own default role, which needs no privilege beyond
// the role granted.
func mysqlSelfSQL(d mysqlDialect, role string) string {
	if d == dialectMariaDB {
		return "SET DEFAULT ROLE `" + role + "`"
	}
	return ""
}

// mysqlRetireSQL is what Retire sends: a lock on the user (new logins fail,
// sessions go on), or on MySQL with dual passwords the old password dropped.
func mysqlRetireSQL(d mysqlDialect, user string) string {
	if d == dialectMySQLDual {
		return "ALTER USER IF EXISTS " + mysqlAccount(user) + " DISCARD OLD PASSWORD"
	}
	return "ALTER USER IF EXISTS " + mysqlAccount(user) + " ACCOUNT LOCK"
}

func (m *mysqlIssuer) exec(ctx context.Context, what string, stmts []string, secrets ...string) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for _, s := range stmts {
		if _, err := m.db.ExecContext(ctx, s); err != nil {
			return scrub(fmt.Errorf("mysql: %s: %w", what, err), append(secrets, m.adminPW)...)
		}
	}
	return nil
}

func (m *mysqlIssuer) Stage(ctx context.Context, c Credential) error {
	if err := checkUser("mysql", c.Username, m.users()); err != nil {
		return err
	}
	if err := checkPassword(c.Password); err != nil {
		return fmt.Errorf("mysql: stage %s: %w", c.Username, err)
	}
	if err := m.checkTakeover(ctx, c.Username); err != nil {
		return err
	}
	retained := false
	if m.dialect == dialectMySQLDual {
		retained = m.Test(ctx, c) == nil
	}
	hash := mysqlNativeHash(c.Password)
	if err := m.exec(ctx, "stage "+c.Username, mysqlStageSQL(m.dialect, c.Username, c.Password, m.cfg.GrantsFrom, retained), c.Password, hash); err != nil {
		return err
	}
	if self := mysqlSelfSQL(m.dialect, m.cfg.GrantsFrom); self != "" {
		return m.asUser(ctx, c, func(conn *sql.Conn) error {
			_, err := conn.ExecContext(ctx, self)
			return err
		})
	}
	return nil
}

// checkTakeover refuses to stage on an account that exists with privileges
// of its own, or that is the admin: an admin with CREATE USER may ALTER any
// account (root@'%' included), and setting its password would hand its
// rights to whoever reads the destinations; retiring the admin would lock
// it out. An account tokenward made has USAGE and the grants_from role
// only.
// The grants are never quoted in the error: they may hold a password hash.
func (m *mysqlIssuer) checkTakeover(ctx context.Context, user string) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var current string
	if err := m.db.QueryRowContext(ctx, "SELECT CURRENT_USER()").Scan(&current); err != nil {
		return scrub(fmt.Errorf("mysql: stage %s: read the admin's account: %w", user, err), m.adminPW)
	}
	if strings.EqualFold(current, user+"@%") {
		return fmt.Errorf("mysql: stage %s: the account is the admin of issuer.mysql.admin_dsn_env: tokenward would lock it out; choose other users in issuer.mysql.users", user)
	}
	grants, err := m.grants(ctx, user)
	var me *mysql.MySQLError
	// 1141: no such account. 1044: the least-privilege admin of the guide
	// (CREATE USER and the role) may not read other accounts' grants, which
	// needs SELECT on the mysql database; then only the admin check above
	// holds, and the guide's warning about users naming accounts of others.
	if errors.As(err, &me) && (me.Number == 1141 || me.Number == 1044) {
		return nil
	}
	if err != nil {
		return scrub(fmt.Errorf("mysql: stage %s: read its grants (to refuse taking over a privileged account): %w", user, err), m.adminPW)
	}
	usage := "GRANT USAGE ON *.* TO " + mysqlAccountShown(user)
	role := "GRANT " + mysqlRoleShown(m.cfg.GrantsFrom) + " TO " + mysqlAccountShown(user)
	// MariaDB lists the default role the user set (mysqlSelfSQL) too.
	defaultRole := "SET DEFAULT ROLE " + mysqlRoleShown(m.cfg.GrantsFrom) + " FOR " + mysqlAccountShown(user)
	for _, g := range grants {
		g = strings.ReplaceAll(g, "'", "`")
		if g == role || g == usage || g == defaultRole || strings.HasPrefix(g, usage+" IDENTIFIED ") {
			continue
		}
		return fmt.Errorf("mysql: stage %s: the account exists with privileges of its own (beyond the role %s): tokenward only manages accounts whose rights come from issuer.mysql.grants_from; choose other users in issuer.mysql.users, or revoke those privileges", user, m.cfg.GrantsFrom)
	}
	return nil
}

// grants is SHOW GRANTS FOR the user's account; its error may come from
// the query or, with the driver, from reading its rows.
func (m *mysqlIssuer) grants(ctx context.Context, user string) ([]string, error) {
	rows, err := m.db.QueryContext(ctx, "SHOW GRANTS FOR "+mysqlAccount(user))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var grants []string
	for rows.Next() {
		var g string
		if err := rows.Scan(&g); err != nil {
			return nil, err
		}
		grants = append(grants, g)
	}
	return grants, rows.Err()
}

// mysqlAccountShown and mysqlRoleShown are how SHOW GRANTS names an
// account and a role, with ` for quotes (MySQL uses ', normalised above).
func mysqlAccountShown(user string) string { return "`" + user + "`@`%`" }
func mysqlRoleShown(role string) string    { return "`" + role + "`" }

func (m *mysqlIssuer) Retire(ctx context.Context, r Retired) error {
	if err := checkUser("mysql", r.Username, m.users()); err != nil {
		return err
	}
	return m.exec(ctx, "retire "+r.Username, []string{mysqlRetireSQL(m.dialect, r.Username)})
}

// Test logs in with c at the admin DSN's address and database.
func (m *mysqlIssuer) Test(ctx context.Context, c Credential) error {
	if err := checkUser("mysql", c.Username, m.users()); err != nil {
		return err
	}
	return m.asUser(ctx, c, nil)
}

// asUser logs in as c on a connection of its own, runs do (when not nil)
// and closes the connection.
func (m *mysqlIssuer) asUser(ctx context.Context, c Credential, do func(*sql.Conn) error) error {
	cfg := withTimeouts(m.consumer.Clone())
	cfg.User, cfg.Passwd = c.Username, c.Password
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return scrub(fmt.Errorf("mysql: log in as %s: %w", c.Username, err), c.Password, m.adminPW)
	}
	db := sql.OpenDB(connector)
	defer db.Close()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := db.Conn(ctx)
	if err == nil {
		defer conn.Close()
		err = conn.PingContext(ctx)
	}
	if err == nil && do != nil {
		err = do(conn)
	}
	if err != nil {
		return scrub(fmt.Errorf("mysql: log in as %s: %w", c.Username, err), c.Password, m.adminPW)
	}
	return nil
}

// Field returns what a destination receives; dsn is the admin DSN (in the
// Go driver's form) with the credential's user and password.
func (m *mysqlIssuer) Field(c Credential, field string) (string, error) {
	switch field {
	case FieldPassword:
		return c.Password, nil
	case FieldUsername:
		return c.Username, nil
	case FieldDSN:
		cfg := m.consumer.Clone()
		cfg.User, cfg.Passwd = c.Username, c.Password
		return cfg.FormatDSN(), nil
	}
	return "", fmt.Errorf("mysql: field %q: use password, username or dsn", field)
}

func (m *mysqlIssuer) Close() error {
	return scrub(m.db.Close(), m.adminPW)
}
