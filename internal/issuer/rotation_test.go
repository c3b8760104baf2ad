package issuer

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/tokenward/terraform-provider-tokenward/internal/issuer/issuertest"
)

// session is a consumer's connection that never reconnects.
type session interface {
	Query(ctx context.Context) error
	Close()
}

// fixture is one issuer set up on its real server, with a least-privilege
// admin as its guide describes.
type fixture struct {
	cfg     Config
	env     map[string]string
	adminPW string                                                  // must never appear in an error
	rootDSN string                                                  // the server's superuser, for checks
	connect func(ctx context.Context, conn string) (session, error) // conn: the dsn/url field
	connFld string
}

func fixtures(t *testing.T) map[string]func(t *testing.T) fixture {
	return map[string]func(t *testing.T) fixture{
		"postgres": postgresFixture,
		"mysql":    mysqlFixture,
		"redis":    func(t *testing.T) fixture { return redisFixture(t, issuertest.RedisConfigFile) },
	}
}

// TestRotation runs the engine's steps on each issuer against its server:
// stage and test the first credential, stage the second on the other user,
// both log in inside the overlap, retire the first: only the second logs
// in, and a session opened with the first before the rotation still runs
// queries. Then a third credential goes back to the first user (unlocking
// it) and the second is retired. Every step is run twice, as a rerun after a
// crash would.
func TestRotation(t *testing.T) {
	for name, setup := range fixtures(t) {
		t.Run(name, func(t *testing.T) {
			f := setup(t)
			ctx := testContext(t)
			iss, err := Open(ctx, f.cfg, func(k string) string { return f.env[k] })
			if err != nil {
				t.Fatalf("open: %v", err)
			}
			defer iss.Close()
			if iss.Kind() != name || iss.MainField() != FieldPassword {
				t.Fatalf("kind %q main field %q", iss.Kind(), iss.MainField())
			}
			secrets := []string{f.adminPW}
			stage := func(c Credential) {
				t.Helper()
				secrets = append(secrets, c.Password)
				for i := 0; i < 2; i++ {
					if err := iss.Stage(ctx, c); err != nil {
						t.Fatalf("stage %s (run %d): %v", c.Username, i+1, err)
					}
				}
			}
			retire := func(c Credential) {
				t.Helper()
				for i := 0; i < 2; i++ {
					if err := iss.Retire(ctx, Retired{Username: c.Username, PasswordHash: Hash(c.Password)}); err != nil {
						t.Fatalf("retire %s (run %d): %v", c.Username, i+1, err)
					}
				}
			}
			works := func(c Credential, want bool) {
				t.Helper()
				err := iss.Test(ctx, c)
				if (err == nil) != want {
					t.Fatalf("test login as %s: got %v, want it to work: %v", c.Username, err, want)
				}
				for _, s := range secrets {
					if err != nil && strings.Contains(err.Error(), s) {
						t.Fatalf("test error holds a password: %v", err)
					}
				}
				conn, ferr := iss.Field(c, f.connFld)
				if ferr != nil {
					t.Fatalf("field %s: %v", f.connFld, ferr)
				}
				s, err := f.connect(ctx, conn)
				if (err == nil) != want {
					t.Fatalf("consumer login with the %s field as %s: got %v, want it to work: %v", f.connFld, c.Username, err, want)
				}
				if err == nil {
					s.Close()
				}
			}

			u1 := iss.NextUser("")
			c1 := Credential{Username: u1, Password: password()}
			stage(c1)
			works(c1, true)
			conn1, _ := iss.Field(c1, f.connFld)
			s1, err := f.connect(ctx, conn1)
			if err != nil {
				t.Fatalf("open the long session: %v", err)
			}
			defer s1.Close()

			u2 := iss.NextUser(u1)
			if name != "redis" && u2 == u1 {
				t.Fatalf("NextUser(%q) = %q: alternating issuers must switch users", u1, u2)
			}
			c2 := Credential{Username: u2, Password: password()}
			stage(c2)
			works(c2, true)
			works(c1, true) // the overlap: both log in

			retire(c1)
			works(c1, false)
			works(c2, true)
			if err := s1.Query(ctx); err != nil {
				t.Fatalf("the session opened before the rotation broke after retire: %v", err)
			}

			u3 := iss.NextUser(u2)
			if name != "redis" && u3 != u1 {
				t.Fatalf("NextUser(%q) = %q, want %q", u2, u3, u1)
			}
			c3 := Credential{Username: u3, Password: password()}
			stage(c3)
			works(c3, true)
			works(c2, true)
			retire(c2)
			works(c2, false)
			works(c3, true)
			works(c1, false)
			if err := s1.Query(ctx); err != nil {
				t.Fatalf("the session opened before two rotations broke: %v", err)
			}
		})
	}
}

// TestStageRefusesOtherUsers: a credential for a user the issuer does not
// manage is refused before anything reaches the server, and so is a
// password no issuer can pass on.
func TestStageRefusesOtherUsers(t *testing.T) {
	for name, setup := range fixtures(t) {
		t.Run(name, func(t *testing.T) {
			f := setup(t)
			ctx := testContext(t)
			iss, err := Open(ctx, f.cfg, func(k string) string { return f.env[k] })
			if err != nil {
				t.Fatalf("open: %v", err)
			}
			defer iss.Close()
			if err := iss.Stage(ctx, Credential{Username: "root", Password: password()}); err == nil || !strings.Contains(err.Error(), `"root"`) {
				t.Fatalf("stage on root: %v, want a refusal naming the user", err)
			}
			bad := "with space " + suffix()
			err = iss.Stage(ctx, Credential{Username: iss.NextUser(""), Password: bad})
			if err == nil || strings.Contains(err.Error(), bad) {
				t.Fatalf("stage with a space in the password: %v, want a refusal that does not quote it", err)
			}
		})
	}
}

// TestOpenErrorsHideTheAdminPassword: a wrong admin password, or a DSN the
// issuer cannot parse, gives an error without the password.
func TestOpenErrorsHideTheAdminPassword(t *testing.T) {
	for name, setup := range fixtures(t) {
		t.Run(name, func(t *testing.T) {
			f := setup(t)
			ctx := testContext(t)
			var key string
			for k := range f.env {
				key = k
			}
			wrong := "Wr0ng" + suffix()
			cases := map[string]string{
				"wrong password": strings.Replace(f.env[key], f.adminPW, wrong, 1),
				"unparseable":    "::" + wrong + "@@//?",
			}
			for what, dsn := range cases {
				_, err := Open(ctx, f.cfg, func(string) string { return dsn })
				if err == nil {
					t.Fatalf("%s: open worked", what)
				}
				if strings.Contains(err.Error(), wrong) || strings.Contains(err.Error(), f.adminPW) {
					t.Fatalf("%s: the error holds the password: %v", what, err)
				}
			}
		})
	}
}

// postgresFixture: a database of its own, the owner role, and an admin that
// has CREATEROLE and ADMIN OPTION on the owner role only.
func postgresFixture(t *testing.T) fixture {
	srv := postgresServer(t)
	dsn := srv.NewDatabase(t, nil)
	ctx := testContext(t)
	super, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect as superuser: %v", err)
	}
	defer super.Close(ctx)
	s := suffix()
	owner, admin, adminPW := "app_"+s, "tw_admin_"+s, "adm"+suffix()
	users := []string{"app_" + s + "_a", "app_" + s + "_b"}
	t.Cleanup(func() { dropPostgresRoles(dsn, append(users, owner, admin)) })
	for _, q := range []string{
		"CREATE ROLE " + owner + " NOLOGIN",
		"CREATE ROLE " + admin + " LOGIN CREATEROLE PASSWORD '" + adminPW + "'",
		"GRANT " + owner + " TO " + admin + " WITH ADMIN OPTION",
		"GRANT CREATE ON SCHEMA public TO " + owner,
	} {
		if _, err := super.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	cfg, _ := pgx.ParseConfig(dsn)
	adminDSN := fmt.Sprintf("postgres://%s:%s@%s:%d/%s?sslmode=disable", admin, adminPW, cfg.Host, cfg.Port, cfg.Database)
	return fixture{
		cfg:     Config{Postgres: &PostgresConfig{AdminDSNEnv: "PG_ADMIN", Users: users, MemberOf: owner}},
		env:     map[string]string{"PG_ADMIN": adminDSN},
		adminPW: adminPW,
		rootDSN: dsn,
		connFld: FieldDSN,
		connect: func(ctx context.Context, conn string) (session, error) {
			c, err := pgx.Connect(ctx, conn)
			if err != nil {
				return nil, err
			}
			return pgSession{c}, nil
		},
	}
}

func dropPostgresRoles(dsn string, roles []string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return
	}
	defer c.Close(ctx)
	for _, r := range roles {
		_, _ = c.Exec(ctx, "DROP OWNED BY "+r+" CASCADE")
		_, _ = c.Exec(ctx, "DROP ROLE IF EXISTS "+r)
	}
}

type pgSession struct{ c *pgx.Conn }

func (s pgSession) Query(ctx context.Context) error {
	var n int
	return s.c.QueryRow(ctx, "SELECT 1").Scan(&n)
}
func (s pgSession) Close() { _ = s.c.Close(context.Background()) }

// mysqlFixture: a role holding a privilege, and an admin with CREATE USER
// and the role WITH ADMIN OPTION, as the MySQL guide says.
func mysqlFixture(t *testing.T) fixture {
	srv := mariaServer(t)
	ctx := testContext(t)
	root, err := sql.Open("mysql", srv.AdminDSN)
	if err != nil {
		t.Fatalf("connect as root: %v", err)
	}
	defer root.Close()
	s := suffix()
	role, admin, adminPW := "app_"+s, "tw_admin_"+s, "adm"+suffix()
	users := []string{"app_" + s + "_a", "app_" + s + "_b"}
	t.Cleanup(func() { dropMySQLAccounts(srv.AdminDSN, append(users, role, admin)) })
	for _, q := range mysqlAdminSetup(role, admin, adminPW) {
		if _, err := root.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	rootCfg, _ := mysql.ParseDSN(srv.AdminDSN)
	adminCfg := rootCfg.Clone()
	adminCfg.User, adminCfg.Passwd = admin, adminPW
	return fixture{
		cfg:     Config{MySQL: &MySQLConfig{AdminDSNEnv: "MYSQL_ADMIN", Users: users, GrantsFrom: role}},
		env:     map[string]string{"MYSQL_ADMIN": adminCfg.FormatDSN()},
		adminPW: adminPW,
		rootDSN: srv.AdminDSN,
		connFld: FieldDSN,
		connect: func(ctx context.Context, conn string) (session, error) {
			db, err := sql.Open("mysql", conn)
			if err != nil {
				return nil, err
			}
			c, err := db.Conn(ctx)
			if err == nil {
				err = c.PingContext(ctx)
			}
			if err != nil {
				db.Close()
				return nil, err
			}
			return mysqlSession{db, c}, nil
		},
	}
}

// mysqlAdminSetup is the guide's least-privilege admin, plus a role with
// one privilege for the users to inherit.
func mysqlAdminSetup(role, admin, adminPW string) []string {
	return []string{
		"CREATE DATABASE IF NOT EXISTS tw_app",
		"CREATE ROLE `" + role + "`",
		"GRANT SELECT ON tw_app.* TO `" + role + "`",
		"CREATE USER '" + admin + "'@'%' IDENTIFIED BY '" + adminPW + "'",
		"GRANT CREATE USER ON *.* TO '" + admin + "'@'%'",
		"GRANT `" + role + "` TO '" + admin + "'@'%' WITH ADMIN OPTION",
		"GRANT UPDATE ON mysql.* TO '" + admin + "'@'%'",
	}
}

func dropMySQLAccounts(dsn string, names []string) {
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		return
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, n := range names {
		_, _ = db.ExecContext(ctx, "DROP USER IF EXISTS '"+n+"'@'%'")
		_, _ = db.ExecContext(ctx, "DROP ROLE IF EXISTS `"+n+"`")
	}
}

type mysqlSession struct {
	db *sql.DB
	c  *sql.Conn
}

func (s mysqlSession) Query(ctx context.Context) error {
	var n int
	return s.c.QueryRowContext(ctx, "SELECT 1").Scan(&n)
}
func (s mysqlSession) Close() { _ = s.c.Close(); _ = s.db.Close() }

// redisFixture: the operator's ACL user (with its rules), and an admin
// limited to the commands the Redis guide lists.
func redisFixture(t *testing.T, files issuertest.RedisFiles) fixture {
	srv := redisServer(t, files)
	ctx := testContext(t)
	opts, _ := redis.ParseURL(srv.AdminURL)
	root := redis.NewClient(opts)
	defer root.Close()
	s := suffix()
	user, admin, adminPW := "cache_"+s, "tw_admin_"+s, "adm"+suffix()
	t.Cleanup(func() {
		c := redis.NewClient(opts)
		defer c.Close()
		_ = c.Do(context.Background(), "ACL", "DELUSER", user, admin).Err()
	})
	for _, args := range [][]any{
		{"ACL", "SETUSER", user, "on", "~app:*", "+ping", "+get", "+set"},
		append([]any{"ACL", "SETUSER", admin, "on", ">" + adminPW}, redisAdminRules...),
	} {
		if err := root.Do(ctx, args...).Err(); err != nil {
			t.Fatalf("%v: %v", args[:3], err)
		}
	}
	adminURL := strings.Replace(srv.AdminURL, "default:"+urlPassword(srv.AdminURL), admin+":"+adminPW, 1)
	return fixture{
		cfg:     Config{Redis: &RedisConfig{AdminURLEnv: "REDIS_ADMIN", User: user}},
		env:     map[string]string{"REDIS_ADMIN": adminURL},
		adminPW: adminPW,
		rootDSN: srv.AdminURL,
		connFld: FieldURL,
		connect: func(ctx context.Context, conn string) (session, error) {
			o, err := redis.ParseURL(conn)
			if err != nil {
				return nil, err
			}
			o.Protocol, o.DisableIdentity, o.MaxRetries = 2, true, -1
			client := redis.NewClient(o)
			c := client.Conn()
			if err := c.Ping(ctx).Err(); err != nil {
				c.Close()
				client.Close()
				return nil, err
			}
			return redisSession{client, c}, nil
		},
	}
}

// redisAdminRules is the Redis guide's admin: the ACL and CONFIG
// subcommands the issuer sends, and PING.
var redisAdminRules = []any{"-@all", "+acl|getuser", "+acl|setuser", "+acl|save", "+config|get", "+config|rewrite", "+ping"}

func urlPassword(raw string) string {
	o, _ := redis.ParseURL(raw)
	return o.Password
}

type redisSession struct {
	client *redis.Client
	c      *redis.Conn
}

func (s redisSession) Query(ctx context.Context) error { return s.c.Ping(ctx).Err() }
func (s redisSession) Close()                          { _ = s.c.Close(); _ = s.client.Close() }
