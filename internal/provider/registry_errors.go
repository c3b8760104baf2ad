package provider

import (
	"errors"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"

	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
)

// addRegistryError turns an error of the registry into a diagnostic: on the
// attribute an InvalidError names when the schema has it (fields maps the
// registry's field to the attribute; "values.KEY" goes to the values
// attribute and names the key), otherwise on the resource. The registry's
// errors never hold a sensitive value, so they can be shown as they are.
func addRegistryError(diags *diag.Diagnostics, summary string, err error, fields map[string]path.Path) {
	var ie *registry.InvalidError
	if errors.As(err, &ie) {
		if p, ok := fields[ie.Field]; ok {
			diags.AddAttributeError(p, summary, ie.Error())
			return
		}
		if key, ok := strings.CutPrefix(ie.Field, "values."); ok {
			if p, ok := fields["values"]; ok {
				diags.AddAttributeError(p, summary, "setting "+key+": "+ie.Reason)
				return
			}
		}
	}
	diags.AddError(summary, err.Error())
}

// notFound tells whether err says a record is missing.
func notFound(err error) bool { return errors.Is(err, registry.ErrNotFound) }

// exists tells whether err says a record exists already.
func exists(err error) bool { return errors.Is(err, registry.ErrExists) }
