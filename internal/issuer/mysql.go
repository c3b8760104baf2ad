package issuer

import (
	"context"
	"crypto/sha1"
	"database/sql"
	"encoding/hex"
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
	return []string{
		// Created locked: until its password is set, nobody logs in as it.
		"CREATE USER IF NOT EXISTS " + acct + " ACCOUNT LOCK",
		"GRANT " + r + " TO " + acct,
		"SET DEFAULT ROLE " + r + " FOR " + acct,
		"ALTER USER " + acct + " IDENTIFIED BY PASSWORD '" + mysqlNativeHash(password) + "' ACCOUNT UNLOCK",
	}
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
	retained := false
	if m.dialect == dialectMySQLDual {
		retained = m.Test(ctx, c) == nil
	}
	hash := mysqlNativeHash(c.Password)
	return m.exec(ctx, "stage "+c.Username, mysqlStageSQL(m.dialect, c.Username, c.Password, m.cfg.GrantsFrom, retained), c.Password, hash)
}

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
	cfg := withTimeouts(m.consumer.Clone())
	cfg.User, cfg.Passwd = c.Username, c.Password
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return scrub(fmt.Errorf("mysql: test login as %s: %w", c.Username, err), c.Password, m.adminPW)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := connector.Connect(ctx)
	if err != nil {
		return scrub(fmt.Errorf("mysql: test login as %s: %w", c.Username, err), c.Password, m.adminPW)
	}
	return scrub(conn.Close(), c.Password, m.adminPW)
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
