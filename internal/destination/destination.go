// Package destination writes token values to where their consumers read
// them: files; GitHub repository, environment, organization and Dependabot
// secrets; HashiCorp Vault (or OpenBao) KV version 2 secrets; and AWS
// Secrets Manager secrets.
//
// It guarantees that a value is only ever written to the place a destination
// names, that it only deletes what a destination names (never anything else
// it finds there), that it follows no symbolic link to or at a file, that it
// never overwrites nor deletes a Vault or Secrets Manager secret that does
// not carry its ownership mark (managed-by = tokenward/<name>), and that no
// value appears in an error it returns.
package destination

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/tokenward/terraform-provider-tokenward/internal/store"
)

// The kinds of destination. They are stored in store.Destination.Kind.
const (
	KindFile               = "file"
	KindRepositorySecret   = "github_secret"              // repository secret, or environment secret when Environment is set
	KindOrganizationSecret = "github_organization_secret" // Actions secret of an organization
	KindDependabotSecret   = "github_dependabot_secret"   // Dependabot secret of a repository
	KindVaultKV            = "vault_kv"                   // a field of a Vault or OpenBao KV v2 secret
	KindAWSSecret          = "aws_secrets_manager"        // an AWS Secrets Manager secret
)

// File formats.
const (
	FormatDotenv = "dotenv" // one KEY=value line; the file's other lines are kept
	FormatRaw    = "raw"    // the whole file is the value
)

// Organization secret visibilities.
const (
	VisibilityAll      = "all"
	VisibilityPrivate  = "private"
	VisibilitySelected = "selected"
)

// Config is the configuration of one destination, stored as JSON in
// store.Destination.Config. Which fields apply depends on the kind.
type Config struct {
	// file
	Path   string `json:"path,omitempty"`
	Key    string `json:"key,omitempty"`    // dotenv variable name; defaults to the token name in upper case
	Format string `json:"format,omitempty"` // dotenv or raw
	Mode   string `json:"mode,omitempty"`   // file: octal permission bits such as "0640"; "" keeps an existing file's mode, 0600 for a new file
	Owner  string `json:"owner,omitempty"`  // file: the user name or numeric id the file belongs to
	Group  string `json:"group,omitempty"`  // file: the group name or numeric id the file belongs to

	// GitHub secrets
	Repository   string   `json:"repository,omitempty"`   // owner/name (repository, environment and Dependabot secrets)
	Environment  string   `json:"environment,omitempty"`  // makes a repository secret an environment secret
	Organization string   `json:"organization,omitempty"` // organization secrets
	Name         string   `json:"name,omitempty"`         // the secret's name
	Visibility   string   `json:"visibility,omitempty"`   // organization secrets: all, private or selected
	Repositories []string `json:"repositories,omitempty"` // organization secrets with visibility selected: owner/name or name

	// Field is which field of a credential the destination receives, such
	// as "password", "username" or "dsn"; "" is the issuer's main field.
	// Tokens have one field, their value.
	Field string `json:"field,omitempty"`

	// Secret managers. vault_kv uses Path (the secret's path within the
	// KV v2 mount) and Key (the field of its data); aws_secrets_manager
	// uses Name (the secret's name).
	//
	// ManagedBy names the token or credential the secret belongs to: the
	// writers mark what they create with managed-by = tokenward/<ManagedBy>
	// (Vault custom_metadata, an AWS tag) and refuse to write or delete a
	// secret without that mark.
	ManagedBy string `json:"managed_by,omitempty"`
}

// New builds a destination of a kind from its configuration, with its key,
// after checking the configuration. The key identifies the destination within
// its token and is what deliveries are recorded under.
func New(kind string, c Config) (store.Destination, error) {
	if err := Check(kind, c); err != nil {
		return store.Destination{}, err
	}
	raw, err := json.Marshal(c)
	if err != nil {
		return store.Destination{}, fmt.Errorf("encode destination: %w", err)
	}
	return store.Destination{Key: key(kind, c), Kind: kind, Config: raw}, nil
}

// key names the place a destination writes to, spelled one way: GitHub
// compares owner, repository, environment and secret names without case, and
// a path is cleaned, so two spellings of one place are one key.
func key(kind string, c Config) string {
	lower, upper := strings.ToLower, strings.ToUpper
	switch kind {
	case KindFile:
		path := filepath.Clean(c.Path)
		if c.Format == FormatRaw {
			return "file:" + path
		}
		return "file:" + path + "#" + c.Key
	case KindRepositorySecret:
		if c.Environment != "" {
			return "github_environment_secret:" + lower(c.Repository) + "/" + lower(c.Environment) + ":" + upper(c.Name)
		}
		return "github_secret:" + lower(c.Repository) + ":" + upper(c.Name)
	case KindOrganizationSecret:
		return "github_organization_secret:" + lower(c.Organization) + ":" + upper(c.Name)
	case KindDependabotSecret:
		return "github_dependabot_secret:" + lower(c.Repository) + ":" + upper(c.Name)
	case KindVaultKV:
		// Vault paths and fields are case-sensitive.
		return "vault_kv:" + c.Path + "#" + c.Key
	case KindAWSSecret:
		return "aws_secrets_manager:" + c.Name
	}
	return kind
}

// File is the file a file destination writes, and what of it the
// destination owns.
type File struct {
	Path string // clean and absolute
	Key  string // the dotenv variable it owns; "" when it owns the whole file (raw)
}

// FileOf returns the file a destination writes; false when it is not a
// file destination or its configuration does not read. Two destinations
// that write one File.Path overwrite each other unless both are dotenv
// lines with different keys.
//
// For an absolute path, File.Path is the path its key holds (both cleaned),
// so FileKeyPrefix(File.Path) finds every stored destination of that file
// however it was spelled. A relative path, which only rows stored before
// the provider resolved paths hold (it resolves them at the next apply, and
// Files refuses to deliver to them), is made absolute against this
// process's folder while its key stays relative: the lookup by prefix does
// not find such a row. It is left so: the provider must still read the
// row to resolve or delete it.
func FileOf(d store.Destination) (File, bool) {
	if d.Kind != KindFile || len(d.Config) == 0 {
		return File{}, false
	}
	c, err := Decode(d)
	if err != nil || c.Path == "" {
		return File{}, false
	}
	path, err := filepath.Abs(c.Path)
	if err != nil {
		return File{}, false
	}
	f := File{Path: path}
	if c.Format != FormatRaw {
		f.Key = c.Key
	}
	return f, true
}

// FileKeyPrefix is how the key of every destination of the file at path
// starts (and more: a longer file name starts so too).
func FileKeyPrefix(path string) string { return "file:" + filepath.Clean(path) }

// Decode reads the configuration of a stored destination.
func Decode(d store.Destination) (Config, error) {
	var c Config
	if err := json.Unmarshal(d.Config, &c); err != nil {
		return c, fmt.Errorf("destination %s: read its configuration: %w", d.Key, err)
	}
	return c, nil
}

// decodeChecked decodes a destination's configuration and checks it as one
// of kind, which is what every writer does before it touches anything.
func decodeChecked(kind string, d store.Destination) (Config, error) {
	c, err := Decode(d)
	if err != nil {
		return c, err
	}
	if err := Check(kind, c); err != nil {
		return c, fmt.Errorf("destination %s: %w", d.Key, err)
	}
	return c, nil
}

// IsGitHub reports whether a kind of destination is a GitHub secret.
func IsGitHub(kind string) bool {
	return kind == KindRepositorySecret || kind == KindOrganizationSecret || kind == KindDependabotSecret
}

// Error is a destination's configuration problem; Field names the attribute.
type Error struct {
	Field  string
	Reason string
}

func (e *Error) Error() string { return e.Field + ": " + e.Reason }

func bad(field, format string, args ...any) error {
	return &Error{Field: field, Reason: fmt.Sprintf(format, args...)}
}

var (
	secretName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	dotenvKey  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	// A user or group name as useradd and groupadd accept them (a trailing
	// $ for machine accounts), or a numeric id.
	account = regexp.MustCompile(`^(?:[A-Za-z_][A-Za-z0-9_.-]{0,31}\$?|[0-9]{1,10})$`)
	// GitHub's rules for owner and repository names.
	owner = regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$`)
	repo  = regexp.MustCompile(`^[A-Za-z0-9._-]{1,100}$`)
)

// parseMode reads a file destination's mode: octal permission bits, at most
// 0777. Setuid, setgid and sticky bits are refused: a token file is data, and
// a mode that carries them was almost certainly mistyped. set is false for "".
func parseMode(s string) (mode fs.FileMode, set bool, err error) {
	if s == "" {
		return 0, false, nil
	}
	digits := strings.TrimPrefix(strings.TrimPrefix(s, "0o"), "0")
	if digits == "" {
		digits = "0"
	}
	n, perr := strconv.ParseUint(digits, 8, 32)
	switch {
	case perr != nil || len(s) > 5:
		return 0, false, bad("mode", "%q must be octal permission bits, such as \"0640\"", s)
	case n > 0o777:
		return 0, false, bad("mode", "%q must be at most 0777: setuid, setgid and sticky bits are refused on a token file", s)
	}
	return fs.FileMode(n), true, nil
}

// CheckSecretName reports whether name is a valid GitHub secret name: letters,
// digits and underscores, not starting with a digit nor with GITHUB_.
func CheckSecretName(name string) error {
	switch {
	case name == "":
		return bad("name", "must not be empty")
	case len(name) > 255:
		return bad("name", "must be at most 255 characters")
	case !secretName.MatchString(name):
		if name[0] >= '0' && name[0] <= '9' {
			return bad("name", "%q must not start with a digit", name)
		}
		return bad("name", "%q may hold only letters, digits and underscores", name)
	case strings.HasPrefix(strings.ToUpper(name), "GITHUB_"):
		return bad("name", "%q must not start with GITHUB_, which GitHub reserves", name)
	}
	return nil
}

// CheckRepository reports whether full is an owner/name repository.
func CheckRepository(full string) error {
	o, n, ok := strings.Cut(full, "/")
	if !ok || !owner.MatchString(o) || !repo.MatchString(n) || n == "." || n == ".." {
		return bad("repository", "%q must be owner/name, such as acme/api", full)
	}
	return nil
}

// CheckOrganization reports whether name is a valid organization login.
func CheckOrganization(name string) error {
	if !owner.MatchString(name) {
		return bad("organization", "%q is not a GitHub organization name", name)
	}
	return nil
}

// Check reports whether a destination's configuration is complete and valid.
func Check(kind string, c Config) error {
	switch kind {
	case KindFile:
		if c.Path == "" {
			return bad("path", "must not be empty")
		}
		switch c.Format {
		case FormatDotenv:
			if !dotenvKey.MatchString(c.Key) {
				return bad("key", "%q must be a variable name: letters, digits and underscores, not starting with a digit", c.Key)
			}
		case FormatRaw:
			if c.Key != "" {
				return bad("key", "applies only to the dotenv format")
			}
		default:
			return bad("format", "%q must be dotenv or raw", c.Format)
		}
		if _, _, err := parseMode(c.Mode); err != nil {
			return err
		}
		if c.Owner != "" && !account.MatchString(c.Owner) {
			return bad("owner", "%q must be a user name or a numeric user id, such as www-data or 33", c.Owner)
		}
		if c.Group != "" && !account.MatchString(c.Group) {
			return bad("group", "%q must be a group name or a numeric group id, such as www-data or 33", c.Group)
		}
		return nil
	case KindRepositorySecret, KindDependabotSecret:
		if err := CheckRepository(c.Repository); err != nil {
			return err
		}
		if kind == KindDependabotSecret && c.Environment != "" {
			return bad("environment", "Dependabot secrets have no environment")
		}
		if c.Environment != "" && (len(c.Environment) > 255 || strings.TrimSpace(c.Environment) != c.Environment) {
			return bad("environment", "%q is not a valid environment name", c.Environment)
		}
		return CheckSecretName(c.Name)
	case KindOrganizationSecret:
		if err := CheckOrganization(c.Organization); err != nil {
			return err
		}
		if err := CheckSecretName(c.Name); err != nil {
			return err
		}
		switch c.Visibility {
		case VisibilityAll, VisibilityPrivate:
			if len(c.Repositories) > 0 {
				return bad("repositories", "applies only to visibility \"selected\"")
			}
		case VisibilitySelected:
			if len(c.Repositories) == 0 {
				return bad("repositories", "must name at least one repository when visibility is \"selected\"")
			}
		default:
			return bad("visibility", "%q must be all, private or selected", c.Visibility)
		}
		return nil
	case KindVaultKV:
		if err := CheckVaultPath(c.Path); err != nil {
			return err
		}
		if err := CheckVaultKey(c.Key); err != nil {
			return err
		}
		return checkManagedBy(c.ManagedBy)
	case KindAWSSecret:
		if err := CheckAWSSecretName(c.Name); err != nil {
			return err
		}
		return checkManagedBy(c.ManagedBy)
	}
	return bad("kind", "%q is not a destination kind", kind)
}

// Writer writes a token's value to destinations of the kinds it serves.
type Writer interface {
	// Write puts value at the destination, creating or replacing it.
	Write(ctx context.Context, d store.Destination, value string) error
	// Delete removes what tokenward wrote at the destination; a destination
	// already gone is not an error.
	Delete(ctx context.Context, d store.Destination) error
}

// ErrNoGitHub is returned for a GitHub destination when no GitHub credentials
// were configured.
var ErrNoGitHub = errors.New("GitHub credentials are not configured: set TOKENWARD_GITHUB_TOKEN or GITHUB_TOKEN (the action's github-token input) to a token that may write secrets, or a GitHub App's TOKENWARD_GITHUB_APP_ID, TOKENWARD_GITHUB_APP_INSTALLATION_ID and TOKENWARD_GITHUB_APP_PRIVATE_KEY (inputs app-id, app-installation-id, app-private-key)")

// Router is a Writer that hands each destination to the writer of its kind.
type Router struct {
	files  Writer
	github Writer
	vault  Writer
	aws    Writer
}

// A RouterOption adds a writer to a Router.
type RouterOption func(*Router)

// WithVault makes the router write vault_kv destinations through w; without
// it (or with a nil w) they fail with ErrNoVault.
func WithVault(w Writer) RouterOption { return func(r *Router) { r.vault = w } }

// WithAWS makes the router write aws_secrets_manager destinations through
// w; without it (or with a nil w) they fail with ErrNoAWS.
func WithAWS(w Writer) RouterOption { return func(r *Router) { r.aws = w } }

// NewRouter returns a router that writes files itself and GitHub secrets
// through github; a nil github makes GitHub destinations fail with
// ErrNoGitHub.
func NewRouter(github Writer, opts ...RouterOption) *Router {
	r := &Router{files: NewFiles(), github: github}
	for _, o := range opts {
		o(r)
	}
	return r
}

func (r *Router) pick(d store.Destination) (Writer, error) {
	switch {
	case d.Kind == KindFile:
		return r.files, nil
	case IsGitHub(d.Kind):
		if r.github == nil {
			return nil, fmt.Errorf("deliver to %s: %w", d.Key, ErrNoGitHub)
		}
		return r.github, nil
	case d.Kind == KindVaultKV:
		if r.vault == nil {
			return nil, fmt.Errorf("deliver to %s: %w", d.Key, ErrNoVault)
		}
		return r.vault, nil
	case d.Kind == KindAWSSecret:
		if r.aws == nil {
			return nil, fmt.Errorf("deliver to %s: %w", d.Key, ErrNoAWS)
		}
		return r.aws, nil
	}
	return nil, fmt.Errorf("deliver to %s: unknown destination kind %q", d.Key, d.Kind)
}

// Write writes value to d with the writer of its kind.
func (r *Router) Write(ctx context.Context, d store.Destination, value string) error {
	w, err := r.pick(d)
	if err != nil {
		return err
	}
	return w.Write(ctx, d, value)
}

// Delete deletes d with the writer of its kind.
func (r *Router) Delete(ctx context.Context, d store.Destination) error {
	w, err := r.pick(d)
	if err != nil {
		return err
	}
	return w.Delete(ctx, d)
}
