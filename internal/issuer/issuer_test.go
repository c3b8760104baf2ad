package issuer

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"
)

func TestConfigCheck(t *testing.T) {
	pg := func(mod func(*PostgresConfig)) Config {
		c := &PostgresConfig{AdminDSNEnv: "DB_ADMIN", Users: []string{"app_a", "app_b"}, MemberOf: "app"}
		mod(c)
		return Config{Postgres: c}
	}
	my := func(mod func(*MySQLConfig)) Config {
		c := &MySQLConfig{AdminDSNEnv: "DB_ADMIN", Users: []string{"app_a", "app_b"}, GrantsFrom: "app"}
		mod(c)
		return Config{MySQL: c}
	}
	rd := func(mod func(*RedisConfig)) Config {
		c := &RedisConfig{AdminURLEnv: "CACHE_ADMIN", User: "cache_app"}
		mod(c)
		return Config{Redis: c}
	}
	same := func(*PostgresConfig) {}
	cases := []struct {
		name string
		cfg  Config
		want string // "" for valid; else a part of the error
	}{
		{"postgres ok", pg(same), ""},
		{"mysql ok", my(func(*MySQLConfig) {}), ""},
		{"redis ok", rd(func(*RedisConfig) {}), ""},
		{"none", Config{}, "exactly one of postgres, mysql or redis (0 set)"},
		{"two kinds", Config{Postgres: pg(same).Postgres, Redis: rd(func(*RedisConfig) {}).Redis}, "(2 set)"},
		{"postgres no env", pg(func(c *PostgresConfig) { c.AdminDSNEnv = "" }), "issuer.postgres.admin_dsn_env: required"},
		{"postgres env with a dash", pg(func(c *PostgresConfig) { c.AdminDSNEnv = "DB-ADMIN" }), "issuer.postgres.admin_dsn_env: \"DB-ADMIN\" is not an environment variable name"},
		{"postgres one user", pg(func(c *PostgresConfig) { c.Users = []string{"a"} }), "issuer.postgres.users: give exactly 2 users"},
		{"postgres three users", pg(func(c *PostgresConfig) { c.Users = []string{"a", "b", "c"} }), "(got 3)"},
		{"postgres same users", pg(func(c *PostgresConfig) { c.Users = []string{"a", "a"} }), "the two users must differ"},
		{"postgres quote in a user", pg(func(c *PostgresConfig) { c.Users = []string{`a"; DROP ROLE x; --`, "b"} }), "issuer.postgres.users[0]:"},
		{"postgres empty user", pg(func(c *PostgresConfig) { c.Users = []string{"a", ""} }), "issuer.postgres.users[1]: required"},
		{"postgres digit first", pg(func(c *PostgresConfig) { c.Users = []string{"1a", "b"} }), "not starting with a digit"},
		{"postgres pg_ prefix", pg(func(c *PostgresConfig) { c.MemberOf = "pg_read_all_data" }), "reserved by PostgreSQL"},
		{"postgres long name", pg(func(c *PostgresConfig) { c.MemberOf = strings.Repeat("a", 64) }), "63-byte"},
		{"postgres no member_of", pg(func(c *PostgresConfig) { c.MemberOf = "" }), "issuer.postgres.member_of: required"},
		{"postgres member_of is a user", pg(func(c *PostgresConfig) { c.MemberOf = "app_a" }), "is also one of users"},
		{"mysql no env", my(func(c *MySQLConfig) { c.AdminDSNEnv = "" }), "issuer.mysql.admin_dsn_env: required"},
		{"mysql quote in a user", my(func(c *MySQLConfig) { c.Users = []string{"a'@'%", "b"} }), "issuer.mysql.users[0]:"},
		{"mysql long user", my(func(c *MySQLConfig) { c.Users = []string{strings.Repeat("a", 33), "b"} }), "up to 32"},
		{"mysql no grants_from", my(func(c *MySQLConfig) { c.GrantsFrom = "" }), "issuer.mysql.grants_from: required"},
		{"mysql backtick in grants_from", my(func(c *MySQLConfig) { c.GrantsFrom = "a`b" }), "issuer.mysql.grants_from:"},
		{"mysql grants_from is a user", my(func(c *MySQLConfig) { c.GrantsFrom = "app_b" }), "is also one of users"},
		{"redis no env", rd(func(c *RedisConfig) { c.AdminURLEnv = "" }), "issuer.redis.admin_url_env: required"},
		{"redis no user", rd(func(c *RedisConfig) { c.User = "" }), "issuer.redis.user: required"},
		{"redis user with a space", rd(func(c *RedisConfig) { c.User = "a b" }), "issuer.redis.user: \"a b\""},
		{"redis user with a rule prefix", rd(func(c *RedisConfig) { c.User = ">pw" }), "issuer.redis.user:"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Check()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Check: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Check: %v, want an error with %q", err, tc.want)
			}
		})
	}
}

// TestOpenRefusesMissingEnv: Open checks the Config, then says which
// variable is empty, before connecting anywhere.
func TestOpenRefusesMissingEnv(t *testing.T) {
	cases := map[string]Config{
		"issuer.postgres.admin_dsn_env: PG_ADMIN is empty": {Postgres: &PostgresConfig{AdminDSNEnv: "PG_ADMIN", Users: []string{"a", "b"}, MemberOf: "o"}},
		"issuer.mysql.admin_dsn_env: MY_ADMIN is empty":    {MySQL: &MySQLConfig{AdminDSNEnv: "MY_ADMIN", Users: []string{"a", "b"}, GrantsFrom: "o"}},
		"issuer.redis.admin_url_env: RD_ADMIN is empty":    {Redis: &RedisConfig{AdminURLEnv: "RD_ADMIN", User: "u"}},
		"exactly one of": {},
	}
	for want, cfg := range cases {
		t.Run(want, func(t *testing.T) {
			_, err := Open(context.Background(), cfg, func(string) string { return "" })
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("Open: %v, want %q", err, want)
			}
		})
	}
}

func TestCheckPassword(t *testing.T) {
	cases := map[string]bool{
		"abcDEF123-_.~!@#$%^&*()+=[]{}|;:,<>/?`": true,
		"":                                       false,
		"has space":                              false,
		"quote'":                                 false,
		`dquote"`:                                false,
		`back\slash`:                             false,
		"tab\t":                                  false,
		"nul\x00":                                false,
		"é":                                      false,
		strings.Repeat("a", 256):                 true,
		strings.Repeat("a", 257):                 false,
	}
	for pw, ok := range cases {
		err := checkPassword(pw)
		if (err == nil) != ok {
			t.Errorf("checkPassword(%q) = %v, want ok %v", pw, err, ok)
		}
		if err != nil && pw != "" && strings.Contains(err.Error(), pw) {
			t.Errorf("checkPassword(%q): the error quotes the password: %v", pw, err)
		}
	}
}

func TestScrub(t *testing.T) {
	pw := "s3cr@t/pw"
	cases := []struct {
		name  string
		err   error
		clean bool // returned as it is
	}{
		{"no secret", errors.New("connection refused"), true},
		{"plain", errors.New("bad password s3cr@t/pw here"), false},
		{"query-escaped", errors.New("x " + url.QueryEscape(pw)), false},
		{"userinfo-escaped", errors.New("postgres://u:" + url.UserPassword("u", pw).String()[2:] + "@h"), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := scrub(tc.err, pw)
			if tc.clean != (got == tc.err) {
				t.Fatalf("scrub returned %v (same error: %v)", got, got == tc.err)
			}
			if strings.Contains(got.Error(), "s3cr") {
				t.Fatalf("scrub left the secret: %v", got)
			}
		})
	}
	if scrub(nil, pw) != nil {
		t.Fatal("scrub(nil) is not nil")
	}
}

// TestPostgresField: the dsn is the admin URL's host, port, database and
// options with the credential, escaped, and without the admin's own
// credential options.
func TestPostgresField(t *testing.T) {
	admin, _ := url.Parse("postgres://admin:adminpw@db.example:5433/billing?sslmode=verify-full&password=adminpw&sslkey=/k&sslcert=/c&application_name=x")
	p := &postgresIssuer{admin: admin}
	c := Credential{Username: "app_a", Password: "p@ss:/?#%+&="}
	dsn, err := p.Field(c, FieldDSN)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("parse %q: %v", dsn, err)
	}
	pw, _ := u.User.Password()
	if u.User.Username() != "app_a" || pw != c.Password || u.Host != "db.example:5433" || u.Path != "/billing" {
		t.Fatalf("dsn %q: user %q password %q host %q path %q", dsn, u.User.Username(), pw, u.Host, u.Path)
	}
	q := u.Query()
	if q.Get("sslmode") != "verify-full" || q.Get("application_name") != "x" || q.Has("password") || q.Has("sslkey") || q.Has("sslcert") || strings.Contains(dsn, "adminpw") {
		t.Fatalf("dsn options %q", u.RawQuery)
	}
	for field, want := range map[string]string{FieldPassword: c.Password, FieldUsername: "app_a"} {
		if got, _ := p.Field(c, field); got != want {
			t.Errorf("field %s = %q", field, got)
		}
	}
	if _, err := p.Field(c, "url"); err == nil || !strings.Contains(err.Error(), "use password, username or dsn") {
		t.Fatalf("field url: %v", err)
	}
}

func TestMySQLField(t *testing.T) {
	admin, err := mysql.ParseDSN("admin:adminpw@tcp(db.example:3307)/billing?tls=true&parseTime=true")
	if err != nil {
		t.Fatal(err)
	}
	m := &mysqlIssuer{consumer: admin}
	c := Credential{Username: "app_a", Password: "p@ss:/?#%+&="}
	dsn, err := m.Field(c, FieldDSN)
	if err != nil {
		t.Fatal(err)
	}
	got, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatalf("parse %q: %v", dsn, err)
	}
	if got.User != "app_a" || got.Passwd != c.Password || got.Addr != "db.example:3307" || got.DBName != "billing" || got.TLSConfig != "true" || !got.ParseTime || strings.Contains(dsn, "adminpw") {
		t.Fatalf("dsn %q parses to %+v", dsn, got)
	}
}

func TestRedisField(t *testing.T) {
	admin, _ := url.Parse("rediss://admin:adminpw@cache.example:6380/2")
	r := &redisIssuer{admin: admin}
	c := Credential{Username: "cache_app", Password: "p@ss:/?#%+&="}
	raw, err := r.Field(c, FieldURL)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	pw, _ := u.User.Password()
	if u.Scheme != "rediss" || u.User.Username() != "cache_app" || pw != c.Password || u.Host != "cache.example:6380" || u.Path != "/2" || strings.Contains(raw, "adminpw") {
		t.Fatalf("url %q", raw)
	}
	if _, err := r.Field(c, FieldDSN); err == nil {
		t.Fatal("field dsn on redis worked")
	}
}

func TestMySQLDialectOf(t *testing.T) {
	cases := []struct {
		version string
		want    mysqlDialect
		err     bool
	}{
		{"10.11.19-MariaDB-0+deb12u1", dialectMariaDB, false},
		{"11.4.2-MariaDB", dialectMariaDB, false},
		{"8.0.13", dialectMySQL, false},
		{"8.0.14", dialectMySQLDual, false},
		{"8.0.36-0ubuntu0.22.04.1", dialectMySQLDual, false},
		{"8.4.0", dialectMySQLDual, false},
		{"9.1.0", dialectMySQLDual, false},
		{"5.7.44-log", 0, true},
		{"garbage", 0, true},
	}
	for _, tc := range cases {
		t.Run(tc.version, func(t *testing.T) {
			got, err := mysqlDialectOf(tc.version)
			if (err != nil) != tc.err || (err == nil && got != tc.want) {
				t.Fatalf("mysqlDialectOf(%q) = %v, %v; want %v (error %v)", tc.version, got, err, tc.want, tc.err)
			}
		})
	}
}

// TestMySQLSQL pins the statements each dialect sends. MySQL's, which no
// server here runs, are checked only here: one user, RETAIN CURRENT
// PASSWORD when staging, DISCARD OLD PASSWORD when retiring, and no
// second RETAIN on a rerun (it would push the old password out).
func TestMySQLSQL(t *testing.T) {
	const pw = "Pw-123"
	hash := mysqlNativeHash(pw)
	cases := []struct {
		name     string
		d        mysqlDialect
		retained bool
		stage    []string
		retire   string
	}{
		{"mariadb", dialectMariaDB, false, []string{
			"CREATE USER IF NOT EXISTS 'u_a'@'%' ACCOUNT LOCK",
			"GRANT `app` TO 'u_a'@'%'",
			"SET DEFAULT ROLE `app` FOR 'u_a'@'%'",
			"ALTER USER 'u_a'@'%' IDENTIFIED BY PASSWORD '" + hash + "' ACCOUNT UNLOCK",
		}, "ALTER USER IF EXISTS 'u_a'@'%' ACCOUNT LOCK"},
		{"mysql 8.0.13", dialectMySQL, false, []string{
			"CREATE USER IF NOT EXISTS 'u_a'@'%' ACCOUNT LOCK",
			"GRANT `app` TO 'u_a'@'%'",
			"SET DEFAULT ROLE `app` TO 'u_a'@'%'",
			"ALTER USER 'u_a'@'%' IDENTIFIED WITH mysql_native_password AS '" + hash + "' ACCOUNT UNLOCK",
		}, "ALTER USER IF EXISTS 'u_a'@'%' ACCOUNT LOCK"},
		{"mysql dual", dialectMySQLDual, false, []string{
			"CREATE USER IF NOT EXISTS 'u_a'@'%' IDENTIFIED BY '" + pw + "'",
			"GRANT `app` TO 'u_a'@'%'",
			"SET DEFAULT ROLE `app` TO 'u_a'@'%'",
			"ALTER USER 'u_a'@'%' IDENTIFIED BY '" + pw + "' RETAIN CURRENT PASSWORD ACCOUNT UNLOCK",
		}, "ALTER USER IF EXISTS 'u_a'@'%' DISCARD OLD PASSWORD"},
		{"mysql dual rerun", dialectMySQLDual, true, []string{
			"CREATE USER IF NOT EXISTS 'u_a'@'%' IDENTIFIED BY '" + pw + "'",
			"GRANT `app` TO 'u_a'@'%'",
			"SET DEFAULT ROLE `app` TO 'u_a'@'%'",
		}, "ALTER USER IF EXISTS 'u_a'@'%' DISCARD OLD PASSWORD"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := mysqlStageSQL(tc.d, "u_a", pw, "app", tc.retained)
			if strings.Join(got, "\n") != strings.Join(tc.stage, "\n") {
				t.Fatalf("stage SQL:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.stage, "\n"))
			}
			if tc.d != dialectMySQLDual && strings.Contains(strings.Join(got, "\n"), pw) {
				t.Fatal("the plaintext password reaches a server that logs it")
			}
			if r := mysqlRetireSQL(tc.d, "u_a"); r != tc.retire {
				t.Fatalf("retire SQL %q, want %q", r, tc.retire)
			}
		})
	}
}

// TestMySQLDualNextUser: with dual passwords the issuer keeps to the first
// user and refuses the second.
func TestMySQLDualNextUser(t *testing.T) {
	m := &mysqlIssuer{cfg: MySQLConfig{Users: []string{"a", "b"}}, dialect: dialectMySQLDual}
	for _, cur := range []string{"", "a", "b"} {
		if got := m.NextUser(cur); got != "a" {
			t.Fatalf("NextUser(%q) = %q", cur, got)
		}
	}
	if err := m.Stage(context.Background(), Credential{Username: "b", Password: "x"}); err == nil {
		t.Fatal("staged on the second user with dual passwords")
	}
	alt := &mysqlIssuer{cfg: MySQLConfig{Users: []string{"a", "b"}}, dialect: dialectMariaDB}
	if alt.NextUser("") != "a" || alt.NextUser("a") != "b" || alt.NextUser("b") != "a" {
		t.Fatal("MariaDB does not alternate")
	}
}
