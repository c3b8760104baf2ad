package destination

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/hashicorp/vault/api"

	"github.com/tokenward/terraform-provider-tokenward/internal/store"
)

// DefaultVaultMount is the KV v2 mount a Vault writer uses by default: the
// one a Vault dev server enables.
const DefaultVaultMount = "secret"

// VaultConfig configures a Vault (or OpenBao) KV v2 writer. Exactly one of
// Token and the AppRole (RoleID and SecretID) must be set.
type VaultConfig struct {
	// Address is the server, such as https://vault.example.com:8200.
	Address string
	// Mount is the KV v2 engine's mount path; "secret" by default.
	Mount string
	// Token is a Vault token.
	Token string
	// RoleID and SecretID log in with AppRole, at AppRoleMount ("approle"
	// by default), the first time a destination is written.
	RoleID, SecretID string
	AppRoleMount     string
	// HTTPClient supplies the transport; the Vault client's own (TLS from
	// VAULT_CACERT and friends) by default.
	HTTPClient *http.Client
}

// Environment variables VaultConfigFromEnv reads.
const (
	EnvVaultAddr          = "TOKENWARD_VAULT_ADDR"
	EnvVaultAddrFallback  = "VAULT_ADDR"
	EnvVaultToken         = "TOKENWARD_VAULT_TOKEN"
	EnvVaultTokenFallback = "VAULT_TOKEN"
	EnvVaultRoleID        = "TOKENWARD_VAULT_ROLE_ID"
	EnvVaultSecretID      = "TOKENWARD_VAULT_SECRET_ID"
	EnvVaultMount         = "TOKENWARD_VAULT_MOUNT"
	EnvVaultAppRoleMount  = "TOKENWARD_VAULT_APPROLE_MOUNT"
)

// VaultConfigFromEnv reads the Vault configuration from the environment
// through getenv: the address from TOKENWARD_VAULT_ADDR, then VAULT_ADDR;
// the token from TOKENWARD_VAULT_TOKEN, then VAULT_TOKEN, unless an AppRole
// is set (TOKENWARD_VAULT_ROLE_ID and TOKENWARD_VAULT_SECRET_ID), which wins
// over VAULT_TOKEN as a GitHub App wins over GITHUB_TOKEN; the mounts from
// TOKENWARD_VAULT_MOUNT and TOKENWARD_VAULT_APPROLE_MOUNT. It reports false,
// and no error, when neither an address nor credentials are set.
func VaultConfigFromEnv(getenv func(string) string) (VaultConfig, bool, error) {
	or := func(a, b string) string {
		if v := getenv(a); v != "" {
			return v
		}
		return getenv(b)
	}
	c := VaultConfig{
		Address: or(EnvVaultAddr, EnvVaultAddrFallback), Mount: getenv(EnvVaultMount),
		Token: getenv(EnvVaultToken), RoleID: getenv(EnvVaultRoleID), SecretID: getenv(EnvVaultSecretID),
		AppRoleMount: getenv(EnvVaultAppRoleMount),
	}
	approle := c.RoleID != "" || c.SecretID != ""
	if c.Token == "" && !approle {
		c.Token = getenv(EnvVaultTokenFallback)
	}
	if c.Address == "" && c.Token == "" && !approle {
		return c, false, nil
	}
	switch {
	case c.Token != "" && approle:
		return c, true, fmt.Errorf("both %s and an AppRole (%s, %s) are set: set only one", EnvVaultToken, EnvVaultRoleID, EnvVaultSecretID)
	case approle && (c.RoleID == "" || c.SecretID == ""):
		return c, true, fmt.Errorf("an AppRole needs both %s and %s", EnvVaultRoleID, EnvVaultSecretID)
	}
	return c, true, nil
}

// CheckVaultAddress reports whether addr is a Vault server's URL.
func CheckVaultAddress(addr string) error {
	u, err := url.Parse(addr)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("address %q must be an http:// or https:// URL, such as https://vault.example.com:8200", addr)
	}
	return nil
}

// check reports what is missing or wrong in c, naming the setting.
func (c VaultConfig) check() error {
	approle := c.RoleID != "" || c.SecretID != ""
	switch {
	case c.Address == "":
		return fmt.Errorf("vault: no address: set vault.address in the provider, or %s (or %s)", EnvVaultAddr, EnvVaultAddrFallback)
	case c.Token == "" && !approle:
		return fmt.Errorf("vault: no credentials: set %s (or %s) to a Vault token, or an AppRole's %s and %s", EnvVaultToken, EnvVaultTokenFallback, EnvVaultRoleID, EnvVaultSecretID)
	case c.Token != "" && approle:
		return errors.New("vault: both a token and an AppRole are configured: configure only one")
	case approle && (c.RoleID == "" || c.SecretID == ""):
		return fmt.Errorf("vault: an AppRole needs both %s and %s", EnvVaultRoleID, EnvVaultSecretID)
	}
	if err := CheckVaultAddress(c.Address); err != nil {
		return fmt.Errorf("vault: %w", err)
	}
	for name, m := range map[string]string{"mount": c.Mount, "AppRole mount": c.AppRoleMount} {
		if m != "" && CheckVaultPath(m) != nil {
			return fmt.Errorf("vault: %s %q must be a path such as secret or teams/kv", name, m)
		}
	}
	return nil
}

// Vault writes token values to fields of KV version 2 secrets in Vault or
// OpenBao. It is safe for concurrent use.
//
// It writes only secrets it owns: a secret it creates gets
// custom_metadata managed-by = tokenward/<name>, and a secret that exists
// without that mark is refused (the error says how to hand it over). Every
// data write carries check-and-set on the version read just before, so a
// concurrent change is never lost: a conflict is retried once, then
// reported. Delete removes only its field, and the whole secret (its
// metadata, so every version) when no other field is left.
type Vault struct {
	cfg   VaultConfig
	mount string

	mu     sync.Mutex
	client *api.Client // logged in; nil until the first use
}

var _ Writer = (*Vault)(nil)

// NewVault returns a Vault writer after checking cfg. It makes no request:
// an AppRole logs in at the first write.
func NewVault(cfg VaultConfig) (*Vault, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if cfg.Mount == "" {
		cfg.Mount = DefaultVaultMount
	}
	if cfg.AppRoleMount == "" {
		cfg.AppRoleMount = "approle"
	}
	return &Vault{cfg: cfg, mount: strings.Trim(cfg.Mount, "/")}, nil
}

// login returns the client, logging in with AppRole the first time; a
// failed login is tried again at the next use.
func (v *Vault) login(ctx context.Context) (*api.Client, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.client != nil {
		return v.client, nil
	}
	conf := api.DefaultConfig()
	if conf.Error != nil {
		return nil, fmt.Errorf("vault: configure the client: %w", conf.Error)
	}
	conf.Address = v.cfg.Address
	if v.cfg.HTTPClient != nil {
		conf.HttpClient = v.cfg.HTTPClient
	}
	c, err := api.NewClient(conf)
	if err != nil {
		return nil, fmt.Errorf("vault: configure the client: %w", err)
	}
	// NewClient reads VAULT_TOKEN from the process's environment; the
	// writer uses only the credentials it was given.
	c.ClearToken()
	if v.cfg.Token != "" {
		c.SetToken(v.cfg.Token)
		v.client = c
		return c, nil
	}
	sec, err := c.Logical().WriteWithContext(ctx, "auth/"+strings.Trim(v.cfg.AppRoleMount, "/")+"/login",
		map[string]any{"role_id": v.cfg.RoleID, "secret_id": v.cfg.SecretID})
	if err != nil {
		return nil, vaultError("log in with AppRole at auth/"+v.cfg.AppRoleMount, err)
	}
	if sec == nil || sec.Auth == nil || sec.Auth.ClientToken == "" {
		return nil, errors.New("vault: the AppRole login returned no client token")
	}
	c.SetToken(sec.Auth.ClientToken)
	v.client = c
	return c, nil
}

// vaultStatus is an error response of Vault on one line, without the
// request's body.
type vaultStatus struct{ err *api.ResponseError }

func (s *vaultStatus) Error() string {
	msgs := s.err.Errors
	if s.err.RawError && len(msgs) == 1 && len(msgs[0]) > 200 {
		msgs = []string{msgs[0][:200] + "…"}
	}
	msg := fmt.Sprintf("HTTP %d", s.err.StatusCode)
	if len(msgs) > 0 {
		msg += ": " + strings.Join(msgs, "; ")
	}
	if s.err.StatusCode == http.StatusForbidden {
		msg += " (the Vault token needs create, read and update on MOUNT/data/PATH, and read, update and delete on MOUNT/metadata/PATH)"
	}
	return msg
}

func (s *vaultStatus) Unwrap() error { return s.err }

func vaultError(what string, err error) error {
	var re *api.ResponseError
	if errors.As(err, &re) {
		return fmt.Errorf("vault: %s: %w", what, &vaultStatus{re})
	}
	return fmt.Errorf("vault: %s: %w", what, err)
}

// isCASConflict reports whether err is Vault refusing a write whose cas is
// not the current version.
func isCASConflict(err error) bool {
	var re *api.ResponseError
	if !errors.As(err, &re) || re.StatusCode != http.StatusBadRequest {
		return false
	}
	for _, m := range re.Errors {
		if strings.Contains(m, "check-and-set") {
			return true
		}
	}
	return false
}

var errRetry = errors.New("retry")

// kvSecret is what a KV v2 key holds, as read just now.
type kvSecret struct {
	exists  bool
	version int               // current_version: the cas of the next write
	custom  map[string]string // custom_metadata
	data    map[string]any    // the current version's data; empty when deleted
}

func (v *Vault) read(ctx context.Context, c *api.Client, path string) (kvSecret, error) {
	md, err := c.Logical().ReadWithContext(ctx, v.mount+"/metadata/"+path)
	if err != nil {
		return kvSecret{}, vaultError("read the metadata of "+v.mount+"/"+path, err)
	}
	s := kvSecret{custom: map[string]string{}, data: map[string]any{}}
	if md == nil || md.Data == nil {
		return s, nil
	}
	s.exists = true
	if s.version, err = number(md.Data["current_version"]); err != nil {
		return s, fmt.Errorf("vault: read the metadata of %s/%s: current_version: %w", v.mount, path, err)
	}
	if cm, ok := md.Data["custom_metadata"].(map[string]any); ok {
		for k, x := range cm {
			if str, ok := x.(string); ok {
				s.custom[k] = str
			}
		}
	}
	if s.version == 0 {
		return s, nil
	}
	sec, err := c.Logical().ReadWithDataWithContext(ctx, v.mount+"/data/"+path, map[string][]string{"version": {strconv.Itoa(s.version)}})
	if err != nil {
		return s, vaultError("read "+v.mount+"/"+path, err)
	}
	// A deleted or destroyed version reads as nothing, or as null data.
	if sec != nil {
		if d, ok := sec.Data["data"].(map[string]any); ok {
			s.data = d
		}
	}
	return s, nil
}

func number(x any) (int, error) {
	switch n := x.(type) {
	case json.Number:
		i, err := n.Int64()
		return int(i), err
	case float64:
		return int(n), nil
	case int:
		return n, nil
	}
	return 0, fmt.Errorf("not a number: %T", x)
}

// put writes data as the next version after cas; errRetry on a check-and-set
// conflict.
func (v *Vault) put(ctx context.Context, c *api.Client, path string, cas int, data map[string]any) error {
	_, err := c.Logical().WriteWithContext(ctx, v.mount+"/data/"+path, map[string]any{"options": map[string]any{"cas": cas}, "data": data})
	if isCASConflict(err) {
		return errRetry
	}
	if err != nil {
		return vaultError("write "+v.mount+"/"+path, err)
	}
	return nil
}

// mark sets the ownership mark in the key's custom_metadata, keeping what
// else it holds (POST replaces the whole map).
func (v *Vault) mark(ctx context.Context, c *api.Client, path string, custom map[string]string, owner string) error {
	cm := map[string]any{}
	for k, x := range custom {
		cm[k] = x
	}
	cm[ManagedByKey] = owner
	if _, err := c.Logical().WriteWithContext(ctx, v.mount+"/metadata/"+path, map[string]any{"custom_metadata": cm}); err != nil {
		return vaultError("mark "+v.mount+"/"+path+" as "+owner, err)
	}
	return nil
}

func (v *Vault) notOwned(path, owner, found string) error {
	held := "has no " + ManagedByKey + " in its custom_metadata"
	if found != "" {
		held = fmt.Sprintf("has %s = %s in its custom_metadata", ManagedByKey, found)
	}
	return fmt.Errorf("vault: %s/%s %s: %w: tokenward never overwrites or deletes a secret it does not own. "+
		"Choose another path, or hand the secret over with: vault kv metadata patch -mount=%s -custom-metadata=%s=%s %s",
		v.mount, path, held, ErrNotOwned, v.mount, ManagedByKey, owner, path)
}

// retryOnce runs f, and once more when it returns errRetry (a
// check-and-set conflict); a second conflict is reported.
func (v *Vault) retryOnce(path string, f func() error) error {
	err := f()
	if errors.Is(err, errRetry) {
		err = f()
	}
	if errors.Is(err, errRetry) {
		return fmt.Errorf("vault: write %s/%s: %w: the secret changed twice while tokenward wrote it (retried once); the next run tries again", v.mount, path, ErrConflict)
	}
	return err
}

// Write puts value in the destination's field of its KV secret, creating
// the secret (marked as the token's) when it does not exist.
func (v *Vault) Write(ctx context.Context, d store.Destination, value string) error {
	c, err := decodeChecked(KindVaultKV, d)
	if err != nil {
		return err
	}
	client, err := v.login(ctx)
	if err != nil {
		return err
	}
	owner := ManagedBy(c.ManagedBy)
	return v.retryOnce(c.Path, func() error {
		s, err := v.read(ctx, client, c.Path)
		if err != nil {
			return err
		}
		if !s.exists {
			// Data first, with cas 0: it is created only if nobody else
			// did meanwhile. A crash before the mark leaves a secret that
			// holds only this value, which the next write recognises.
			if err := v.put(ctx, client, c.Path, 0, map[string]any{c.Key: value}); err != nil {
				return err
			}
			return v.mark(ctx, client, c.Path, nil, owner)
		}
		switch found := s.custom[ManagedByKey]; {
		case found == owner:
		case found == "" && len(s.data) == 1 && s.data[c.Key] == value:
			// Written by this writer, which stopped before marking it:
			// nobody else knows the value.
			return v.mark(ctx, client, c.Path, s.custom, owner)
		default:
			return v.notOwned(c.Path, owner, found)
		}
		if s.data[c.Key] == value {
			return nil // delivered already: a rerun writes no new version
		}
		data := maps.Clone(s.data)
		data[c.Key] = value
		return v.put(ctx, client, c.Path, s.version, data)
	})
}

// Delete removes the destination's field from its KV secret, and the whole
// secret (every version) when it holds no other field. A secret that is
// gone, or is not the token's, is left as it is.
func (v *Vault) Delete(ctx context.Context, d store.Destination) error {
	c, err := decodeChecked(KindVaultKV, d)
	if err != nil {
		return err
	}
	client, err := v.login(ctx)
	if err != nil {
		return err
	}
	owner := ManagedBy(c.ManagedBy)
	return v.retryOnce(c.Path, func() error {
		s, err := v.read(ctx, client, c.Path)
		if err != nil || !s.exists || s.custom[ManagedByKey] != owner {
			// Nothing of the token's is there: a secret someone else
			// owns is never deleted.
			return err
		}
		rest := maps.Clone(s.data)
		delete(rest, c.Key)
		if len(rest) == 0 {
			if _, err := client.Logical().DeleteWithContext(ctx, v.mount+"/metadata/"+c.Path); err != nil {
				return vaultError("delete "+v.mount+"/"+c.Path, err)
			}
			return nil
		}
		if len(rest) == len(s.data) {
			return nil // the field is gone already
		}
		return v.put(ctx, client, c.Path, s.version, rest)
	})
}
