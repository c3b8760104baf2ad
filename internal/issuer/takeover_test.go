package issuer

import (
	"context"
	"database/sql"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/tokenward/terraform-provider-tokenward/internal/issuer/issuertest"
)

// TestPostgresRefusesPrivilegedRoles: Stage on a role that exists with
// more than a plain login's rights (or is the admin itself) fails, naming
// the role, and leaves its password and login as they were: with a
// superuser admin, users = ["postgres", …] would otherwise hand the
// superuser's login to whoever reads the destinations.
func TestPostgresRefusesPrivilegedRoles(t *testing.T) {
	f := postgresFixture(t)
	ctx := testContext(t)
	super, err := pgx.Connect(ctx, f.rootDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer super.Close(ctx)
	var rootUser string
	if err := super.QueryRow(ctx, "SELECT current_user").Scan(&rootUser); err != nil {
		t.Fatal(err)
	}
	s := suffix()
	other := "other_" + s
	owner := f.cfg.Postgres.MemberOf
	badOwner := "bad_owner_" + s
	setup := []string{"CREATE ROLE " + other + " NOLOGIN", "CREATE ROLE " + badOwner + " NOLOGIN BYPASSRLS"}
	cases := []struct {
		name, user, memberOf, attrs, want string
	}{
		{"superuser", "su_" + s, owner, "SUPERUSER", "SUPERUSER"},
		{"createrole", "cr_" + s, owner, "CREATEROLE", "CREATEROLE"},
		{"replication", "rep_" + s, owner, "REPLICATION", "REPLICATION"},
		{"bypassrls", "rls_" + s, owner, "BYPASSRLS", "BYPASSRLS"},
		{"member of another role", "mem_" + s, owner, "IN ROLE " + other, "member of roles other than"},
		{"the admin itself", rootUser, owner, "", "is the admin"},
		{"privileged member_of", "plain_" + s, badOwner, "", badOwner + " has SUPERUSER"},
	}
	var roles []string
	for _, c := range cases {
		if c.user != rootUser {
			setup = append(setup, "CREATE ROLE "+c.user+" LOGIN PASSWORD 'before' "+c.attrs)
			roles = append(roles, c.user)
		}
	}
	t.Cleanup(func() { dropPostgresRoles(f.rootDSN, append(roles, other, badOwner)) })
	for _, q := range setup {
		if _, err := super.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			read := func() (pw string, login bool) {
				t.Helper()
				if err := super.QueryRow(ctx, "SELECT coalesce(rolpassword, ''), rolcanlogin FROM pg_authid WHERE rolname = $1", c.user).Scan(&pw, &login); err != nil {
					t.Fatal(err)
				}
				return pw, login
			}
			pwBefore, loginBefore := read()
			// The superuser as admin: the one that could take any role over.
			cfg := Config{Postgres: &PostgresConfig{AdminDSNEnv: "PG_ROOT", Users: []string{c.user, "spare_" + s}, MemberOf: c.memberOf}}
			iss, err := Open(ctx, cfg, func(string) string { return f.rootDSN })
			if err != nil {
				t.Fatalf("open: %v", err)
			}
			defer iss.Close()
			err = iss.Stage(ctx, Credential{Username: c.user, Password: password()})
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "issuer.postgres.") {
				t.Fatalf("stage on %s: %v, want a refusal saying %q", c.user, err, c.want)
			}
			if pw, login := read(); pw != pwBefore || login != loginBefore {
				t.Fatalf("stage changed %s: password changed %v, login %v -> %v", c.user, pw != pwBefore, loginBefore, login)
			}
		})
	}
}

// TestMySQLRefusesPrivilegedAccounts: Stage on an account that exists with
// privileges of its own (beyond grants_from), or that is the admin itself,
// fails naming it and leaves its password as it was: an admin with CREATE
// USER may ALTER any account, root@'%' included. The account tokenward
// staged before (USAGE and the role) is still accepted.
func TestMySQLRefusesPrivilegedAccounts(t *testing.T) {
	f := mysqlFixture(t)
	ctx := testContext(t)
	root, err := sql.Open("mysql", f.rootDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	s := suffix()
	adminCfg, _ := mysql.ParseDSN(f.env["MYSQL_ADMIN"])
	// The root admin can read every account's grants; the guide's
	// least-privilege admin cannot (the check then covers only itself).
	rootEnv := map[string]string{"MYSQL_ADMIN": f.rootDSN}
	cases := []struct {
		name, user, grant, want string
		env                     map[string]string
	}{
		{"all privileges", "allpriv_" + s, "GRANT ALL PRIVILEGES ON *.* TO 'allpriv_" + s + "'@'%' WITH GRANT OPTION", "privileges of its own", rootEnv},
		{"a database grant", "dbpriv_" + s, "GRANT SELECT ON mysql.* TO 'dbpriv_" + s + "'@'%'", "privileges of its own", rootEnv},
		{"the admin itself", adminCfg.User, "", "is the admin", f.env},
	}
	var made []string
	for _, c := range cases {
		if c.grant == "" {
			continue
		}
		made = append(made, c.user)
		for _, q := range []string{"CREATE USER '" + c.user + "'@'%' IDENTIFIED BY 'before'", c.grant} {
			if _, err := root.ExecContext(ctx, q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
	}
	t.Cleanup(func() { dropMySQLAccounts(f.rootDSN, made) })
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			read := func() string {
				t.Helper()
				var auth string
				if err := root.QueryRowContext(ctx, "SELECT JSON_VALUE(Priv, '$.authentication_string') FROM mysql.global_priv WHERE User = ? AND Host = '%'", c.user).Scan(&auth); err != nil {
					t.Fatal(err)
				}
				return auth
			}
			before := read()
			cfg := *f.cfg.MySQL
			cfg.Users = []string{c.user, "spare_" + s}
			iss, err := Open(ctx, Config{MySQL: &cfg}, func(k string) string { return c.env[k] })
			if err != nil {
				t.Fatalf("open: %v", err)
			}
			defer iss.Close()
			err = iss.Stage(ctx, Credential{Username: c.user, Password: password()})
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "issuer.mysql.users") {
				t.Fatalf("stage on %s: %v, want a refusal saying %q", c.user, err, c.want)
			}
			if read() != before {
				t.Fatalf("stage changed the password of %s", c.user)
			}
		})
	}
	t.Run("an account tokenward staged, staged again", func(t *testing.T) {
		cfg := *f.cfg.MySQL
		iss, err := Open(ctx, Config{MySQL: &cfg}, func(string) string { return f.rootDSN })
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		defer iss.Close()
		for i := 0; i < 2; i++ {
			if err := iss.Stage(ctx, Credential{Username: cfg.Users[0], Password: password()}); err != nil {
				t.Fatalf("stage %d: %v", i, err)
			}
		}
	})
}

// TestRedisRefusesNopassUsers: adding a password clears a user's nopass
// flag, which would lock out every client logging in without one (the
// default user, often); Stage refuses and leaves the flag as it was.
func TestRedisRefusesNopassUsers(t *testing.T) {
	f := redisFixture(t, issuertest.RedisConfigFile)
	ctx := testContext(t)
	opts, _ := redis.ParseURL(f.rootDSN)
	root := redis.NewClient(opts)
	defer root.Close()
	open := "open_" + suffix()
	t.Cleanup(func() { _ = root.Do(context.Background(), "ACL", "DELUSER", open).Err() })
	if err := root.Do(ctx, "ACL", "SETUSER", open, "on", "nopass", "+ping").Err(); err != nil {
		t.Fatal(err)
	}
	f.cfg.Redis.User = open
	iss := openFixture(t, f)
	err := iss.Stage(ctx, Credential{Username: open, Password: password()})
	if err == nil || !strings.Contains(err.Error(), "nopass") || !strings.Contains(err.Error(), "issuer.redis.user") {
		t.Fatalf("stage on a nopass user: %v, want a refusal saying so", err)
	}
	if err := root.Do(ctx, "AUTH", open, "anything").Err(); err != nil {
		t.Fatalf("the nopass user no longer logs in with any password: %v", err)
	}
}

// TestTLSErrorsHideTheAdminPassword: an admin DSN asking for TLS from a
// server that has none fails, and the error (wrapped by pgx, the MySQL
// driver or go-redis) holds no password, whichever way it was escaped.
func TestTLSErrorsHideTheAdminPassword(t *testing.T) {
	withTLS := map[string]func(string) string{
		"postgres": func(dsn string) string { return strings.Replace(dsn, "sslmode=disable", "sslmode=verify-full", 1) },
		"mysql":    func(dsn string) string { return dsn + "?tls=true" },
		"redis":    func(u string) string { return strings.Replace(u, "redis://", "rediss://", 1) },
	}
	for name, setup := range fixtures(t) {
		t.Run(name, func(t *testing.T) {
			f := setup(t)
			var dsn string
			for _, v := range f.env {
				dsn = withTLS[name](v)
			}
			if strings.Contains(dsn, "?tls=true") && strings.Count(dsn, "?") > 1 {
				dsn = strings.Replace(dsn, "?tls=true", "&tls=true", 1)
			}
			// A TLS handshake with a plaintext Redis waits for a reply that
			// never comes: a short deadline keeps the test quick.
			ctx, cancel := context.WithTimeout(testContext(t), 3*time.Second)
			defer cancel()
			_, err := Open(ctx, f.cfg, func(string) string { return dsn })
			if err == nil {
				t.Fatalf("open with TLS against a server without it worked")
			}
			for _, form := range []string{f.adminPW, url.QueryEscape(f.adminPW), url.PathEscape(f.adminPW)} {
				if strings.Contains(err.Error(), form) {
					t.Fatalf("the error holds the admin password: %v", err)
				}
			}
			t.Logf("open error: %v", err)
		})
	}
}
