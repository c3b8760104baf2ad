// Package issuer drives the systems that issue credentials tokenward
// rotates but does not mint: PostgreSQL and MySQL/MariaDB login roles and
// Redis ACL users.
//
// This file holds the contract the rotation engine codes against, as issue
// 16 fixes it; the implementations of Open arrive with the issuers
// themselves. It guarantees that no error it returns holds a password or an
// admin DSN's password.
package issuer

import (
	"context"
	"errors"
	"fmt"
	"regexp"
)

// Credential is one value: the login user it belongs to and its password
// (plaintext only in memory).
type Credential struct{ Username, Password string }

// Retired names a credential to take away by what the store keeps of it:
// its user and the SHA-256 of its password.
type Retired struct {
	Username     string
	PasswordHash [32]byte
}

// Issuer is a system that issues a credential, driven by the rotation
// engine's steps.
type Issuer interface {
	Kind() string                                     // "postgres", "mysql", "redis"
	NextUser(current string) string                   // the idle user the next password goes to ("" current: the first user); Redis: always its one user
	Stage(ctx context.Context, c Credential) error    // make c work at the server; never touches the other user's login
	Test(ctx context.Context, c Credential) error     // log in with c
	Retire(ctx context.Context, r Retired) error      // when the overlap ends; already retired is fine
	Field(c Credential, field string) (string, error) // "password", "username", "dsn" (postgres/mysql) or "url" (redis)
	MainField() string                                // the default field: "password"
	Close() error
}

// Config is the issuer block as decoded from HCL/JSON, stored as JSON in the
// store. It holds no secret: the admin DSN/URL is read from the environment
// variable it names when the issuer is opened.
type Config struct {
	Postgres *PostgresConfig `json:"postgres,omitempty"`
	MySQL    *MySQLConfig    `json:"mysql,omitempty"`
	Redis    *RedisConfig    `json:"redis,omitempty"`
}

// PostgresConfig is a PostgreSQL issuer: two login roles that alternate,
// members of one NOLOGIN role that holds the privileges.
type PostgresConfig struct {
	AdminDSNEnv string   `json:"admin_dsn_env"`
	Users       []string `json:"users"`
	MemberOf    string   `json:"member_of"`
}

// MySQLConfig is a MySQL/MariaDB issuer: two users that alternate, granted
// what GrantsFrom is granted.
type MySQLConfig struct {
	AdminDSNEnv string   `json:"admin_dsn_env"`
	Users       []string `json:"users"`
	GrantsFrom  string   `json:"grants_from"`
}

// RedisConfig is a Redis issuer: one ACL user holding two passwords.
type RedisConfig struct {
	AdminURLEnv string `json:"admin_url_env"`
	User        string `json:"user"`
}

var (
	envName  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	userName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_$-]{0,62}$`)
)

// Kind names the configured kind; "" unless exactly one is set.
func (c Config) Kind() string {
	kinds := c.kinds()
	if len(kinds) != 1 {
		return ""
	}
	return kinds[0]
}

func (c Config) kinds() []string {
	var out []string
	if c.Postgres != nil {
		out = append(out, "postgres")
	}
	if c.MySQL != nil {
		out = append(out, "mysql")
	}
	if c.Redis != nil {
		out = append(out, "redis")
	}
	return out
}

// Check reports whether the configuration is usable: exactly one kind, and
// valid names; the error names the field at fault.
func (c Config) Check() error {
	switch kinds := c.kinds(); len(kinds) {
	case 0:
		return errors.New("issuer: set exactly one of postgres, mysql or redis")
	case 1:
	default:
		return fmt.Errorf("issuer: set exactly one of postgres, mysql or redis, not %d of them", len(kinds))
	}
	switch {
	case c.Postgres != nil:
		return checkPair("postgres", "admin_dsn_env", c.Postgres.AdminDSNEnv, c.Postgres.Users, "member_of", c.Postgres.MemberOf)
	case c.MySQL != nil:
		return checkPair("mysql", "admin_dsn_env", c.MySQL.AdminDSNEnv, c.MySQL.Users, "grants_from", c.MySQL.GrantsFrom)
	default:
		if err := checkEnv("redis.admin_url_env", c.Redis.AdminURLEnv); err != nil {
			return err
		}
		return checkUser("redis.user", c.Redis.User)
	}
}

func checkPair(kind, envField, env string, users []string, roleField, role string) error {
	if err := checkEnv(kind+"."+envField, env); err != nil {
		return err
	}
	if len(users) != 2 {
		return fmt.Errorf("issuer.%s.users: name exactly two login users to alternate, such as [\"app_a\", \"app_b\"]; got %d", kind, len(users))
	}
	for _, u := range users {
		if err := checkUser(kind+".users", u); err != nil {
			return err
		}
	}
	if users[0] == users[1] {
		return fmt.Errorf("issuer.%s.users: the two users must differ; both are %q", kind, users[0])
	}
	if role != "" {
		if err := checkUser(kind+"."+roleField, role); err != nil {
			return err
		}
	}
	return nil
}

func checkEnv(field, v string) error {
	if !envName.MatchString(v) {
		return fmt.Errorf("issuer.%s: name the environment variable that holds the admin credential, such as BILLING_DB_ADMIN_DSN (letters, digits and _), never the value itself", field)
	}
	return nil
}

func checkUser(field, v string) error {
	if !userName.MatchString(v) {
		return fmt.Errorf("issuer.%s: %q is not a user name: use letters, digits, _, $ or -, starting with a letter or _, at most 63 characters", field, v)
	}
	return nil
}

// ErrUnavailable is wrapped by Open when this build has no implementation
// of the configured kind.
var ErrUnavailable = errors.New("issuer not available in this build")

// Open connects to the configured issuer with the admin credential read
// through getenv from the variable the configuration names.
func Open(ctx context.Context, c Config, getenv func(string) string) (Issuer, error) {
	if err := c.Check(); err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("open %s issuer: %w", c.Kind(), ErrUnavailable)
}
