package rotation_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/tokenward/terraform-provider-tokenward/internal/clocktest"
	"github.com/tokenward/terraform-provider-tokenward/internal/destination"
	"github.com/tokenward/terraform-provider-tokenward/internal/issuer"
	"github.com/tokenward/terraform-provider-tokenward/internal/issuer/issuertest"
	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/rotation"
	"github.com/tokenward/terraform-provider-tokenward/internal/seal"
	"github.com/tokenward/terraform-provider-tokenward/internal/seal/sealtest"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
	"github.com/tokenward/terraform-provider-tokenward/internal/store/pgtest"
)

// The tests in this file run the engine's credential steps against real
// PostgreSQL, MariaDB and Redis servers on loopback, delivering to real
// files, as `tokenward rotate` and the provider do. The servers start once,
// together, when the first of these tests needs one, and stop in TestMain.
var issuerServers struct {
	once     sync.Once
	pg       *pgtest.Server
	pgErr    error
	maria    *issuertest.MariaDB
	mariaErr error
	redis    *issuertest.Redis
	redisErr error
}

func startIssuerServers() {
	issuerServers.once.Do(func() {
		s := &issuerServers
		var wg sync.WaitGroup
		wg.Add(3)
		go func() { defer wg.Done(); s.pg, s.pgErr = pgtest.StartWithPasswords() }()
		go func() { defer wg.Done(); s.maria, s.mariaErr = issuertest.StartMariaDB() }()
		go func() { defer wg.Done(); s.redis, s.redisErr = issuertest.StartRedis(issuertest.RedisConfigFile) }()
		wg.Wait()
	})
}

// stopIssuerServers stops what startIssuerServers started, if it ran.
func stopIssuerServers() {
	issuerServers.pg.Stop()
	issuerServers.maria.Stop()
	issuerServers.redis.Stop()
}

// session is a consumer's connection that never reconnects; ID names the
// server-side session, so that a reconnect cannot pass for it.
type session interface {
	ID(ctx context.Context) (string, error)
	Close()
}

// realIssuer is one issuer set up on its server with a least-privilege
// admin, as the guides describe, and how a consumer uses what it delivers.
type realIssuer struct {
	cfg   issuer.Config
	env   map[string]string
	field string // the connection field: dsn or url
	// connect opens a consumer's session with a dsn/url.
	connect func(ctx context.Context, conn string) (session, error)
	// creds reads the user and password in a dsn/url; with sets them.
	creds func(conn string) (issuer.Credential, error)
	with  func(conn string, c issuer.Credential) (string, error)
}

func randomSuffix() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func serversContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

var realIssuers = []struct {
	name  string
	setup func(t *testing.T) realIssuer
}{
	{"postgres", postgresIssuer},
	{"mariadb", mariaIssuer},
	{"redis", redisIssuer},
}

func urlCreds(conn string) (issuer.Credential, error) {
	u, err := url.Parse(conn)
	if err != nil || u.User == nil {
		return issuer.Credential{}, errors.New("not a URL with a user")
	}
	pw, _ := u.User.Password()
	return issuer.Credential{Username: u.User.Username(), Password: pw}, nil
}

func urlWith(conn string, c issuer.Credential) (string, error) {
	u, err := url.Parse(conn)
	if err != nil {
		return "", errors.New("not a URL")
	}
	u.User = url.UserPassword(c.Username, c.Password)
	return u.String(), nil
}

// postgresIssuer: a database of its own, the owner role the users are
// members of, and an admin with CREATEROLE and ADMIN OPTION on it only.
func postgresIssuer(t *testing.T) realIssuer {
	startIssuerServers()
	srv := issuerServers.pg
	if srv == nil {
		srv.NewDatabase(t, issuerServers.pgErr) // skips, or fails under CI
	}
	dsn := srv.NewDatabase(t, nil)
	ctx := serversContext(t)
	super, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect as superuser: %v", err)
	}
	defer super.Close(ctx)
	s := randomSuffix()
	owner, admin, adminPW := "app_"+s, "tw_admin_"+s, "adm"+randomSuffix()
	users := []string{owner + "_a", owner + "_b"}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, dsn)
		if err != nil {
			return
		}
		defer c.Close(ctx)
		for _, r := range append(users, owner, admin) {
			_, _ = c.Exec(ctx, "DROP OWNED BY "+r+" CASCADE")
			_, _ = c.Exec(ctx, "DROP ROLE IF EXISTS "+r)
		}
	})
	for _, q := range []string{
		"CREATE ROLE " + owner + " NOLOGIN",
		"CREATE ROLE " + admin + " LOGIN CREATEROLE PASSWORD '" + adminPW + "'",
		"GRANT " + owner + " TO " + admin + " WITH ADMIN OPTION",
		// What the consumer reads, through the owner role's privileges.
		"CREATE TABLE " + owner + "_t (n int)",
		"ALTER TABLE " + owner + "_t OWNER TO " + owner,
	} {
		if _, err := super.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	cfg, _ := pgx.ParseConfig(dsn)
	return realIssuer{
		cfg:   issuer.Config{Postgres: &issuer.PostgresConfig{AdminDSNEnv: "PG_ADMIN_DSN", Users: users, MemberOf: owner}},
		env:   map[string]string{"PG_ADMIN_DSN": fmt.Sprintf("postgres://%s:%s@%s:%d/%s?sslmode=disable", admin, adminPW, cfg.Host, cfg.Port, cfg.Database)},
		field: issuer.FieldDSN,
		connect: func(ctx context.Context, conn string) (session, error) {
			c, err := pgx.Connect(ctx, conn)
			if err != nil {
				return nil, err
			}
			return pgConn{c, owner + "_t"}, nil
		},
		creds: urlCreds,
		with:  urlWith,
	}
}

type pgConn struct {
	c     *pgx.Conn
	table string // readable through the owner role only
}

func (s pgConn) ID(ctx context.Context) (string, error) {
	var pid, n int
	err := s.c.QueryRow(ctx, "SELECT pg_backend_pid(), (SELECT count(*) FROM "+s.table+")").Scan(&pid, &n)
	return fmt.Sprint(pid), err
}
func (s pgConn) Close() { _ = s.c.Close(context.Background()) }

// mariaIssuer: a role holding a privilege, and an admin with CREATE USER
// and the role WITH ADMIN OPTION.
func mariaIssuer(t *testing.T) realIssuer {
	startIssuerServers()
	issuertest.Require(t, issuerServers.mariaErr)
	rootDSN := issuerServers.maria.AdminDSN
	ctx := serversContext(t)
	root, err := sql.Open("mysql", rootDSN)
	if err != nil {
		t.Fatalf("connect as root: %v", err)
	}
	defer root.Close()
	s := randomSuffix()
	role, admin, adminPW := "app_"+s, "tw_admin_"+s, "adm"+randomSuffix()
	users := []string{role + "_a", role + "_b"}
	t.Cleanup(func() {
		db, err := sql.Open("mysql", rootDSN)
		if err != nil {
			return
		}
		defer db.Close()
		for _, n := range append(users, admin) {
			_, _ = db.Exec("DROP USER IF EXISTS '" + n + "'@'%'")
		}
		_, _ = db.Exec("DROP ROLE IF EXISTS `" + role + "`")
		_, _ = db.Exec("DROP TABLE IF EXISTS tw_app." + role + "_t")
	})
	for _, q := range []string{
		"CREATE DATABASE IF NOT EXISTS tw_app",
		"CREATE ROLE `" + role + "`",
		"GRANT SELECT ON tw_app.* TO `" + role + "`",
		// What the consumer reads, through the role's privilege.
		"CREATE TABLE tw_app." + role + "_t (n int)",
		"CREATE USER '" + admin + "'@'%' IDENTIFIED BY '" + adminPW + "'",
		"GRANT CREATE USER ON *.* TO '" + admin + "'@'%'",
		"GRANT `" + role + "` TO '" + admin + "'@'%' WITH ADMIN OPTION",
	} {
		if _, err := root.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	adminCfg, _ := mysql.ParseDSN(rootDSN)
	adminCfg.User, adminCfg.Passwd = admin, adminPW
	return realIssuer{
		cfg:   issuer.Config{MySQL: &issuer.MySQLConfig{AdminDSNEnv: "MYSQL_ADMIN_DSN", Users: users, GrantsFrom: role}},
		env:   map[string]string{"MYSQL_ADMIN_DSN": adminCfg.FormatDSN()},
		field: issuer.FieldDSN,
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
			return mysqlConn{db, c, "tw_app." + role + "_t"}, nil
		},
		creds: func(conn string) (issuer.Credential, error) {
			cfg, err := mysql.ParseDSN(conn)
			if err != nil {
				return issuer.Credential{}, errors.New("not a DSN")
			}
			return issuer.Credential{Username: cfg.User, Password: cfg.Passwd}, nil
		},
		with: func(conn string, c issuer.Credential) (string, error) {
			cfg, err := mysql.ParseDSN(conn)
			if err != nil {
				return "", errors.New("not a DSN")
			}
			cfg.User, cfg.Passwd = c.Username, c.Password
			return cfg.FormatDSN(), nil
		},
	}
}

type mysqlConn struct {
	db    *sql.DB
	c     *sql.Conn
	table string // readable through the role's privilege only
}

func (s mysqlConn) ID(ctx context.Context) (string, error) {
	var id, n int64
	err := s.c.QueryRowContext(ctx, "SELECT CONNECTION_ID(), (SELECT COUNT(*) FROM "+s.table+")").Scan(&id, &n)
	return fmt.Sprint(id), err
}
func (s mysqlConn) Close() { _ = s.c.Close(); _ = s.db.Close() }

// redisIssuer: the operator's ACL user with its rules, and an admin
// limited to the commands the Redis guide lists.
func redisIssuer(t *testing.T) realIssuer {
	startIssuerServers()
	issuertest.Require(t, issuerServers.redisErr)
	rootURL := issuerServers.redis.AdminURL
	ctx := serversContext(t)
	opts, _ := redis.ParseURL(rootURL)
	root := redis.NewClient(opts)
	defer root.Close()
	s := randomSuffix()
	user, admin, adminPW := "cache_"+s, "tw_admin_"+s, "adm"+randomSuffix()
	t.Cleanup(func() {
		c := redis.NewClient(opts)
		defer c.Close()
		_ = c.Do(context.Background(), "ACL", "DELUSER", user, admin).Err()
	})
	for _, args := range [][]any{
		{"ACL", "SETUSER", user, "on", "~app:*", "+ping", "+client|id"},
		{"ACL", "SETUSER", admin, "on", ">" + adminPW, "-@all", "+acl|getuser", "+acl|setuser", "+acl|save", "+config|get", "+config|rewrite", "+ping"},
	} {
		if err := root.Do(ctx, args...).Err(); err != nil {
			t.Fatalf("%v: %v", args[:3], err)
		}
	}
	adminURL, err := urlWith(rootURL, issuer.Credential{Username: admin, Password: adminPW})
	if err != nil {
		t.Fatal(err)
	}
	return realIssuer{
		cfg:   issuer.Config{Redis: &issuer.RedisConfig{AdminURLEnv: "REDIS_ADMIN_URL", User: user}},
		env:   map[string]string{"REDIS_ADMIN_URL": adminURL},
		field: issuer.FieldURL,
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
			return redisConn{client, c}, nil
		},
		creds: urlCreds,
		with:  urlWith,
	}
}

type redisConn struct {
	client *redis.Client
	c      *redis.Conn
}

func (s redisConn) ID(ctx context.Context) (string, error) {
	if err := s.c.Ping(ctx).Err(); err != nil {
		return "", err
	}
	id, err := s.c.ClientID(ctx).Result()
	return fmt.Sprint(id), err
}
func (s redisConn) Close() { _ = s.c.Close(); _ = s.client.Close() }

// serverFixture is an engine on a SQLite store of its own whose
// credential goes to two files: the dsn/url alone in one, and the username
// and password as two lines of a dotenv file.
type serverFixture struct {
	iss           realIssuer
	reg           *registry.Registry
	clock         *clocktest.Clock
	connFile, env string
	dests         []store.Destination
	template      string // a dsn/url whose user and password are replaced
}

const credName = "app-db"

func newServerFixture(t *testing.T, setup func(t *testing.T) realIssuer) *serverFixture {
	t.Helper()
	iss := setup(t)
	st, err := store.Open(t.Context(), filepath.Join(t.TempDir(), "tokenward.db"), store.Create())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	c := clocktest.New()
	dir := t.TempDir()
	f := &serverFixture{iss: iss, clock: c, connFile: filepath.Join(dir, "conn"), env: filepath.Join(dir, "app.env"),
		reg: registry.New(st, seal.NewKeyring(sealtest.Key(t)), registry.WithClock(c.Now), registry.WithActor("test"))}
	for _, dc := range []destination.Config{
		{Path: f.connFile, Format: destination.FormatRaw, Field: iss.field},
		{Path: f.env, Format: destination.FormatDotenv, Key: "DB_USER", Field: issuer.FieldUsername},
		{Path: f.env, Format: destination.FormatDotenv, Key: "DB_PASSWORD"}, // the main field
	} {
		d, err := destination.New(destination.KindFile, dc)
		if err != nil {
			t.Fatal(err)
		}
		f.dests = append(f.dests, d)
	}
	return f
}

func (f *serverFixture) engine(opts ...rotation.Option) *rotation.Engine {
	open := func(ctx context.Context, c issuer.Config) (issuer.Issuer, error) {
		return issuer.Open(ctx, c, func(k string) string { return f.iss.env[k] })
	}
	return rotation.New(f.reg, destination.NewRouter(nil),
		append([]rotation.Option{rotation.WithLockWait(5 * time.Second), rotation.WithIssuers(open)}, opts...)...)
}

// issue declares the credential as the provider does.
func (f *serverFixture) issue(t *testing.T) {
	t.Helper()
	_, err := f.engine().IssueCredential(t.Context(), registry.CredentialSpec{
		Name: credName, Owner: "team-app", Issuer: f.iss.cfg,
		Lifetime:     store.Lifetime{TTL: 30 * day, RotateBefore: 7 * day, Overlap: day},
		Destinations: f.dests,
	})
	if err != nil {
		t.Fatalf("issue the credential: %v", err)
	}
}

func (f *serverFixture) run(t *testing.T, opts ...rotation.Option) rotation.Report {
	t.Helper()
	rep, err := f.engine(opts...).Run(t.Context(), rotation.RunOptions{})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	return rep
}

// held reads both files and fails unless they agree: the dsn/url's user
// and password are the dotenv file's. It returns the dsn/url.
func (f *serverFixture) held(t *testing.T) (string, issuer.Credential) {
	t.Helper()
	raw, err := os.ReadFile(f.connFile)
	if err != nil {
		t.Fatalf("the %s file: %v", f.iss.field, err)
	}
	// A raw file ends its value with a newline; consumers read it as
	// $(cat file) does, without it.
	conn, ok := strings.CutSuffix(string(raw), "\n")
	if !ok || strings.ContainsAny(conn, "\r\n") {
		t.Fatalf("the %s file holds %d lines; want the value on one line", f.iss.field, strings.Count(string(raw), "\n"))
	}
	vars := dotenv(t, f.env)
	c := issuer.Credential{Username: vars["DB_USER"], Password: vars["DB_PASSWORD"]}
	if c.Username == "" || c.Password == "" {
		t.Fatalf("the dotenv file holds variables %v; want DB_USER and DB_PASSWORD set", keys(vars))
	}
	inConn, err := f.iss.creds(conn)
	if err != nil {
		t.Fatalf("the %s file: %v", f.iss.field, err)
	}
	if inConn != c {
		t.Fatalf("the files disagree: the %s's user %s, the dotenv file's %s (passwords equal: %v)", f.iss.field, inConn.Username, c.Username, inConn.Password == c.Password)
	}
	if f.template == "" {
		f.template = conn
	}
	return conn, c
}

func dotenv(t *testing.T, path string) map[string]string {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatalf("the dotenv file: %v", err)
	}
	defer fh.Close()
	vars := map[string]string{}
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			vars[k] = v
		}
	}
	return vars
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// login opens a consumer's session with c (at the dsn/url's server) and
// closes it.
func (f *serverFixture) login(ctx context.Context, c issuer.Credential) error {
	conn, err := f.iss.with(f.template, c)
	if err != nil {
		return err
	}
	return f.loginWith(ctx, conn)
}

func (f *serverFixture) loginWith(ctx context.Context, conn string) error {
	s, err := f.iss.connect(ctx, conn)
	if err != nil {
		return err
	}
	defer s.Close()
	_, err = s.ID(ctx)
	return err
}

// heldLogsIn checks the files agree and that both what the dsn/url file
// holds and the dotenv file's user and password log in; it returns the
// credential.
func (f *serverFixture) heldLogsIn(t *testing.T, when string) issuer.Credential {
	t.Helper()
	conn, c := f.held(t)
	if err := f.loginWith(t.Context(), conn); err != nil {
		t.Fatalf("%s: the %s file's credential (user %s) does not log in: %v", when, f.iss.field, c.Username, err)
	}
	if err := f.login(t.Context(), c); err != nil {
		t.Fatalf("%s: the dotenv file's credential (user %s) does not log in: %v", when, c.Username, err)
	}
	return c
}

func (f *serverFixture) logsIn(t *testing.T, what string, c issuer.Credential, want bool) {
	t.Helper()
	err := f.login(t.Context(), c)
	if (err == nil) != want {
		t.Fatalf("%s credential (user %s): login error %v, want it to log in: %v", what, c.Username, err, want)
	}
}

// sameSession fails unless s still answers as the session id.
func sameSession(t *testing.T, s session, id, when string) {
	t.Helper()
	got, err := s.ID(t.Context())
	if err != nil {
		t.Fatalf("%s: the session opened before the rotation broke: %v", when, err)
	}
	if got != id {
		t.Fatalf("%s: the session is %s, want %s: it reconnected", when, got, id)
	}
}

// TestCredentialServers: on each real server, a credential declared
// through the engine reaches both files and logs in; a rotation keeps old
// and new logging in inside the overlap; the run after the overlap retires
// the old one; the next rotation reuses its slot. A session opened before
// the first rotation runs queries throughout, without reconnecting.
func TestCredentialServers(t *testing.T) {
	t.Parallel()
	for _, kind := range realIssuers {
		t.Run(kind.name, func(t *testing.T) {
			t.Parallel()
			f := newServerFixture(t, kind.setup)
			f.issue(t)
			first := f.heldLogsIn(t, "declared")
			conn, _ := f.held(t)
			s, err := f.iss.connect(t.Context(), conn)
			if err != nil {
				t.Fatalf("open the long session: %v", err)
			}
			defer s.Close()
			id, err := s.ID(t.Context())
			if err != nil {
				t.Fatal(err)
			}

			f.clock.Advance(23 * day)
			if rep := f.run(t); rep.Rotated() != 1 {
				t.Fatalf("run when due: %+v", rep.Results)
			}
			second := f.heldLogsIn(t, "rotated")
			if second.Password == first.Password {
				t.Fatal("the rotation delivered the same password")
			}
			if kind.name != "redis" && second.Username == first.Username {
				t.Fatalf("the rotation stayed on user %s; want the other one", first.Username)
			}
			f.logsIn(t, "inside the overlap, the old", first, true)
			sameSession(t, s, id, "rotated")

			f.clock.Advance(day)
			if rep := f.run(t); rep.Retired != 1 || rep.RetireFailed != nil {
				t.Fatalf("retired %d after the overlap (%v), want 1", rep.Retired, rep.RetireFailed)
			}
			f.logsIn(t, "after the overlap, the old", first, false)
			f.heldLogsIn(t, "after the overlap")
			sameSession(t, s, id, "old credential retired")

			f.clock.Advance(22 * day)
			if rep := f.run(t); rep.Rotated() != 1 {
				t.Fatalf("third rotation: %+v", rep.Results)
			}
			third := f.heldLogsIn(t, "rotated again")
			if kind.name != "redis" && third.Username != first.Username {
				t.Fatalf("third rotation on user %s, want %s again", third.Username, first.Username)
			}
			f.logsIn(t, "inside the second overlap, the second", second, true)
			f.logsIn(t, "the first (retired)", first, false)
			sameSession(t, s, id, "rotated again")

			// No run between the overlap's end and the next rotation: the
			// rotation itself retires the previous credential before it
			// reuses its slot.
			f.clock.Advance(23 * day)
			if rep := f.run(t); rep.Rotated() != 1 || rep.Retired != 0 {
				t.Fatalf("fourth rotation: retired %d, %+v", rep.Retired, rep.Results)
			}
			fourth := f.heldLogsIn(t, "rotated a fourth time")
			if kind.name != "redis" && fourth.Username != second.Username {
				t.Fatalf("fourth rotation on user %s, want %s again", fourth.Username, second.Username)
			}
			f.logsIn(t, "the second (retired by the rotation)", second, false)
			f.logsIn(t, "inside the overlap, the third", third, true)
			sameSession(t, s, id, "rotated a fourth time")
		})
	}
}

// TestCredentialServersCrash: a rotation stopped after each step, as a
// crash would stop it, leaves both files agreeing on a credential that
// logs in; the rerun finishes the rotation, and the run after the overlap
// leaves only the files' credential logging in.
func TestCredentialServersCrash(t *testing.T) {
	t.Parallel()
	for _, kind := range realIssuers {
		for _, step := range rotation.Steps {
			t.Run(kind.name+"/after "+string(step), func(t *testing.T) {
				t.Parallel()
				f := newServerFixture(t, kind.setup)
				f.issue(t)
				old := f.heldLogsIn(t, "declared")
				f.clock.Advance(23 * day)
				crash := errors.New("power cut")
				rep := f.run(t, rotation.WithHook(func(_ context.Context, s rotation.Step, _ string) error {
					if s == step {
						return crash
					}
					return nil
				}))
				if len(rep.Failed()) != 1 || !errors.Is(rep.Results[0].Err, crash) {
					t.Fatalf("stopped run: %+v", rep.Results)
				}
				f.logsIn(t, "after the crash, the old", old, true)
				crashed := f.heldLogsIn(t, "after the crash")
				if delivered := step != rotation.AfterCreate; delivered != (crashed.Password != old.Password) {
					t.Fatalf("after a crash after %s the files hold the new password: %v, want %v", step, !delivered, delivered)
				}

				rep = f.run(t)
				if step != rotation.AfterFinish && rep.Rotated() != 1 {
					t.Fatalf("rerun: %+v", rep.Results)
				}
				now := f.heldLogsIn(t, "after the rerun")
				if now.Password == old.Password {
					t.Fatal("after the rerun the files hold the old password")
				}
				if step != rotation.AfterCreate && now != crashed {
					t.Fatal("the rerun delivered another password than the one the stopped run delivered: it must resume it")
				}
				f.logsIn(t, "inside the overlap, the old", old, true)
				ti, err := f.reg.Credential(t.Context(), credName)
				if err != nil {
					t.Fatal(err)
				}
				if ti.Pending != nil || ti.Previous == nil {
					t.Fatalf("after the rerun: pending %v, previous %v", ti.Pending, ti.Previous)
				}

				f.clock.Advance(day)
				if rep := f.run(t); rep.Retired != 1 || rep.RetireFailed != nil {
					t.Fatalf("retired %d after the overlap (%v), want 1", rep.Retired, rep.RetireFailed)
				}
				f.logsIn(t, "after the overlap, the old", old, false)
				f.heldLogsIn(t, "after the overlap")
			})
		}
	}
}
