package issuer

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// redisIssuer keeps two passwords on one ACL user, added and removed by
// their SHA-256 (ACL SETUSER #<hash> / !<hash>), so no plaintext reaches the
// server. The user and its rules are the operator's: tokenward refuses to
// create it, because a user it made up would have no command or key rules
// (it could log in and do nothing) or rules tokenward would have to guess.
type redisIssuer struct {
	cfg     RedisConfig
	admin   *url.URL       // the admin URL, parsed; never printed
	opts    *redis.Options // the admin connection's settings
	adminPW string
	client  *redis.Client

	mu       sync.Mutex
	warnings []string
}

func openRedis(ctx context.Context, cfg RedisConfig, raw string) (*redisIssuer, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
		return nil, fmt.Errorf("issuer.redis.admin_url_env: %s is not a redis://user:password@host:port/db URL (rediss:// for TLS)", cfg.AdminURLEnv)
	}
	pw, _ := u.User.Password()
	opts, err := redis.ParseURL(raw)
	if err != nil {
		return nil, scrub(fmt.Errorf("issuer.redis.admin_url_env: %s: %w", cfg.AdminURLEnv, err), pw, raw)
	}
	r := &redisIssuer{cfg: cfg, admin: u, adminPW: pw, opts: redisOptions(opts)}
	r.client = redis.NewClient(r.opts)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := r.client.Ping(ctx).Err(); err != nil {
		r.client.Close()
		return nil, scrub(fmt.Errorf("redis: connect as admin: %w", err), pw)
	}
	return r, nil
}

// redisOptions bounds every dial, read and write, keeps one connection,
// and leaves out what an admin or a consumer user may lack the ACL for.
func redisOptions(o *redis.Options) *redis.Options {
	o.DialTimeout, o.ReadTimeout, o.WriteTimeout = timeout, timeout, timeout
	o.PoolSize, o.MaxRetries = 1, -1
	o.Protocol = 2           // AUTH, not HELLO
	o.DisableIdentity = true // no CLIENT SETINFO, which needs its own ACL
	return o
}

func (r *redisIssuer) Kind() string             { return KindRedis }
func (r *redisIssuer) MainField() string        { return FieldPassword }
func (r *redisIssuer) NextUser(_ string) string { return r.cfg.User }

func (r *redisIssuer) Warnings() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	w := r.warnings
	r.warnings = nil
	return w
}

func (r *redisIssuer) warn(msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.warnings = append(r.warnings, msg)
}

func (r *redisIssuer) err(what string, err error, secrets ...string) error {
	return scrub(fmt.Errorf("redis: %s: %w", what, err), append(secrets, r.adminPW)...)
}

// passwords returns the user's password hashes (hex), or ok false when the
// user does not exist.
func (r *redisIssuer) passwords(ctx context.Context) (hashes []string, ok bool, err error) {
	res, err := r.client.Do(ctx, "ACL", "GETUSER", r.cfg.User).Result()
	if errors.Is(err, redis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, r.err("read user "+r.cfg.User, err)
	}
	// RESP2: a flat list of field names and values.
	fields, _ := res.([]any)
	for i := 0; i+1 < len(fields); i += 2 {
		if name, _ := fields[i].(string); name == "passwords" {
			list, _ := fields[i+1].([]any)
			for _, h := range list {
				if s, ok := h.(string); ok {
					hashes = append(hashes, s)
				}
			}
		}
	}
	return hashes, true, nil
}

// nopass says whether the user logs in with any password (the nopass
// flag), or an error reading it.
func (r *redisIssuer) nopass(ctx context.Context) (bool, error) {
	res, err := r.client.Do(ctx, "ACL", "GETUSER", r.cfg.User).Result()
	if err != nil {
		return false, r.err("read user "+r.cfg.User, err)
	}
	fields, _ := res.([]any)
	for i := 0; i+1 < len(fields); i += 2 {
		if name, _ := fields[i].(string); name == "flags" {
			list, _ := fields[i+1].([]any)
			for _, f := range list {
				if f == "nopass" {
					return true, nil
				}
			}
		}
	}
	return false, nil
}

// Stage adds the password's hash to the user and switches it on; adding a
// hash it already has changes nothing.
func (r *redisIssuer) Stage(ctx context.Context, c Credential) error {
	if c.Username != r.cfg.User {
		return fmt.Errorf("redis: user %q is not the issuer's user %q", c.Username, r.cfg.User)
	}
	if err := checkPassword(c.Password); err != nil {
		return fmt.Errorf("redis: stage %s: %w", c.Username, err)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if _, ok, err := r.passwords(ctx); err != nil {
		return err
	} else if !ok {
		return fmt.Errorf("redis: user %q does not exist: create it with its ACL rules (ACL SETUSER %s on ~… +…); tokenward manages only its passwords", r.cfg.User, r.cfg.User)
	}
	// Adding a password clears nopass: every client that logs in as the
	// user without one (the default user, often) would be locked out.
	if open, err := r.nopass(ctx); err != nil {
		return err
	} else if open {
		return fmt.Errorf("redis: user %q has nopass (any password logs in): adding a password would lock out the clients that use none; give it passwords first (ACL SETUSER %s resetpass), or choose another user in issuer.redis.user", r.cfg.User, r.cfg.User)
	}
	h := Hash(c.Password)
	if err := r.client.Do(ctx, "ACL", "SETUSER", r.cfg.User, "on", "#"+hex.EncodeToString(h[:])).Err(); err != nil {
		return r.err("stage "+r.cfg.User, err, c.Password)
	}
	return r.persist(ctx)
}

// Retire removes the password by its hash; one that is gone already, or a
// user the operator deleted, is fine. Sessions logged in with it go on.
func (r *redisIssuer) Retire(ctx context.Context, ret Retired) error {
	if ret.Username != r.cfg.User {
		return fmt.Errorf("redis: user %q is not the issuer's user %q", ret.Username, r.cfg.User)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	hashes, ok, err := r.passwords(ctx)
	if err != nil || !ok {
		return err
	}
	want := hex.EncodeToString(ret.PasswordHash[:])
	found := false
	for _, h := range hashes {
		found = found || strings.EqualFold(h, want)
	}
	if !found {
		return nil
	}
	if err := r.client.Do(ctx, "ACL", "SETUSER", r.cfg.User, "!"+want).Err(); err != nil {
		return r.err("retire a password of "+r.cfg.User, err)
	}
	return r.persist(ctx)
}

// persist writes the ACL change where the server keeps it: its ACL file
// (ACL SAVE) or its config file (CONFIG REWRITE). A server with neither
// keeps it in memory only, until it restarts: that is a warning, not an
// error, since the credential works. ACL changes are not replicated:
// every replica needs the same rotation, or a shared ACL file.
func (r *redisIssuer) persist(ctx context.Context) error {
	res, err := r.client.ConfigGet(ctx, "aclfile").Result()
	if err != nil {
		return r.err("read aclfile setting", err)
	}
	if res["aclfile"] != "" {
		if err := r.client.Do(ctx, "ACL", "SAVE").Err(); err != nil {
			return r.err("ACL SAVE", err)
		}
		return nil
	}
	err = r.client.ConfigRewrite(ctx).Err()
	if err != nil && strings.Contains(err.Error(), "without a config file") {
		r.warn(fmt.Sprintf("redis: the server at %s has no ACL file and no config file: the password change of %s is only in memory and is lost when it restarts", r.admin.Host, r.cfg.User))
		return nil
	}
	if err != nil {
		return r.err("CONFIG REWRITE", err)
	}
	return nil
}

// Test logs in with c on a connection of its own: AUTH only, since the
// user's rules may allow no other command (not even PING).
func (r *redisIssuer) Test(ctx context.Context, c Credential) error {
	if c.Username != r.cfg.User {
		return fmt.Errorf("redis: user %q is not the issuer's user %q", c.Username, r.cfg.User)
	}
	o := *r.opts
	o.Username, o.Password, o.DB = "", "", 0 // log in below, by hand
	client := redis.NewClient(&o)
	defer client.Close()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := client.Do(ctx, "AUTH", c.Username, c.Password).Err(); err != nil {
		return r.err("test login as "+c.Username, err, c.Password)
	}
	return nil
}

// Field returns what a destination receives; url is the admin URL with the
// credential's user and password.
func (r *redisIssuer) Field(c Credential, field string) (string, error) {
	switch field {
	case FieldPassword:
		return c.Password, nil
	case FieldUsername:
		return c.Username, nil
	case FieldURL:
		u := *r.admin
		u.User = url.UserPassword(c.Username, c.Password)
		return u.String(), nil
	}
	return "", fmt.Errorf("redis: field %q: use password, username or url", field)
}

func (r *redisIssuer) Close() error { return scrub(r.client.Close(), r.adminPW) }
