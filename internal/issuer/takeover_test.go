package issuer

import (
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
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
