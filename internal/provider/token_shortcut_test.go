package provider_test

import (
	"encoding/json"
	"math/big"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-go/tftypes"

	"github.com/tokenward/terraform-provider-tokenward/internal/destination"
	"github.com/tokenward/terraform-provider-tokenward/internal/rotation"
)

// TestTokenShortcut drives a plan's RPCs of a token through the server
// main.go serves, with every shortcut answer checked against the
// framework's: an unchanged token is answered by the shortcut; a rotation
// by the workflow, a default the configuration dropped and a private state
// without the store reach the framework, which answers them; several
// hundred concurrent plans of an unchanged token are all answered alike.
func TestTokenShortcut(t *testing.T) {
	ctx := t.Context()
	env := testEnv(t)
	reg := tokenRegistry(t, env)
	srv, schemas := configuredServer(t, env)
	tokType := schemas.ResourceSchemas["tokenward_token"].ValueType()
	fileType := tokType.(tftypes.Object).AttributeTypes["files"].(tftypes.List).ElementType
	file := filepath.Join(t.TempDir(), "ci-deploy.env")
	config := dynamic(t, tokType, map[string]tftypes.Value{
		"name": tftypes.NewValue(tftypes.String, "ci-deploy"),
		"files": tftypes.NewValue(tftypes.List{ElementType: fileType}, []tftypes.Value{
			tftypes.NewValue(fileType, withNulls(fileType, map[string]tftypes.Value{"path": tftypes.NewValue(tftypes.String, file)})),
		}),
	})
	nullState, err := tfprotov6.NewDynamicValue(tokType, tftypes.NewValue(tokType, nil))
	if err != nil {
		t.Fatal(err)
	}
	planned, err := srv.PlanResourceChange(ctx, &tfprotov6.PlanResourceChangeRequest{
		TypeName: "tokenward_token", PriorState: &nullState, ProposedNewState: config, Config: config,
	})
	if err != nil || len(planned.Diagnostics) > 0 {
		t.Fatal(err, describe(planned.Diagnostics))
	}
	applied, err := srv.ApplyResourceChange(ctx, &tfprotov6.ApplyResourceChangeRequest{
		TypeName: "tokenward_token", PriorState: &nullState, PlannedState: planned.PlannedState, Config: config,
		PlannedPrivate: planned.PlannedPrivate,
	})
	if err != nil || len(applied.Diagnostics) > 0 {
		t.Fatal(err, describe(applied.Diagnostics))
	}
	state, private := applied.NewState, applied.Private
	if srv.ShortcutAnswers() != 0 {
		t.Fatalf("the shortcut answered %d RPCs of a create", srv.ShortcutAnswers())
	}

	// answered runs rpc and reports whether the shortcut answered it.
	answered := func(rpc func()) bool {
		t.Helper()
		before := srv.ShortcutAnswers()
		rpc()
		return srv.ShortcutAnswers() > before
	}
	read := func(state *tfprotov6.DynamicValue, private []byte) *tfprotov6.ReadResourceResponse {
		t.Helper()
		r, err := srv.ReadResource(ctx, &tfprotov6.ReadResourceRequest{TypeName: "tokenward_token", CurrentState: state, Private: private})
		if err != nil || len(r.Diagnostics) > 0 {
			t.Fatal(err, describe(r.Diagnostics))
		}
		return r
	}
	plan := func(prior *tfprotov6.DynamicValue, private []byte, config *tfprotov6.DynamicValue) *tfprotov6.PlanResourceChangeResponse {
		t.Helper()
		r, err := srv.PlanResourceChange(ctx, &tfprotov6.PlanResourceChangeRequest{
			TypeName: "tokenward_token", PriorState: prior, ProposedNewState: prior, Config: config, PriorPrivate: private,
		})
		if err != nil || len(r.Diagnostics) > 0 {
			t.Fatal(err, describe(r.Diagnostics))
		}
		return r
	}

	// An unchanged token: Terraform's upgrade, refresh and plan.
	if !answered(func() {
		r, err := srv.UpgradeResourceState(ctx, &tfprotov6.UpgradeResourceStateRequest{
			TypeName: "tokenward_token", RawState: &tfprotov6.RawState{JSON: stateJSON(t, tokType, state)},
		})
		if err != nil || len(r.Diagnostics) > 0 || !equalDynamic(t, tokType, r.UpgradedState, state) {
			t.Fatal("upgrade of the state:", err, describe(r.Diagnostics))
		}
	}) {
		t.Error("the shortcut did not answer the upgrade of a current state")
	}
	if !answered(func() {
		if r := read(state, private); !equalDynamic(t, tokType, r.NewState, state) {
			t.Fatal("Read of an unchanged token changed its state")
		}
	}) {
		t.Error("the shortcut did not answer the Read of an unchanged token")
	}
	if !answered(func() {
		if r := plan(state, private, config); !equalDynamic(t, tokType, r.PlannedState, state) || len(r.RequiresReplace) > 0 {
			t.Fatal("the plan of an unchanged token is not empty")
		}
	}) {
		t.Error("the shortcut did not answer the plan of an unchanged token")
	}

	// Its configuration's validation: a valid one is answered, an invalid
	// one (a name the registry refuses, a ttl that is no duration) the
	// framework answers.
	validate := func(config *tfprotov6.DynamicValue) []*tfprotov6.Diagnostic {
		t.Helper()
		r, err := srv.ValidateResourceConfig(ctx, &tfprotov6.ValidateResourceConfigRequest{TypeName: "tokenward_token", Config: config})
		if err != nil {
			t.Fatal(err)
		}
		return r.Diagnostics
	}
	if !answered(func() {
		if d := validate(config); len(d) > 0 {
			t.Fatal("a valid configuration:", describe(d))
		}
	}) {
		t.Error("the shortcut did not answer the validation of a valid configuration")
	}
	for _, bad := range []map[string]tftypes.Value{
		{"name": tftypes.NewValue(tftypes.String, "Not A Name!")},
		{"name": tftypes.NewValue(tftypes.String, "ci-deploy"), "ttl": tftypes.NewValue(tftypes.String, "forever")},
		{"name": tftypes.NewValue(tftypes.String, "ci-deploy"), "fingerprint": tftypes.NewValue(tftypes.String, "tw_x")},
	} {
		if answered(func() {
			if d := validate(dynamic(t, tokType, bad)); len(d) == 0 {
				t.Fatalf("an invalid configuration passed validation: %v", bad)
			}
		}) {
			t.Errorf("the shortcut answered the validation of an invalid configuration: %v", bad)
		}
	}

	// A private state without the store: the framework's Read records it.
	if answered(func() {
		if r := read(state, nil); !strings.Contains(string(r.Private), `"store"`) {
			t.Fatalf("Read of a token without its store in the private state left %q", r.Private)
		}
	}) {
		t.Error("the shortcut answered a Read that records the store")
	}

	// A honeytoken whose configuration dropped honeytoken = true: the
	// default false replaces it.
	decoy := withAttr(t, tokType, state, "honeytoken", tftypes.NewValue(tftypes.Bool, true))
	if answered(func() {
		if r := plan(decoy, private, config); len(r.RequiresReplace) == 0 {
			t.Fatal("dropping honeytoken = true does not replace the token")
		}
	}) {
		t.Error("the shortcut answered a plan that a default changes")
	}

	// A rotation by the workflow: Read sees it, the framework answers.
	res, err := rotation.New(reg, destination.NewRouter(nil)).Rotate(ctx, "ci-deploy")
	if err != nil {
		t.Fatal(err)
	}
	var rotated *tfprotov6.ReadResourceResponse
	if answered(func() { rotated = read(state, private) }) {
		t.Error("the shortcut answered the Read of a rotated token")
	}
	if got := attrOf(t, tokType, rotated.NewState, "fingerprint"); got != res.To {
		t.Fatalf("Read after the workflow's rotation saw fingerprint %s, want %s", got, res.To)
	}

	// Concurrent plans of the rotated, now unchanged, token.
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	before := srv.ShortcutAnswers()
	const n = 300
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var diags []*tfprotov6.Diagnostic
			if i%2 == 0 {
				r, err := srv.ReadResource(ctx, &tfprotov6.ReadResourceRequest{TypeName: "tokenward_token", CurrentState: rotated.NewState, Private: rotated.Private})
				if err == nil {
					diags = r.Diagnostics
				}
			} else {
				r, err := srv.PlanResourceChange(ctx, &tfprotov6.PlanResourceChangeRequest{
					TypeName: "tokenward_token", PriorState: rotated.NewState, ProposedNewState: rotated.NewState, Config: config, PriorPrivate: rotated.Private,
				})
				if err == nil {
					diags = r.Diagnostics
				}
			}
			if len(diags) > 0 {
				mu.Lock()
				failures = append(failures, describe(diags)...)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("%d concurrent RPCs failed, first: %s", len(failures), failures[0])
	}
	if got := srv.ShortcutAnswers() - before; got != n {
		t.Errorf("the shortcut answered %d of %d concurrent RPCs of an unchanged token", got, n)
	}
}

// withNulls is attrs with every other attribute of t null.
func withNulls(t tftypes.Type, attrs map[string]tftypes.Value) map[string]tftypes.Value {
	all := map[string]tftypes.Value{}
	for name, at := range t.(tftypes.Object).AttributeTypes {
		all[name] = tftypes.NewValue(at, nil)
		if v, ok := attrs[name]; ok {
			all[name] = v
		}
	}
	return all
}

// withAttr is state with one attribute set to v.
func withAttr(t *testing.T, typ tftypes.Type, state *tfprotov6.DynamicValue, name string, v tftypes.Value) *tfprotov6.DynamicValue {
	t.Helper()
	sv, err := state.Unmarshal(typ)
	if err != nil {
		t.Fatal(err)
	}
	var attrs map[string]tftypes.Value
	if err := sv.As(&attrs); err != nil {
		t.Fatal(err)
	}
	attrs[name] = v
	dv, err := tfprotov6.NewDynamicValue(typ, tftypes.NewValue(typ, attrs))
	if err != nil {
		t.Fatal(err)
	}
	return &dv
}

// attrOf is a string attribute of state.
func attrOf(t *testing.T, typ tftypes.Type, state *tfprotov6.DynamicValue, name string) string {
	t.Helper()
	sv, err := state.Unmarshal(typ)
	if err != nil {
		t.Fatal(err)
	}
	var attrs map[string]tftypes.Value
	var s string
	if err := sv.As(&attrs); err != nil || attrs[name].As(&s) != nil {
		t.Fatalf("no string %s in %s", name, sv)
	}
	return s
}

// stateJSON is state as Terraform keeps it in terraform.tfstate.
func stateJSON(t *testing.T, typ tftypes.Type, state *tfprotov6.DynamicValue) []byte {
	t.Helper()
	sv, err := state.Unmarshal(typ)
	if err != nil {
		t.Fatal(err)
	}
	var conv func(v tftypes.Value) any
	conv = func(v tftypes.Value) any {
		if v.IsNull() {
			return nil
		}
		switch {
		case v.Type().Is(tftypes.String):
			var s string
			_ = v.As(&s)
			return s
		case v.Type().Is(tftypes.Bool):
			var b bool
			_ = v.As(&b)
			return b
		case v.Type().Is(tftypes.Number):
			f := new(big.Float)
			_ = v.As(&f)
			return json.Number(f.Text('f', -1))
		case v.Type().Is(tftypes.List{}), v.Type().Is(tftypes.Set{}):
			var l []tftypes.Value
			_ = v.As(&l)
			out := []any{}
			for _, e := range l {
				out = append(out, conv(e))
			}
			return out
		default: // object or map
			var m map[string]tftypes.Value
			if err := v.As(&m); err != nil {
				t.Fatalf("%s: %v", v.Type(), err)
			}
			out := map[string]any{}
			for k, e := range m {
				out[k] = conv(e)
			}
			return out
		}
	}
	raw, err := json.Marshal(conv(sv))
	if err != nil {
		t.Fatal(err)
	}
	return raw
}
