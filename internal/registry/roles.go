package registry

import (
	"context"
	"fmt"
	"strings"

	"github.com/tokenward/terraform-provider-tokenward/internal/store"
)

// RoleSpec is what a caller declares about a role.
type RoleSpec struct {
	Name        string
	Description string
	Scopes      []string
}

func checkRole(spec RoleSpec) error {
	if err := CheckName("name", spec.Name); err != nil {
		return err
	}
	return checkScopeList("scopes", spec.Scopes)
}

// CreateRole declares a role; its scopes must exist.
func (r *Registry) CreateRole(ctx context.Context, spec RoleSpec) (store.Role, error) {
	if err := checkRole(spec); err != nil {
		return store.Role{}, err
	}
	now := r.clock()
	role := store.Role{Name: spec.Name, Description: spec.Description, Scopes: sortedSet(spec.Scopes), CreatedAt: now, UpdatedAt: now}
	err := r.change(ctx, "role.create", "role/"+spec.Name, func(tx store.Tx, d map[string]string) error {
		d["scopes"] = strings.Join(role.Scopes, ",")
		return tx.CreateRole(ctx, role)
	})
	return role, err
}

// UpdateRole changes a role's description and scopes; every token that holds
// the role gains or loses the scopes at once.
func (r *Registry) UpdateRole(ctx context.Context, spec RoleSpec) (store.Role, error) {
	if err := checkRole(spec); err != nil {
		return store.Role{}, err
	}
	var role store.Role
	err := r.change(ctx, "role.update", "role/"+spec.Name, func(tx store.Tx, d map[string]string) error {
		var err error
		if role, err = tx.GetRole(ctx, spec.Name); err != nil {
			return err
		}
		d["scopes_before"] = strings.Join(role.Scopes, ",")
		role.Description, role.Scopes, role.UpdatedAt = spec.Description, sortedSet(spec.Scopes), r.clock()
		d["scopes"] = strings.Join(role.Scopes, ",")
		return tx.UpdateRole(ctx, role)
	})
	return role, err
}

// Role returns one role.
func (r *Registry) Role(ctx context.Context, name string) (role store.Role, err error) {
	err = r.st.View(ctx, func(tx store.Tx) error { role, err = tx.GetRole(ctx, name); return err })
	return role, err
}

// Roles returns every role, sorted by name.
func (r *Registry) Roles(ctx context.Context) (out []store.Role, err error) {
	err = r.st.View(ctx, func(tx store.Tx) error { out, err = tx.ListRoles(ctx); return err })
	return out, err
}

// DeleteRole removes a role no token holds; otherwise the error names them.
func (r *Registry) DeleteRole(ctx context.Context, name string) error {
	return r.change(ctx, "role.delete", "role/"+name, func(tx store.Tx, _ map[string]string) error {
		tokens, err := tx.RoleUsers(ctx, name)
		if err != nil {
			return err
		}
		if len(tokens) > 0 {
			return fmt.Errorf("delete role %s: %w: held by tokens %s; remove it from them first", name, ErrInUse, strings.Join(tokens, ", "))
		}
		return tx.DeleteRole(ctx, name)
	})
}
