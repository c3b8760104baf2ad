// Package issuer drives the systems that issue a credential tokenward rotates
// but does not mint: PostgreSQL and MySQL/MariaDB login roles, and Redis ACL
// users. An Issuer makes a new password work at the server (Stage), proves it
// by logging in (Test), and takes an old one away when its overlap ends
// (Retire), so that the rotation engine can run its four steps on a
// credential as it does on a token.
//
// What it guarantees: Stage never touches the login of the credential the
// destinations hold (PostgreSQL and MariaDB alternate two users; Redis keeps
// two passwords on one user); every step may be rerun after a crash (staging
// the same credential twice, or retiring a retired one, is fine); sessions
// that are already open survive a Retire; no error holds a password, the
// administrative DSN's password included; every connection has a timeout.
// The administrative DSN or URL is never in a Config: Open reads it from the
// environment variable the Config names.
package issuer

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// Credential is one value: the login user it belongs to and its password (plaintext only in memory).
type Credential struct{ Username, Password string }

// Retired names a credential to take away by what the store keeps of it: its user and the SHA-256 of its password.
type Retired struct {
	Username     string
	PasswordHash [32]byte
}

// Hash is the SHA-256 of a password, as Retired.PasswordHash holds it.
func Hash(password string) [32]byte { return sha256.Sum256([]byte(password)) }

// Issuer is a system that issues a credential, driven by the rotation engine.
type Issuer interface {
	// Kind is "postgres", "mysql" or "redis".
	Kind() string
	// NextUser is the idle user the next password goes to ("" current: the
	// first user); Redis and MySQL with dual passwords: always the one user.
	NextUser(current string) string
	// Stage makes c work at the server: it creates the user if absent, unlocks
	// it and sets the password. It never touches the other user's login.
	Stage(ctx context.Context, c Credential) error
	// Test logs in with c (a real connection, closed after).
	Test(ctx context.Context, c Credential) error
	// Retire takes a credential away when its overlap ends (PostgreSQL
	// NOLOGIN, MariaDB ACCOUNT LOCK, Redis removes that password by its
	// hash). Already retired is fine; open sessions stay open.
	Retire(ctx context.Context, r Retired) error
	// Field is what a destination receives: "password", "username", and
	// "dsn" (postgres, mysql) or "url" (redis).
	Field(c Credential, field string) (string, error)
	// MainField is the default field: "password".
	MainField() string
	// Close closes the administrative connection.
	Close() error
}

// Warner is implemented by issuers whose steps can succeed with a caveat
// the operator should read, such as a Redis ACL change kept only in memory.
// Warnings returns those gathered since its last call and forgets them; the
// caller shows them (a step summary, a log line). They hold no secret.
type Warner interface {
	Warnings() []string
}

// Config is the issuer block as decoded from HCL/JSON, stored as JSON in the
// store. It holds no secret: the admin DSN/URL is read from the environment
// variable it names when the issuer is opened. Exactly one kind is set.
type Config struct {
	Postgres *PostgresConfig `json:"postgres,omitempty"`
	MySQL    *MySQLConfig    `json:"mysql,omitempty"`
	Redis    *RedisConfig    `json:"redis,omitempty"`
}

// PostgresConfig alternates two login roles that are members of MemberOf.
type PostgresConfig struct {
	// AdminDSNEnv names the variable holding the admin connection URL
	// (postgres://admin:…@host:5432/db?sslmode=…).
	AdminDSNEnv string `json:"admin_dsn_env"`
	// Users are the two login roles tokenward alternates, created if absent.
	Users []string `json:"users"`
	// MemberOf is the NOLOGIN role that holds the privileges and owns what
	// either user creates.
	MemberOf string `json:"member_of"`
}

// MySQLConfig alternates two users that are granted the role GrantsFrom
// (MariaDB, MySQL before 8.0.14), or keeps two passwords on the first user
// (MySQL 8.0.14 and later).
type MySQLConfig struct {
	// AdminDSNEnv names the variable holding the admin DSN in the Go MySQL
	// driver's form (admin:…@tcp(host:3306)/db?tls=true).
	AdminDSNEnv string `json:"admin_dsn_env"`
	// Users are the two users tokenward alternates, created if absent.
	Users []string `json:"users"`
	// GrantsFrom is the role whose privileges the users get, as their
	// default role.
	GrantsFrom string `json:"grants_from"`
}

// RedisConfig manages the passwords of one existing ACL user.
type RedisConfig struct {
	// AdminURLEnv names the variable holding the admin URL
	// (redis://admin:…@host:6379/0, or rediss:// for TLS).
	AdminURLEnv string `json:"admin_url_env"`
	// User is the ACL user, created and given its rules by the operator.
	User string `json:"user"`
}

// Kinds of issuer, as Kind returns them.
const (
	KindPostgres = "postgres"
	KindMySQL    = "mysql"
	KindRedis    = "redis"
)

// Fields a destination may receive.
const (
	FieldPassword = "password"
	FieldUsername = "username"
	FieldDSN      = "dsn"
	FieldURL      = "url"
)

// timeout bounds every connection and statement, so a server that does not
// answer fails the step instead of hanging the run.
const timeout = 15 * time.Second

var (
	// envName is a portable environment variable name.
	envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	// pgName is an unquoted-looking identifier: letters, digits and _, so
	// the role a user types is the role it gets (quoting keeps the case).
	pgName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	// mysqlName fits MySQL's 32-character user names and quotes plainly.
	mysqlName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,31}$`)
	// redisName is an ACL user name with no space or rule prefix.
	redisName = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,127}$`)
)

// Check says what is wrong with a Config, naming the field to fix.
func (c Config) Check() error {
	n := 0
	for _, set := range []bool{c.Postgres != nil, c.MySQL != nil, c.Redis != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		return fmt.Errorf("issuer: set exactly one of postgres, mysql or redis (%d set)", n)
	}
	switch {
	case c.Postgres != nil:
		p := c.Postgres
		if err := checkEnv("issuer.postgres.admin_dsn_env", p.AdminDSNEnv); err != nil {
			return err
		}
		if err := checkUsers("issuer.postgres", p.Users, 2, pgNameErr); err != nil {
			return err
		}
		if err := pgNameErr("issuer.postgres.member_of", p.MemberOf); err != nil {
			return err
		}
		for _, u := range p.Users {
			if u == p.MemberOf {
				return fmt.Errorf("issuer.postgres.member_of: %q is also one of users; it must be the separate NOLOGIN role that holds the privileges", p.MemberOf)
			}
		}
	case c.MySQL != nil:
		m := c.MySQL
		if err := checkEnv("issuer.mysql.admin_dsn_env", m.AdminDSNEnv); err != nil {
			return err
		}
		if err := checkUsers("issuer.mysql", m.Users, 2, mysqlNameErr); err != nil {
			return err
		}
		if err := mysqlNameErr("issuer.mysql.grants_from", m.GrantsFrom); err != nil {
			return err
		}
		for _, u := range m.Users {
			if u == m.GrantsFrom {
				return fmt.Errorf("issuer.mysql.grants_from: %q is also one of users; it must be the role that holds the privileges", m.GrantsFrom)
			}
		}
	case c.Redis != nil:
		r := c.Redis
		if err := checkEnv("issuer.redis.admin_url_env", r.AdminURLEnv); err != nil {
			return err
		}
		if r.User == "" {
			return errors.New("issuer.redis.user: required: the ACL user whose passwords tokenward rotates")
		}
		if !redisName.MatchString(r.User) {
			return fmt.Errorf("issuer.redis.user: %q is not a user name tokenward accepts: letters, digits, _ . : - (up to 128)", r.User)
		}
	}
	return nil
}

func checkEnv(field, name string) error {
	if name == "" {
		return fmt.Errorf("%s: required: the environment variable that holds the admin connection string", field)
	}
	if !envName.MatchString(name) {
		return fmt.Errorf("%s: %q is not an environment variable name: letters, digits and _, not starting with a digit", field, name)
	}
	return nil
}

func checkUsers(block string, users []string, want int, check func(field, name string) error) error {
	if len(users) != want {
		return fmt.Errorf("%s.users: give exactly %d users to alternate (got %d)", block, want, len(users))
	}
	for i, u := range users {
		if err := check(fmt.Sprintf("%s.users[%d]", block, i), u); err != nil {
			return err
		}
	}
	if users[0] == users[1] {
		return fmt.Errorf("%s.users: the two users must differ (both are %q)", block, users[0])
	}
	return nil
}

func pgNameErr(field, name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%s: required", field)
	case len(name) > 63:
		return fmt.Errorf("%s: %q is longer than PostgreSQL's 63-byte names", field, name)
	case !pgName.MatchString(name):
		return fmt.Errorf("%s: %q is not a role name tokenward accepts: letters, digits and _, not starting with a digit", field, name)
	case strings.HasPrefix(strings.ToLower(name), "pg_"):
		return fmt.Errorf("%s: %q: names starting with pg_ are reserved by PostgreSQL", field, name)
	}
	return nil
}

func mysqlNameErr(field, name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%s: required", field)
	case !mysqlName.MatchString(name):
		return fmt.Errorf("%s: %q is not a name tokenward accepts: letters, digits and _, not starting with a digit, up to 32", field, name)
	}
	return nil
}

// Open checks c, reads the admin connection string from the variable it
// names and connects to the server (to find its version, and to fail early
// when the string is wrong). Its errors never hold the string's password.
func Open(ctx context.Context, c Config, getenv func(string) string) (Issuer, error) {
	if err := c.Check(); err != nil {
		return nil, err
	}
	switch {
	case c.Postgres != nil:
		dsn := getenv(c.Postgres.AdminDSNEnv)
		if dsn == "" {
			return nil, fmt.Errorf("issuer.postgres.admin_dsn_env: %s is empty or unset: set it to the admin connection URL", c.Postgres.AdminDSNEnv)
		}
		return openPostgres(ctx, *c.Postgres, dsn)
	case c.MySQL != nil:
		dsn := getenv(c.MySQL.AdminDSNEnv)
		if dsn == "" {
			return nil, fmt.Errorf("issuer.mysql.admin_dsn_env: %s is empty or unset: set it to the admin DSN", c.MySQL.AdminDSNEnv)
		}
		return openMySQL(ctx, *c.MySQL, dsn)
	default:
		u := getenv(c.Redis.AdminURLEnv)
		if u == "" {
			return nil, fmt.Errorf("issuer.redis.admin_url_env: %s is empty or unset: set it to the admin URL", c.Redis.AdminURLEnv)
		}
		return openRedis(ctx, *c.Redis, u)
	}
}

// checkPassword refuses a password no issuer can pass on safely: every
// issuer accepts printable ASCII without space, quotes or backslash, which
// needs no escaping in SQL literals, in URLs' reserved set handled by
// net/url, nor SASLprep (PostgreSQL normalises non-ASCII passwords).
func checkPassword(p string) error {
	if p == "" {
		return errors.New("the password is empty")
	}
	if len(p) > 256 {
		return fmt.Errorf("the password is %d bytes, over 256", len(p))
	}
	for i := 0; i < len(p); i++ {
		if b := p[i]; b <= ' ' || b >= 0x7f || b == '\'' || b == '"' || b == '\\' {
			return fmt.Errorf("the password has a byte at %d that is not printable ASCII without space, quote or backslash", i)
		}
	}
	return nil
}

// checkUser refuses to stage on a user the issuer does not alternate, so a
// wrong Credential cannot take over another account.
func checkUser(kind, user string, users []string) error {
	for _, u := range users {
		if u == user {
			return nil
		}
	}
	return fmt.Errorf("%s: user %q is not one of the issuer's users %q", kind, user, users)
}

// scrub returns err, or when its text holds one of the secrets (plain or
// URL-escaped) a new error with them replaced by "xxxxx". The new error does
// not wrap the old one, which would still hold them.
func scrub(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	found := false
	for _, s := range secrets {
		if s == "" {
			continue
		}
		for _, form := range []string{s, url.QueryEscape(s), url.PathEscape(s), url.UserPassword("u", s).String()[2:]} {
			if form != "" && strings.Contains(msg, form) {
				msg = strings.ReplaceAll(msg, form, "xxxxx")
				found = true
			}
		}
	}
	if !found {
		return err
	}
	return errors.New(msg)
}
