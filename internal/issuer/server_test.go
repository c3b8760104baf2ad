package issuer

import (
	"database/sql"
	"encoding/hex"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/tokenward/terraform-provider-tokenward/internal/issuer/issuertest"
)

func openFixture(t *testing.T, f fixture) Issuer {
	t.Helper()
	iss, err := Open(testContext(t), f.cfg, func(k string) string { return f.env[k] })
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { iss.Close() })
	return iss
}

// TestPostgresRoles: what Stage and Retire leave in pg_authid. The password
// is stored as the verifier tokenward sent, the role sets its role to
// member_of at login (so a table either user creates belongs to member_of),
// and Retire is NOLOGIN with no VALID UNTIL.
func TestPostgresRoles(t *testing.T) {
	f := postgresFixture(t)
	ctx := testContext(t)
	iss := openFixture(t, f)
	c := Credential{Username: iss.NextUser(""), Password: password()}
	if err := iss.Stage(ctx, c); err != nil {
		t.Fatalf("stage: %v", err)
	}
	super, err := pgx.Connect(ctx, f.rootDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer super.Close(ctx)
	var (
		verifier   string
		canLogin   bool
		validUntil *string
		config     []string
	)
	row := func() {
		t.Helper()
		err := super.QueryRow(ctx, "SELECT a.rolpassword, a.rolcanlogin, a.rolvaliduntil::text, coalesce(r.rolconfig, '{}') FROM pg_authid a JOIN pg_roles r ON r.oid = a.oid WHERE a.rolname = $1", c.Username).
			Scan(&verifier, &canLogin, &validUntil, &config)
		if err != nil {
			t.Fatalf("read pg_authid: %v", err)
		}
	}
	row()
	if !strings.HasPrefix(verifier, "SCRAM-SHA-256$4096:") || !canLogin || validUntil != nil {
		t.Fatalf("after stage: verifier %.20q… login %v valid until %v", verifier, canLogin, validUntil)
	}
	owner := f.cfg.Postgres.MemberOf
	if strings.Join(config, ",") != "role="+owner {
		t.Fatalf("rolconfig %q, want role=%s", config, owner)
	}
	dsn, _ := iss.Field(c, FieldDSN)
	app, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("consumer login: %v", err)
	}
	defer app.Close(ctx)
	table := "t_" + suffix()
	if _, err := app.Exec(ctx, "CREATE TABLE "+table+" (id int)"); err != nil {
		t.Fatalf("create a table as %s: %v", c.Username, err)
	}
	var tableOwner string
	if err := super.QueryRow(ctx, "SELECT tableowner FROM pg_tables WHERE tablename = $1", table).Scan(&tableOwner); err != nil || tableOwner != owner {
		t.Fatalf("the table %s belongs to %q (%v), want %s", table, tableOwner, err, owner)
	}
	if err := iss.Retire(ctx, Retired{Username: c.Username, PasswordHash: Hash(c.Password)}); err != nil {
		t.Fatalf("retire: %v", err)
	}
	row()
	if canLogin || validUntil != nil || !strings.HasPrefix(verifier, "SCRAM-SHA-256$") {
		t.Fatalf("after retire: login %v valid until %v", canLogin, validUntil)
	}
}

// TestPostgresChecksPasswords guards the tests themselves: a server that
// ignored passwords (trust) would let every "only the new one logs in"
// check pass for the wrong reason.
func TestPostgresChecksPasswords(t *testing.T) {
	f := postgresFixture(t)
	iss := openFixture(t, f)
	c := Credential{Username: iss.NextUser(""), Password: password()}
	ctx := testContext(t)
	if err := iss.Stage(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := iss.Test(ctx, Credential{Username: c.Username, Password: "wrong" + suffix()}); err == nil {
		t.Fatal("a wrong password logs in: the server does not check passwords on TCP (trust in pg_hba.conf?)")
	}
}

// TestMariaDBNoPlaintext: the general query log, which records every
// statement, holds the hash Stage sent and never the password; the hash is
// the one the server computes; the role is active at login.
func TestMariaDBNoPlaintext(t *testing.T) {
	f := mysqlFixture(t)
	ctx := testContext(t)
	iss := openFixture(t, f)
	c := Credential{Username: iss.NextUser(""), Password: password()}
	if err := iss.Stage(ctx, c); err != nil {
		t.Fatalf("stage: %v", err)
	}
	if err := iss.Test(ctx, c); err != nil {
		t.Fatalf("test: %v", err)
	}
	root, err := sql.Open("mysql", f.rootDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	var hash string
	if err := root.QueryRowContext(ctx, "SELECT PASSWORD(?)", c.Password).Scan(&hash); err != nil || hash != mysqlNativeHash(c.Password) {
		t.Fatalf("PASSWORD() = %q (%v), tokenward computed %q", hash, err, mysqlNativeHash(c.Password))
	}
	// The check above sent the password itself: read the log before it.
	log, err := os.ReadFile(mariaServer(t).GeneralLog)
	if err != nil {
		t.Fatal(err)
	}
	before, _, _ := strings.Cut(string(log), "SELECT PASSWORD(")
	if !strings.Contains(before, "IDENTIFIED BY PASSWORD '"+mysqlNativeHash(c.Password)+"'") {
		t.Fatal("the general log does not show the staging statement: is it on?")
	}
	if strings.Contains(before, c.Password) {
		t.Fatal("the general log holds the plaintext password")
	}
	dsn, _ := iss.Field(c, FieldDSN)
	app, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	var role sql.NullString
	if err := app.QueryRowContext(ctx, "SELECT CURRENT_ROLE()").Scan(&role); err != nil || role.String != f.cfg.MySQL.GrantsFrom {
		t.Fatalf("CURRENT_ROLE() at login = %q (%v), want %s", role.String, err, f.cfg.MySQL.GrantsFrom)
	}
}

// TestRedisPersistence: ACL SAVE with an ACL file, CONFIG REWRITE with a
// config file, and a warning (not an error) with neither; the file holds
// the staged hash and loses it at Retire.
func TestRedisPersistence(t *testing.T) {
	cases := map[string]issuertest.RedisFiles{"acl file": issuertest.RedisACLFile, "config file": issuertest.RedisConfigFile, "no file": issuertest.RedisNoFile}
	for name, files := range cases {
		t.Run(name, func(t *testing.T) {
			f := redisFixture(t, files)
			ctx := testContext(t)
			iss := openFixture(t, f)
			srv := redisServer(t, files)
			c := Credential{Username: iss.NextUser(""), Password: password()}
			h := Hash(c.Password)
			hexHash := hex.EncodeToString(h[:])
			file := srv.ACLFile
			if file == "" {
				file = srv.ConfigFile
			}
			if err := iss.Stage(ctx, c); err != nil {
				t.Fatalf("stage: %v", err)
			}
			warnings := iss.(Warner).Warnings()
			if file == "" {
				if len(warnings) != 1 || !strings.Contains(warnings[0], "only in memory") {
					t.Fatalf("warnings %q, want one saying the change is only in memory", warnings)
				}
				return
			}
			if len(warnings) != 0 {
				t.Fatalf("warnings %q with a file to persist to", warnings)
			}
			saved, _ := os.ReadFile(file)
			if !strings.Contains(string(saved), "#"+hexHash) {
				t.Fatalf("%s does not hold the staged hash", file)
			}
			if strings.Contains(string(saved), c.Password) {
				t.Fatalf("%s holds the password", file)
			}
			if err := iss.Retire(ctx, Retired{Username: c.Username, PasswordHash: h}); err != nil {
				t.Fatalf("retire: %v", err)
			}
			saved, _ = os.ReadFile(file)
			if strings.Contains(string(saved), hexHash) {
				t.Fatalf("%s still holds the retired hash", file)
			}
		})
	}
}

// TestRedisRefusesToCreateTheUser: the user and its rules are the
// operator's; Stage says so and creates nothing.
func TestRedisRefusesToCreateTheUser(t *testing.T) {
	f := redisFixture(t, issuertest.RedisConfigFile)
	ctx := testContext(t)
	missing := "absent_" + suffix()
	f.cfg.Redis.User = missing
	iss := openFixture(t, f)
	err := iss.Stage(ctx, Credential{Username: missing, Password: password()})
	if err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("stage on a missing user: %v", err)
	}
	opts, _ := redis.ParseURL(f.rootDSN)
	root := redis.NewClient(opts)
	defer root.Close()
	if err := root.Do(ctx, "ACL", "GETUSER", missing).Err(); err != redis.Nil {
		t.Fatalf("ACL GETUSER %s: %v, want no such user", missing, err)
	}
	if err := iss.Retire(ctx, Retired{Username: missing, PasswordHash: Hash("x")}); err != nil {
		t.Fatalf("retire on a missing user: %v, want nothing to do", err)
	}
}
