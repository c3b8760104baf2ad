package provider

import (
	"errors"
	"fmt"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"

	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
)

// errorFields says where a resource's registry errors go.
type errorFields struct {
	// fields maps the registry's field of an InvalidError to the
	// attribute; "values.KEY" goes to the values attribute and names the
	// key. Nil for the token, whose registry fields are attribute paths
	// as fieldPath reads them ("files[0].path"), said as "field reason.".
	fields map[string]path.Path
	// fallback is the attribute any other error goes on; empty for the
	// resource itself.
	fallback path.Path
	// missing says what to do after an ErrNotFound; empty for nothing.
	missing string
}

// tokenFields is where the token's registry errors go.
var tokenFields = errorFields{
	missing: "Declare every scope (tokenward_scope) and role (tokenward_role) the token names, " +
		"and reference them (scopes = [tokenward_scope.x.name]) so Terraform creates them first.",
}

// addRegistryError turns an error of the registry or of a destination into
// a diagnostic: on the attribute an InvalidError names when the resource
// has it (see errorFields), otherwise on at.fallback or the resource. The
// registry's errors never hold a sensitive value, so they can be shown as
// they are.
func addRegistryError(diags *diag.Diagnostics, summary string, err error, at errorFields) {
	var ie *registry.InvalidError
	if errors.As(err, &ie) {
		if at.fields == nil {
			diags.AddAttributeError(fieldPath(ie.Field), summary, fmt.Sprintf("%s %s.", ie.Field, ie.Reason))
			return
		}
		if p, ok := at.fields[ie.Field]; ok {
			diags.AddAttributeError(p, summary, ie.Error())
			return
		}
		if key, ok := strings.CutPrefix(ie.Field, "values."); ok {
			if p, ok := at.fields["values"]; ok {
				diags.AddAttributeError(p, summary, "setting "+key+": "+ie.Reason)
				return
			}
		}
	}
	detail := err.Error()
	if at.missing != "" && notFound(err) {
		detail = fmt.Sprintf("%s. %s", err, at.missing)
	}
	if len(at.fallback.Steps()) > 0 {
		diags.AddAttributeError(at.fallback, summary, detail)
		return
	}
	diags.AddError(summary, detail)
}

// notFound tells whether err says a record is missing.
func notFound(err error) bool { return errors.Is(err, registry.ErrNotFound) }

// exists tells whether err says a record exists already.
func exists(err error) bool { return errors.Is(err, registry.ErrExists) }
