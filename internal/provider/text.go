package provider

import (
	"context"
	"fmt"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-go/tftypes"

	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
)

// noNUL is a configuration validator of every resource and data source: it
// refuses a NUL byte in any string of the configuration, on the attribute
// that holds it. PostgreSQL cannot keep a NUL in text and SQLite can, so
// without it the same configuration would apply on one engine and fail half
// way on the other; refused at plan time, it reaches neither.
type noNUL struct{}

var (
	_ resource.ConfigValidator   = noNUL{}
	_ datasource.ConfigValidator = noNUL{}
	_ provider.ConfigValidator   = noNUL{}
)

func (noNUL) Description(context.Context) string {
	return "no string attribute holds a NUL byte"
}

func (v noNUL) MarkdownDescription(ctx context.Context) string { return v.Description(ctx) }

func (noNUL) ValidateResource(_ context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	checkNUL(req.Config.Raw, &resp.Diagnostics)
}

// ValidateProvider checks the provider block too: its store, key file and
// GitHub settings reach a database driver or a file path.
func (noNUL) ValidateProvider(_ context.Context, req provider.ValidateConfigRequest, resp *provider.ValidateConfigResponse) {
	checkNUL(req.Config.Raw, &resp.Diagnostics)
}

func (noNUL) ValidateDataSource(_ context.Context, req datasource.ValidateConfigRequest, resp *datasource.ValidateConfigResponse) {
	checkNUL(req.Config.Raw, &resp.Diagnostics)
}

// checkNUL adds an error for every known string in raw that holds a NUL
// byte. The error names the attribute and never quotes the value, which may
// be sensitive.
func checkNUL(raw tftypes.Value, diags *diag.Diagnostics) {
	_ = tftypes.Walk(raw, func(at *tftypes.AttributePath, v tftypes.Value) (bool, error) {
		if !v.Type().Is(tftypes.String) || !v.IsKnown() || v.IsNull() {
			return true, nil
		}
		var s string
		if err := v.As(&s); err != nil || !strings.ContainsRune(s, 0) {
			return true, nil
		}
		p, shown := frameworkPath(at)
		diags.AddAttributeError(p, "Text holds a NUL byte",
			fmt.Sprintf("%s holds a NUL byte (\\u0000 or \\x00). The tokenward store cannot keep one (PostgreSQL refuses it in text), "+
				"so no attribute may hold it: remove it.", shown))
		return true, nil
	})
}

// frameworkPath turns a tftypes attribute path into the framework's, and a
// spelling of it for the message, such as files[0].path. An element of a
// set of strings is named by its value; of any other set, by the set.
func frameworkPath(at *tftypes.AttributePath) (path.Path, string) {
	var p path.Path
	var b strings.Builder
	for i, step := range at.Steps() {
		switch s := step.(type) {
		case tftypes.AttributeName:
			if i == 0 {
				p = path.Root(string(s))
			} else {
				p = p.AtName(string(s))
				b.WriteString(".")
			}
			b.WriteString(string(s))
		case tftypes.ElementKeyInt:
			p = p.AtListIndex(int(s))
			fmt.Fprintf(&b, "[%d]", int64(s))
		case tftypes.ElementKeyString:
			p = p.AtMapKey(string(s))
			fmt.Fprintf(&b, "[%s]", registry.Quote(string(s)))
		case tftypes.ElementKeyValue:
			v := tftypes.Value(s)
			var str string
			if !v.Type().Is(tftypes.String) || v.As(&str) != nil {
				return p, b.String()
			}
			p = p.AtSetValue(types.StringValue(str))
			b.WriteString("[an element]")
		}
	}
	return p, b.String()
}

// Every resource and data source refuses a NUL byte in its configuration.
var (
	_ resource.ResourceWithConfigValidators     = (*tokenResource)(nil)
	_ resource.ResourceWithConfigValidators     = (*scopeResource)(nil)
	_ resource.ResourceWithConfigValidators     = (*roleResource)(nil)
	_ resource.ResourceWithConfigValidators     = (*settingResource)(nil)
	_ resource.ResourceWithConfigValidators     = (*userConfigResource)(nil)
	_ datasource.DataSourceWithConfigValidators = (*scopesDataSource)(nil)
	_ datasource.DataSourceWithConfigValidators = (*tokenDataSource)(nil)
	_ datasource.DataSourceWithConfigValidators = (*userConfigDataSource)(nil)
)

func resourceValidators() []resource.ConfigValidator { return []resource.ConfigValidator{noNUL{}} }

func dataSourceValidators() []datasource.ConfigValidator {
	return []datasource.ConfigValidator{noNUL{}}
}

func (r *tokenResource) ConfigValidators(context.Context) []resource.ConfigValidator {
	return resourceValidators()
}

func (r *scopeResource) ConfigValidators(context.Context) []resource.ConfigValidator {
	return resourceValidators()
}

func (r *roleResource) ConfigValidators(context.Context) []resource.ConfigValidator {
	return resourceValidators()
}

func (r *settingResource) ConfigValidators(context.Context) []resource.ConfigValidator {
	return resourceValidators()
}

func (r *userConfigResource) ConfigValidators(context.Context) []resource.ConfigValidator {
	return resourceValidators()
}

func (d *scopesDataSource) ConfigValidators(context.Context) []datasource.ConfigValidator {
	return dataSourceValidators()
}

func (d *tokenDataSource) ConfigValidators(context.Context) []datasource.ConfigValidator {
	return dataSourceValidators()
}

func (d *userConfigDataSource) ConfigValidators(context.Context) []datasource.ConfigValidator {
	return dataSourceValidators()
}
