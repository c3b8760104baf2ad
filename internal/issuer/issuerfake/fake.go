// Package issuerfake is a fake issuer for tests: a server of login users
// that behaves as the real issuers do for tokenward's steps — PostgreSQL
// and MySQL users that alternate, each with one password and a login that
// can be locked, and a Redis user that holds several passwords, added and
// removed by their SHA-256. It keeps only hashes of passwords, like the
// servers it stands for, and can fail any step on demand. (The real
// servers for tests are in internal/issuer/issuertest.)
package issuerfake

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"sync"

	"github.com/tokenward/terraform-provider-tokenward/internal/issuer"
)

// Ops the fake counts and can be told to fail.
const (
	OpOpen   = "open"
	OpStage  = "stage"
	OpTest   = "test"
	OpRetire = "retire"
)

// ErrLogin is returned by Login and Test when the server refuses a login.
var ErrLogin = errors.New("login refused")

// ErrInjected is what a step told to fail returns.
var ErrInjected = errors.New("injected failure")

type account struct {
	login     bool
	passwords map[[32]byte]bool
}

// Server is one fake server. Its zero value is not usable: call New.
type Server struct {
	mu     sync.Mutex
	users  map[string]*account
	calls  map[string]int
	fail   map[string]int // op -> how many more calls fail
	getenv func(string) string
}

// New returns an empty server. getenv is how Open reads the admin DSN the
// configuration names; nil reads nothing (every Open fails as a real one
// would without its admin credential) — tests pass a map's lookup.
func New(getenv func(string) string) *Server {
	return &Server{users: map[string]*account{}, calls: map[string]int{}, fail: map[string]int{}, getenv: getenv}
}

// FailNext makes the next n calls of op fail with ErrInjected.
func (s *Server) FailNext(op string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail[op] = n
}

// Calls returns how many times op was called.
func (s *Server) Calls(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[op]
}

// call counts op and says whether it fails.
func (s *Server) call(op string) error {
	s.calls[op]++
	if s.fail[op] > 0 {
		s.fail[op]--
		return fmt.Errorf("%s: %w", op, ErrInjected)
	}
	return nil
}

// Login tells whether username logs in with password, as a consumer's
// connection would.
func (s *Server) Login(username, password string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.login(username, password)
}

func (s *Server) login(username, password string) error {
	u := s.users[username]
	if u == nil || !u.login || !u.passwords[sha256.Sum256([]byte(password))] {
		return fmt.Errorf("user %s: %w", username, ErrLogin)
	}
	return nil
}

// Passwords returns how many passwords a user holds and whether it may log
// in.
func (s *Server) Passwords(username string) (n int, login bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.users[username]
	if u == nil {
		return 0, false
	}
	return len(u.passwords), u.login
}

// Open is an issuer.Opener for this server: it checks the configuration,
// reads the admin DSN from the variable it names and connects.
func (s *Server) Open(_ context.Context, c issuer.Config) (issuer.Issuer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.call(OpOpen); err != nil {
		return nil, err
	}
	if err := c.Check(); err != nil {
		return nil, err
	}
	f := &fake{s: s}
	var env string
	switch {
	case c.Postgres != nil:
		f.kind, env, f.users = issuer.KindPostgres, c.Postgres.AdminDSNEnv, c.Postgres.Users
	case c.MySQL != nil:
		f.kind, env, f.users = issuer.KindMySQL, c.MySQL.AdminDSNEnv, c.MySQL.Users
	default:
		f.kind, env, f.users = issuer.KindRedis, c.Redis.AdminURLEnv, []string{c.Redis.User}
	}
	if s.getenv == nil || s.getenv(env) == "" {
		return nil, fmt.Errorf("open %s issuer: the environment variable %s is not set: set it to the admin DSN", f.kind, env)
	}
	u, err := url.Parse(s.getenv(env))
	if err != nil {
		return nil, fmt.Errorf("open %s issuer: %s does not hold a URL", f.kind, env)
	}
	u.User = nil
	f.base = u
	return f, nil
}

type fake struct {
	s     *Server
	kind  string
	users []string
	base  *url.URL // the admin DSN without its user
}

func (f *fake) Kind() string { return f.kind }

func (f *fake) NextUser(current string) string {
	if f.kind == "redis" {
		return f.users[0]
	}
	if current == f.users[0] {
		return f.users[1]
	}
	return f.users[0]
}

func (f *fake) Stage(_ context.Context, c issuer.Credential) error {
	f.s.mu.Lock()
	defer f.s.mu.Unlock()
	if err := f.s.call(OpStage); err != nil {
		return err
	}
	if !slices.Contains(f.users, c.Username) {
		return fmt.Errorf("stage: %s is not one of this issuer's users", c.Username)
	}
	u := f.s.users[c.Username]
	if u == nil {
		u = &account{passwords: map[[32]byte]bool{}}
		f.s.users[c.Username] = u
	}
	if f.kind != "redis" {
		// One password per login role: setting one replaces the other.
		clear(u.passwords)
	}
	u.passwords[sha256.Sum256([]byte(c.Password))] = true
	u.login = true
	return nil
}

func (f *fake) Test(_ context.Context, c issuer.Credential) error {
	f.s.mu.Lock()
	defer f.s.mu.Unlock()
	if err := f.s.call(OpTest); err != nil {
		return err
	}
	return f.s.login(c.Username, c.Password)
}

func (f *fake) Retire(_ context.Context, r issuer.Retired) error {
	f.s.mu.Lock()
	defer f.s.mu.Unlock()
	if err := f.s.call(OpRetire); err != nil {
		return err
	}
	u := f.s.users[r.Username]
	if u == nil {
		return nil
	}
	if f.kind == "redis" {
		delete(u.passwords, r.PasswordHash)
		return nil
	}
	u.login = false // NOLOGIN / ACCOUNT LOCK: the role's password stays, unusable
	return nil
}

func (f *fake) Field(c issuer.Credential, field string) (string, error) {
	switch field {
	case "", "password":
		return c.Password, nil
	case "username":
		return c.Username, nil
	case "dsn", "url":
		if (field == "url") != (f.kind == "redis") {
			break
		}
		u := *f.base
		u.User = url.UserPassword(c.Username, c.Password)
		return u.String(), nil
	}
	return "", fmt.Errorf("a %s credential has no field %q", f.kind, field)
}

func (f *fake) MainField() string { return "password" }

func (f *fake) Close() error { return nil }
