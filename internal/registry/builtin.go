package registry

import (
	"strings"

	"github.com/tokenward/terraform-provider-tokenward/internal/store"
)

// BuiltInPrefix starts the name of every built-in scope. Scopes under it
// belong to tokenward: it never creates, changes or deletes them for a
// caller, and no caller may declare one.
const BuiltInPrefix = "tokenward:"

// ScopeIntrospect lets a token call tokenward serve's introspection and
// verify endpoints, and so check whether any token is valid.
const ScopeIntrospect = "tokenward:introspect"

// Built-in scopes of the runtime's other endpoints.
const (
	// ScopeAlertsRead lets a token read the alerts (GET /v1/alerts).
	ScopeAlertsRead = "tokenward:alerts-read"
	// ScopeConfigRead lets a token read any user's configuration.
	ScopeConfigRead = "tokenward:config-read"
	// ScopeConfigReadSelf lets a token read the configuration of the user
	// equal to its owner.
	ScopeConfigReadSelf = "tokenward:config-read-self"
	// ScopeConfigWrite lets a token write any user's configuration.
	ScopeConfigWrite = "tokenward:config-write"
	// ScopeConfigWriteSelf lets a token write the configuration of the user
	// equal to its owner.
	ScopeConfigWriteSelf = "tokenward:config-write-self"
	// ScopeConfigReadSensitive shows sensitive values to a reader; without
	// it they are null. Privileged.
	ScopeConfigReadSensitive = "tokenward:config-read-sensitive"
	// ScopeConfigWriteSensitive lets a writer write sensitive values.
	// Privileged.
	ScopeConfigWriteSensitive = "tokenward:config-write-sensitive"
)

// BuiltInScopes returns the scopes every store has, sorted by name, the
// privileged ones marked (migration 00011 marks them in the store). A store
// gets them from its migrations (00005 and later); a test keeps this list
// and the migrations in step, so a new built-in scope is added in both.
func BuiltInScopes() []store.Scope {
	return []store.Scope{
		{Name: ScopeAlertsRead, Description: "read the alerts tokenward serve's detectors raised"},
		{Name: ScopeConfigRead, Description: "read any user's configuration from tokenward serve"},
		{Name: ScopeConfigReadSelf, Description: "read the configuration of the user who owns the token"},
		{Name: ScopeConfigReadSensitive, Description: "see sensitive configuration values (privileged)", Privileged: true},
		{Name: ScopeConfigWrite, Description: "write any user's configuration through tokenward serve"},
		{Name: ScopeConfigWriteSelf, Description: "write the configuration of the user who owns the token"},
		{Name: ScopeConfigWriteSensitive, Description: "write sensitive configuration values (privileged)", Privileged: true},
		{Name: ScopeIntrospect, Description: "call tokenward serve's introspection and verify endpoints"},
	}
}

// IsBuiltInScope reports whether name is, or would be, a built-in scope:
// any name under BuiltInPrefix.
func IsBuiltInScope(name string) bool { return strings.HasPrefix(name, BuiltInPrefix) }

// CheckDeclaredScope reports whether a caller may declare a scope named
// name: a valid scope name (CheckScopeName) that is not under
// BuiltInPrefix. The error is an InvalidError on name.
func CheckDeclaredScope(name string) error {
	if err := CheckScopeName(name); err != nil {
		return err
	}
	return checkNotBuiltIn(name, "declared")
}

// checkNotBuiltIn refuses to let a caller create, change or delete a
// built-in scope; verb says which.
func checkNotBuiltIn(name, verb string) error {
	if !IsBuiltInScope(name) {
		return nil
	}
	for _, s := range BuiltInScopes() {
		if s.Name == name {
			return invalid("name", "scope %s is built in: every store has it and tokenward manages it, so it cannot be %s; grant it to a token or role as any other scope, without declaring it", name, verb)
		}
	}
	return invalid("name", "scope %s is under %s, which is kept for tokenward's built-in scopes, so it cannot be %s; give the scope a name of your own, such as billing:read", Quote(name), BuiltInPrefix, verb)
}

// CheckGrantedScope reports whether a token or role may grant name: a valid
// scope name that, under BuiltInPrefix, is exactly a built-in scope. The
// error is an InvalidError on name.
func CheckGrantedScope(name string) error {
	if err := CheckScopeName(name); err != nil {
		return err
	}
	return checkBuiltInGrant("name", name)
}

// checkBuiltInGrant refuses to grant a name under BuiltInPrefix that is
// not exactly a built-in scope. A wildcard such as tokenward:* would grant
// every built-in scope, the privileged ones and those added later
// included (token.Grants honours resource:*), so each is granted by name.
func checkBuiltInGrant(field, name string) error {
	if !IsBuiltInScope(name) {
		return nil
	}
	names := make([]string, 0, len(BuiltInScopes()))
	for _, s := range BuiltInScopes() {
		if s.Name == name {
			return nil
		}
		names = append(names, s.Name)
	}
	return invalid(field, "%s is not a built-in scope: built-in scopes are granted one by one, never by a wildcard such as tokenward:*; grant the ones needed among %s",
		Quote(name), strings.Join(names, ", "))
}
