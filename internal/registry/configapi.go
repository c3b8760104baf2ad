package registry

import (
	"encoding/json"
	"fmt"
	"time"
)

// This file is the contract of the configuration API (issue 15) between the
// registry, which reads, writes and records changes of users'
// configuration, and tokenward serve, which serves them over HTTP with
// role-based access. The methods are:
//
//	func (r *Registry) ReadUserConfig(ctx context.Context, user string, openSensitive bool) (UserConfig, error)
//	func (r *Registry) WriteUserConfig(ctx context.Context, w ConfigWrite) (UserConfig, error)
//	func (r *Registry) AuditConfigRead(ctx context.Context, a ConfigAccess) error
//	func (r *Registry) ConfigChanges(ctx context.Context, after int64, limit int) ([]ConfigChange, error)
//	func (r *Registry) ConfigChangeWindow(ctx context.Context) (oldest, head int64, err error)
//	func (r *Registry) SetManagedUserValues(ctx context.Context, user string, values map[string]json.RawMessage) error
//
// and Settings (settings.go) for the declared settings.

// ManagedByTerraform is ConfigValue.ManagedBy for a key whose value for the
// user is declared in a tokenward_user_config resource.
const ManagedByTerraform = "terraform"

// UserConfig is a user's effective configuration at one revision: every
// declared setting, sorted by key.
type UserConfig struct {
	User string
	// Revision is the store-wide sequence number of the latest change to
	// the user's effective configuration: their own values, or any
	// setting's default or declaration. It only grows; 0 when nothing
	// changed since the change log began.
	Revision int64
	Values   []ConfigValue
}

// ConfigValue is one key of a user's effective configuration.
type ConfigValue struct {
	Key       string
	Value     json.RawMessage // nil when Sensitive and not opened
	Source    string          // SourceDefault, SourceUser or SourceEnforced
	Sensitive bool
	// Sealed: the value is sensitive, opening it was asked for, and the
	// registry has no master key. Value is nil.
	Sealed    bool
	ManagedBy string // ManagedByTerraform, or empty
}

// ConfigWrite is one write of the configuration API, applied in one
// transaction: every key is checked before anything changes.
type ConfigWrite struct {
	User  string
	Set   map[string]json.RawMessage
	Unset []string // back to the default
	// IfRevision, when IfMatch, makes the write conditional on the user's
	// revision being exactly that (HTTP If-Match).
	IfMatch    bool
	IfRevision int64
	// AllowSensitive: the caller may write sensitive settings
	// (tokenward:config-write-sensitive).
	AllowSensitive bool
	Access         ConfigAccess
}

// ConfigAccess names who reads or writes, for the audit event. It never
// holds a value.
type ConfigAccess struct {
	Caller   string   // the calling token's name
	User     string   // whose configuration
	Keys     []string // which keys
	SourceIP string
}

// ConfigChange is one entry of the change log: a change of some users'
// effective configuration, with its store-wide sequence number. The log
// keeps at least 24 hours of entries.
type ConfigChange struct {
	Seq int64
	// User whose own values changed; empty when a setting (a default, a
	// declaration) changed, which changes every user's configuration.
	User string
	Keys []string
	At   time.Time
}

// ConfigErrorKind is why a configuration write or read was refused.
type ConfigErrorKind int

// Kinds of ConfigError, with the HTTP status the API answers.
const (
	ConfigUnknownKey      ConfigErrorKind = iota + 1 // 404: no setting has the key
	ConfigNotEditable                                // 403: the setting is not user_editable
	ConfigInvalid                                    // 422: the value breaks the setting's rule
	ConfigManaged                                    // 409: a tokenward_user_config resource declares it
	ConfigSensitiveDenied                            // 403: a sensitive setting without tokenward:config-write-sensitive
	ConfigRevisionMoved                              // 412: If-Match named another revision
	ConfigNoMasterKey                                // 503: a sensitive value, and no master key
	ConfigBadUser                                    // 400: the user id is not usable
)

// ConfigError is a refused configuration write or read. Its message names
// the key, the setting's rule or the resource, never a value.
type ConfigError struct {
	Kind     ConfigErrorKind
	Key      string
	Rule     string // ConfigInvalid: the rule the value breaks
	Resource string // ConfigManaged: the resource that declares the value
	Revision int64  // ConfigRevisionMoved: the current revision
}

func (e *ConfigError) Error() string {
	switch e.Kind {
	case ConfigUnknownKey:
		return fmt.Sprintf("no setting %s is declared", e.Key)
	case ConfigNotEditable:
		return fmt.Sprintf("setting %s is not user_editable: its default is enforced for everyone", e.Key)
	case ConfigInvalid:
		return fmt.Sprintf("%s: %s", e.Key, e.Rule)
	case ConfigManaged:
		return fmt.Sprintf("%s of this user is managed by Terraform (%s): change it there, or the next apply reverts it", e.Key, e.Resource)
	case ConfigSensitiveDenied:
		return fmt.Sprintf("setting %s is sensitive: writing it needs the scope tokenward:config-write-sensitive", e.Key)
	case ConfigRevisionMoved:
		return fmt.Sprintf("the configuration changed: its revision is now %d", e.Revision)
	case ConfigNoMasterKey:
		return fmt.Sprintf("setting %s is sensitive and this server has no master key (TOKENWARD_MASTER_KEY or TOKENWARD_MASTER_KEY_FILE) to open or seal it", e.Key)
	case ConfigBadUser:
		return fmt.Sprintf("user: %s", e.Rule)
	}
	return "configuration refused"
}
