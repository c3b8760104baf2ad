package registry

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/audit"
	"github.com/tokenward/terraform-provider-tokenward/internal/destination"
	"github.com/tokenward/terraform-provider-tokenward/internal/duration"
	"github.com/tokenward/terraform-provider-tokenward/internal/issuer"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
	"github.com/tokenward/terraform-provider-tokenward/internal/token"
)

// CredentialSpec is what a caller declares about a credential another
// system issues, such as a database password: the same lifetime and
// destinations as a token's, and the issuer it is rotated at.
type CredentialSpec struct {
	Name         string
	Owner        string
	Description  string
	Lifetime     store.Lifetime
	Issuer       issuer.Config
	Destinations []store.Destination // Config's Field says which field each receives; "" is the issuer's main field
}

// passwordBytes is how many random bytes a credential's password holds:
// 256 bits, 43 URL-safe characters.
const passwordBytes = 32

// IssuerKind names the kind of issuer a configuration sets: "postgres",
// "mysql" or "redis"; "" when it sets none or several (Check says which).
func IssuerKind(c issuer.Config) string {
	var kinds []string
	if c.Postgres != nil {
		kinds = append(kinds, issuer.KindPostgres)
	}
	if c.MySQL != nil {
		kinds = append(kinds, issuer.KindMySQL)
	}
	if c.Redis != nil {
		kinds = append(kinds, issuer.KindRedis)
	}
	if len(kinds) != 1 {
		return ""
	}
	return kinds[0]
}

// Fields returns the fields a credential of an issuer kind can deliver,
// the main one first.
func Fields(kind string) []string {
	switch kind {
	case "postgres", "mysql":
		return []string{"password", "username", "dsn"}
	case "redis":
		return []string{"password", "username", "url"}
	}
	return nil
}

// CheckField reports whether a destination of a credential of an issuer
// kind may receive field ("" is the main field).
func CheckField(kind, field string) error {
	fields := Fields(kind)
	if field == "" || slices.Contains(fields, field) {
		return nil
	}
	return invalid("field", "a %s credential delivers one of %s; %s is none of them", kind, strings.Join(fields, ", "), Quote(field))
}

// CheckCredentialLifetime reports whether a credential's lifetime is
// usable: a token's rules, and an overlap no longer than the rotation
// interval (ttl - rotate_before), because the next rotation stages its
// password on the user the previous version holds: that idle slot must be
// free, its overlap ended, before it is overwritten.
func CheckCredentialLifetime(l store.Lifetime) error {
	if err := CheckLifetime(l); err != nil {
		return err
	}
	if interval := l.TTL - l.RotateBefore; l.Overlap > interval {
		return invalid("overlap", "must not be longer than the rotation interval, ttl - rotate_before (overlap is %s, the interval is %s): the next rotation sets a new password on the user the previous version still holds, so that user must be free, its overlap ended, by then; shorten overlap or rotate_before, or lengthen ttl",
			duration.Format(l.Overlap), duration.Format(interval))
	}
	return nil
}

func checkCredential(spec CredentialSpec) error {
	if err := CheckName("name", spec.Name); err != nil {
		return err
	}
	if err := spec.Issuer.Check(); err != nil {
		return invalid("issuer", "%s", err)
	}
	kind := IssuerKind(spec.Issuer)
	if err := checkDestinations(spec.Destinations); err != nil {
		return err
	}
	for _, d := range spec.Destinations {
		if err := CheckField(kind, FieldOf(d)); err != nil {
			return err
		}
	}
	return CheckCredentialLifetime(spec.Lifetime)
}

// FieldOf is the field a destination of a credential receives, "" for the
// issuer's main field.
func FieldOf(d store.Destination) string {
	var c destination.Config
	if len(d.Config) == 0 || json.Unmarshal(d.Config, &c) != nil {
		return ""
	}
	return c.Field
}

// IssuerOf decodes a credential's issuer configuration.
func IssuerOf(tk store.Token) (issuer.Config, error) {
	var c issuer.Config
	if tk.Kind != store.KindCredential {
		return c, fmt.Errorf("%s is a token, not a credential: %w", Quote(tk.Name), store.ErrConflict)
	}
	if err := json.Unmarshal(tk.Issuer, &c); err != nil {
		return c, fmt.Errorf("credential %s: decode its issuer: %w", tk.Name, err)
	}
	return c, nil
}

// CreateCredential declares a credential. It issues no value: the rotation
// engine's first rotation does, at the issuer.
func (r *Registry) CreateCredential(ctx context.Context, spec CredentialSpec) (store.Token, error) {
	if err := checkCredential(spec); err != nil {
		return store.Token{}, err
	}
	raw, err := json.Marshal(spec.Issuer)
	if err != nil {
		return store.Token{}, fmt.Errorf("create credential %s: %w", spec.Name, err)
	}
	id, err := token.NewID(r.rand)
	if err != nil {
		return store.Token{}, fmt.Errorf("create credential %s: %w", spec.Name, err)
	}
	now := r.clock()
	tk := store.Token{
		ID: id, Name: spec.Name, Owner: spec.Owner, Description: spec.Description, Lifetime: spec.Lifetime,
		Kind: store.KindCredential, Issuer: raw, CreatedAt: now, UpdatedAt: now,
	}
	err = r.change(ctx, "credential.create", "token/"+spec.Name, func(tx store.Tx, d map[string]string) error {
		credentialDetails(d, spec.Issuer)
		return saveToken(ctx, tx, d, tk, spec.Destinations, tx.CreateToken)
	})
	return tk, err
}

// UpdateCredential changes a credential in place: owner, description,
// lifetime, issuer and destinations. Nothing is rotated here.
func (r *Registry) UpdateCredential(ctx context.Context, spec CredentialSpec) (store.Token, error) {
	if err := checkCredential(spec); err != nil {
		return store.Token{}, err
	}
	raw, err := json.Marshal(spec.Issuer)
	if err != nil {
		return store.Token{}, fmt.Errorf("update credential %s: %w", spec.Name, err)
	}
	var tk store.Token
	err = r.change(ctx, "credential.update", "token/"+spec.Name, func(tx store.Tx, d map[string]string) error {
		var err error
		if tk, err = getCredential(ctx, tx, spec.Name); err != nil {
			return err
		}
		tk.Owner, tk.Description, tk.Lifetime, tk.Issuer = spec.Owner, spec.Description, spec.Lifetime, raw
		tk.UpdatedAt = r.clock()
		credentialDetails(d, spec.Issuer)
		return saveToken(ctx, tx, d, tk, spec.Destinations, tx.UpdateToken)
	})
	return tk, err
}

func getCredential(ctx context.Context, tx store.Tx, name string) (store.Token, error) {
	tk, err := tx.GetToken(ctx, name)
	if err != nil {
		return tk, err
	}
	if tk.Kind != store.KindCredential {
		return tk, fmt.Errorf("%s is a token, not a credential: %w", Quote(name), store.ErrConflict)
	}
	return tk, nil
}

// credentialDetails records the issuer in audit details: its kind and
// users, and the name of the variable holding the admin credential (never
// its value, which the registry never sees).
func credentialDetails(d map[string]string, c issuer.Config) {
	d["kind"] = store.KindCredential
	d["issuer"] = IssuerKind(c)
	switch {
	case c.Postgres != nil:
		d["users"], d["admin_env"], d["member_of"] = strings.Join(c.Postgres.Users, ","), c.Postgres.AdminDSNEnv, c.Postgres.MemberOf
	case c.MySQL != nil:
		d["users"], d["admin_env"], d["grants_from"] = strings.Join(c.MySQL.Users, ","), c.MySQL.AdminDSNEnv, c.MySQL.GrantsFrom
	case c.Redis != nil:
		d["users"], d["admin_env"] = c.Redis.User, c.Redis.AdminURLEnv
	}
}

// Credential returns a credential by name with its versions and
// destinations; a token of that name is an error wrapping ErrConflict.
func (r *Registry) Credential(ctx context.Context, name string) (TokenInfo, error) {
	ti, err := r.Token(ctx, name)
	if err == nil && ti.Kind != store.KindCredential {
		err = fmt.Errorf("%s is a token, not a credential: %w", Quote(name), store.ErrConflict)
	}
	return ti, err
}

// NewPassword returns a random password of 256 bits in URL-safe base64,
// which needs no quoting in a DSN, a URL or a dotenv line.
func NewPassword(r io.Reader) (string, error) {
	b := make([]byte, passwordBytes)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", fmt.Errorf("generate password: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// CredentialFingerprint is the display form of a credential version: its
// id and the start of its password's SHA-256, which tells versions apart
// without saying anything usable about the password.
func CredentialFingerprint(id string, hash [32]byte) string {
	return "cred_" + id + "…" + hex.EncodeToString(hash[:2])
}

// BeginCredentialRotation is step 1 of a credential's rotation: it returns
// the pending version, or creates one with a new random password on the
// user nextUser names for the current version's user ("" when there is
// none). The password is kept sealed until FinishRotation, so a retry after
// a crash stages and delivers the same password on the same user. Issued's
// User says which user.
func (r *Registry) BeginCredentialRotation(ctx context.Context, name string, nextUser func(current string) string) (out Issued, resumed bool, err error) {
	err = r.st.Update(ctx, func(tx store.Tx) error {
		tk, err := getCredential(ctx, tx, name)
		if err != nil {
			return err
		}
		ti, err := describe(ctx, tx, tk)
		if err != nil {
			return err
		}
		if p := ti.Pending; p != nil {
			value, err := r.keys.Open(p.Sealed, versionAAD(p.ID))
			if err != nil {
				return fmt.Errorf("resume rotation of %s: open pending version %s: %w", name, p.Fingerprint, err)
			}
			out, resumed = issued(name, *p, string(value)), true
			return nil
		}
		current := ""
		if ti.Current != nil {
			current = ti.Current.User
		}
		user := nextUser(current)
		if user == "" {
			return fmt.Errorf("begin rotation of %s: the issuer names no user to stage on", name)
		}
		id, err := token.NewID(r.rand)
		if err != nil {
			return fmt.Errorf("begin rotation of %s: %w", name, err)
		}
		password, err := NewPassword(r.rand)
		if err != nil {
			return fmt.Errorf("begin rotation of %s: %w", name, err)
		}
		now := r.clock()
		hash := token.HashSecret(password)
		v := store.Version{
			ID: id, TokenID: tk.ID, State: token.StatePending, Hash: hash, Fingerprint: CredentialFingerprint(id, hash),
			CreatedAt: now, ExpiresAt: now.Add(tk.Lifetime.TTL), User: user,
		}
		if v.Sealed, err = r.keys.Seal([]byte(password), versionAAD(v.ID)); err != nil {
			return fmt.Errorf("begin rotation of %s: seal pending version: %w", name, err)
		}
		if err := tx.CreateVersion(ctx, v); err != nil {
			return err
		}
		out = issued(name, v, password)
		return r.record(ctx, tx, "rotation.create", "token/"+name, audit.Success, map[string]string{
			"version": v.ID, "fingerprint": v.Fingerprint, "user": user, "expires_at": v.ExpiresAt.Format(time.RFC3339),
		})
	})
	return out, resumed, err
}

// RetireVersion records that a credential version was taken away at its
// issuer (its login locked or its password removed): the version is
// revoked, with reason in the audit event. A version revoked already is
// left as it is.
func (r *Registry) RetireVersion(ctx context.Context, name, versionID, reason string) error {
	return r.st.Update(ctx, func(tx store.Tx) error {
		v, err := tx.GetVersion(ctx, versionID)
		if err != nil {
			return err
		}
		if v.State == token.StateRevoked {
			return nil
		}
		v.State, v.RevokedAt, v.Sealed = token.StateRevoked, r.clock(), nil
		if err := tx.UpdateVersion(ctx, v); err != nil {
			return err
		}
		return r.record(ctx, tx, "version.retire", "token/"+name, audit.Success, map[string]string{
			"version": v.ID, "fingerprint": v.Fingerprint, "user": v.User, "reason": reason,
		})
	})
}
