// Command nullprovider is a terraform-plugin-framework provider that does
// nothing, with exactly the schemas of tokenward's resources: bench/plan.sh
// plans the same configuration with it and with tokenward, so the gap
// between them is tokenward's own work, and the gap between it and
// terraform_data is Terraform's and the framework's.
//
// It is served as providerserver.Serve serves any framework provider, with
// the framework's SDK logs off as tokenward's main.go turns them off, and
// neither tokenward's wrapper (internal/pluginserver) nor its memory
// settings.
package main

import (
	"context"
	"log"
	"os"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-go/tftypes"

	tokenward "github.com/tokenward/terraform-provider-tokenward/internal/provider"
)

func main() {
	// As tokenward's main.go does when no logging is asked for.
	for _, k := range []string{"TF_LOG_SDK", "TF_LOG_SDK_FRAMEWORK", "TF_LOG_SDK_PROTO"} {
		if os.Getenv(k) == "" {
			os.Setenv(k, "OFF")
		}
	}
	err := providerserver.Serve(context.Background(), newProvider, providerserver.ServeOpts{Address: "registry.terraform.io/bench/tokenward"})
	if err != nil {
		log.Fatal(err)
	}
}

// newProvider returns the do-nothing provider over tokenward's.
func newProvider() provider.Provider {
	return &nullProvider{real: tokenward.New("bench", func(string) string { return "" })()}
}

// nullProvider has tokenward's name, provider schema and resources'
// schemas, and no configuration, data sources or logic.
type nullProvider struct{ real provider.Provider }

func (p *nullProvider) Metadata(ctx context.Context, req provider.MetadataRequest, resp *provider.MetadataResponse) {
	p.real.Metadata(ctx, req, resp)
}

func (p *nullProvider) Schema(ctx context.Context, req provider.SchemaRequest, resp *provider.SchemaResponse) {
	p.real.Schema(ctx, req, resp)
}

func (p *nullProvider) Configure(context.Context, provider.ConfigureRequest, *provider.ConfigureResponse) {
}

func (p *nullProvider) Resources(ctx context.Context) []func() resource.Resource {
	var out []func() resource.Resource
	for _, newReal := range p.real.Resources(ctx) {
		out = append(out, func() resource.Resource { return &nullResource{real: newReal()} })
	}
	return out
}

func (p *nullProvider) DataSources(context.Context) []func() datasource.DataSource { return nil }

// nullResource has a tokenward resource's type name and schema (its plan
// modifiers, defaults and custom types included, which the framework runs)
// and keeps whatever Terraform plans.
type nullResource struct{ real resource.Resource }

func (r *nullResource) Metadata(ctx context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	r.real.Metadata(ctx, req, resp)
}

func (r *nullResource) Schema(ctx context.Context, req resource.SchemaRequest, resp *resource.SchemaResponse) {
	r.real.Schema(ctx, req, resp)
}

func (r *nullResource) Create(_ context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	resp.State.Raw = known(req.Plan.Raw)
}

func (r *nullResource) Read(context.Context, resource.ReadRequest, *resource.ReadResponse) {}

func (r *nullResource) Update(_ context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	resp.State.Raw = known(req.Plan.Raw)
}

func (r *nullResource) Delete(context.Context, resource.DeleteRequest, *resource.DeleteResponse) {}

// known is v with every value unknown at plan time null: what a resource
// that computes nothing stores.
func known(v tftypes.Value) tftypes.Value {
	out, err := tftypes.Transform(v, func(_ *tftypes.AttributePath, v tftypes.Value) (tftypes.Value, error) {
		if !v.IsKnown() {
			return tftypes.NewValue(v.Type(), nil), nil
		}
		return v, nil
	})
	if err != nil {
		return v
	}
	return out
}
