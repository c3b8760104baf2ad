package destination

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode"

	"github.com/tokenward/terraform-provider-tokenward/internal/store"
)

// ManagedByKey is the Vault custom_metadata key and the AWS tag key that
// mark a secret as tokenward's; its value is ManagedBy(name).
const ManagedByKey = "managed-by"

// ManagedBy is the ownership mark of the secrets a token or credential
// named name writes: "tokenward/<name>".
func ManagedBy(name string) string { return "tokenward/" + name }

// ErrNotOwned is wrapped by the error of a write to a Vault or Secrets
// Manager secret that exists without tokenward's ownership mark, or with
// another token's.
var ErrNotOwned = errors.New("the secret exists and is not this token's")

// ErrConflict is wrapped by the error of a Vault write whose check-and-set
// failed twice: someone else kept writing the secret.
var ErrConflict = errors.New("check-and-set conflict")

// ErrNoVault is returned for a vault_kv destination when no Vault address
// or credentials were configured.
var ErrNoVault = errors.New("Vault is not configured: set the provider's vault.address or TOKENWARD_VAULT_ADDR (or VAULT_ADDR), and a token in TOKENWARD_VAULT_TOKEN (or VAULT_TOKEN) or an AppRole's TOKENWARD_VAULT_ROLE_ID and TOKENWARD_VAULT_SECRET_ID")

// ErrNoAWS is returned for an aws_secrets_manager destination when no AWS
// Secrets Manager writer was configured.
var ErrNoAWS = errors.New("AWS Secrets Manager is not configured")

var (
	// A Vault path segment: what the Vault CLI and API take without
	// escaping, so the path in an error is the path to type.
	vaultSegment = regexp.MustCompile(`^[A-Za-z0-9_.@+=~-]+$`)
	// Secrets Manager secret names: ASCII letters, digits and /_+=.@-.
	awsSecretName = regexp.MustCompile(`^[A-Za-z0-9/_+=.@-]{1,512}$`)
	// The six characters Secrets Manager appends to a name in an ARN.
	awsARNSuffix = regexp.MustCompile(`-[A-Za-z0-9]{6}$`)
)

// CheckVaultPath reports whether p is a KV v2 secret path within its mount,
// such as apps/billing: segments of letters, digits and _ . @ + = ~ -,
// separated by single slashes, no "." or ".." segment.
func CheckVaultPath(p string) error {
	if p == "" {
		return bad("path", "must not be empty: name the secret within the KV mount, such as apps/billing")
	}
	if len(p) > 512 {
		return bad("path", "is %d characters long; at most 512", len(p))
	}
	if strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/") {
		return bad("path", "%q must not start or end with '/': it is the path within the mount, such as apps/billing", p)
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "" || seg == "." || seg == ".." || !vaultSegment.MatchString(seg) {
			return bad("path", "%q must be segments of letters, digits and _ . @ + = ~ - separated by single '/', such as apps/billing", p)
		}
	}
	if first, _, _ := strings.Cut(p, "/"); first == "data" || first == "metadata" {
		return bad("path", "%q must not start with %s/: it is the path within the mount, and the writer adds the KV v2 API's data/ and metadata/ itself", p, first)
	}
	return nil
}

// CheckVaultKey reports whether k is a usable field name of a KV secret's
// data: not empty, at most 255 characters, no control character or
// surrounding space.
func CheckVaultKey(k string) error {
	switch {
	case k == "":
		return bad("key", "must not be empty")
	case len(k) > 255:
		return bad("key", "is %d characters long; at most 255", len(k))
	case strings.TrimSpace(k) != k:
		return bad("key", "%q must not start or end with a space", k)
	case strings.IndexFunc(k, unicode.IsControl) >= 0:
		return bad("key", "must not hold control characters")
	}
	return nil
}

// CheckAWSSecretName reports whether n is a Secrets Manager secret name:
// 1 to 512 ASCII letters, digits and / _ + = . @ -, not ending in a hyphen
// and six characters (which Secrets Manager would confuse with an ARN's
// suffix).
func CheckAWSSecretName(n string) error {
	switch {
	case n == "":
		return bad("name", "must not be empty: name the secret, such as billing/api-token")
	case strings.HasPrefix(n, "arn:"):
		return bad("name", "%q must be a secret name, not an ARN: tokenward creates the secret by its name", n)
	case !awsSecretName.MatchString(n):
		return bad("name", "%q must be 1 to 512 letters, digits and / _ + = . @ -", n)
	case awsARNSuffix.MatchString(n):
		return bad("name", "%q must not end with a hyphen and six characters, which Secrets Manager reads as the suffix of an ARN", n)
	}
	return nil
}

func checkManagedBy(name string) error {
	if name == "" {
		return bad("managed_by", "must name the token or credential the secret belongs to")
	}
	return nil
}

// Unavailable is the writer of a kind whose settings do not read: each
// destination handed to it fails with err, and the other kinds are not
// held up by it.
func Unavailable(err error) Writer { return unavailable{err} }

type unavailable struct{ err error }

func (u unavailable) Write(_ context.Context, d store.Destination, _ string) error {
	return fmt.Errorf("deliver to %s: %w", d.Key, u.err)
}

func (u unavailable) Delete(_ context.Context, d store.Destination) error {
	return fmt.Errorf("withdraw from %s: %w", d.Key, u.err)
}
