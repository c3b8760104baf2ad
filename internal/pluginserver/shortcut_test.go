package pluginserver_test

import (
	"context"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-go/tftypes"

	"github.com/tokenward/terraform-provider-tokenward/internal/pluginserver"
)

// fakeShortcut answers probe_thing's RPCs with state, or declines.
type fakeShortcut struct {
	answer  bool
	state   func(*tfprotov6.DynamicValue) *tfprotov6.DynamicValue // what it answers for a state
	private []byte
}

func (f *fakeShortcut) ValidateResourceConfig(context.Context, *tfprotov6.ValidateResourceConfigRequest) (*tfprotov6.ValidateResourceConfigResponse, bool) {
	if !f.answer {
		return nil, false
	}
	return &tfprotov6.ValidateResourceConfigResponse{}, true
}

func (f *fakeShortcut) UpgradeResourceState(_ context.Context, req *tfprotov6.UpgradeResourceStateRequest) (*tfprotov6.UpgradeResourceStateResponse, bool) {
	if !f.answer {
		return nil, false
	}
	v, err := req.RawState.Unmarshal(thingType)
	if err != nil {
		return nil, false
	}
	dv, _ := tfprotov6.NewDynamicValue(thingType, v)
	return &tfprotov6.UpgradeResourceStateResponse{UpgradedState: f.state(&dv)}, true
}

func (f *fakeShortcut) ReadResource(_ context.Context, req *tfprotov6.ReadResourceRequest) (*tfprotov6.ReadResourceResponse, bool) {
	if !f.answer {
		return nil, false
	}
	return &tfprotov6.ReadResourceResponse{NewState: f.state(req.CurrentState), Private: f.private}, true
}

func (f *fakeShortcut) PlanResourceChange(_ context.Context, req *tfprotov6.PlanResourceChangeRequest) (*tfprotov6.PlanResourceChangeResponse, bool) {
	if !f.answer {
		return nil, false
	}
	return &tfprotov6.PlanResourceChangeResponse{PlannedState: f.state(req.PriorState), PlannedPrivate: f.private}, true
}

func (f *fakeShortcut) ValueType(typeName string) (tftypes.Type, bool) {
	return thingType, typeName == "probe_thing"
}

func thingState(t *testing.T, id string) *tfprotov6.DynamicValue {
	t.Helper()
	dv, err := tfprotov6.NewDynamicValue(thingType, tftypes.NewValue(thingType, map[string]tftypes.Value{"id": tftypes.NewValue(tftypes.String, id)}))
	if err != nil {
		t.Fatal(err)
	}
	return &dv
}

// TestShortcutAnswersAndIsChecked: the shortcut answers first, a declined
// request reaches the framework, and with WithShortcutCheck an answer that
// differs from the framework's fails with a diagnostic that says how,
// while one that agrees passes unchanged.
func TestShortcutAnswersAndIsChecked(t *testing.T) {
	ctx := t.Context()
	same := func(dv *tfprotov6.DynamicValue) *tfprotov6.DynamicValue { return dv }
	other := func(*tfprotov6.DynamicValue) *tfprotov6.DynamicValue { return thingState(t, "not-a") }
	rpcs := map[string]func(tfprotov6.ProviderServer) ([]*tfprotov6.Diagnostic, *tfprotov6.DynamicValue){
		"ReadResource": func(srv tfprotov6.ProviderServer) ([]*tfprotov6.Diagnostic, *tfprotov6.DynamicValue) {
			r, err := srv.ReadResource(ctx, &tfprotov6.ReadResourceRequest{TypeName: "probe_thing", CurrentState: thingState(t, "a")})
			if err != nil {
				t.Fatal(err)
			}
			return r.Diagnostics, r.NewState
		},
		"PlanResourceChange": func(srv tfprotov6.ProviderServer) ([]*tfprotov6.Diagnostic, *tfprotov6.DynamicValue) {
			st := thingState(t, "a")
			r, err := srv.PlanResourceChange(ctx, &tfprotov6.PlanResourceChangeRequest{TypeName: "probe_thing", PriorState: st, ProposedNewState: st, Config: st})
			if err != nil {
				t.Fatal(err)
			}
			return r.Diagnostics, r.PlannedState
		},
		"UpgradeResourceState": func(srv tfprotov6.ProviderServer) ([]*tfprotov6.Diagnostic, *tfprotov6.DynamicValue) {
			r, err := srv.UpgradeResourceState(ctx, &tfprotov6.UpgradeResourceStateRequest{TypeName: "probe_thing", RawState: &tfprotov6.RawState{JSON: []byte(`{"id":"a"}`)}})
			if err != nil {
				t.Fatal(err)
			}
			return r.Diagnostics, r.UpgradedState
		},
	}
	id := func(dv *tfprotov6.DynamicValue) string {
		v, err := dv.Unmarshal(thingType)
		if err != nil {
			t.Fatal(err)
		}
		var attrs map[string]tftypes.Value
		var s string
		if err := v.As(&attrs); err != nil || attrs["id"].As(&s) != nil {
			t.Fatalf("state %s", v)
		}
		return s
	}
	for name, rpc := range rpcs {
		t.Run(name, func(t *testing.T) {
			// Unchecked: the shortcut's answer is the answer, even a wrong one.
			sc := &fakeShortcut{answer: true, state: other}
			srv := pluginserver.New(framework(t), pluginserver.WithShortcut(sc))
			configure(t, srv)
			if d, st := rpc(srv); len(d) > 0 || id(st) != "not-a" || srv.ShortcutAnswers() != 1 {
				t.Fatalf("unchecked shortcut: diagnostics %v, id %s, %d answers", d, id(st), srv.ShortcutAnswers())
			}
			// Declined: the framework answers.
			sc.answer = false
			if d, st := rpc(srv); len(d) > 0 || id(st) != "a" || srv.ShortcutAnswers() != 1 {
				t.Fatalf("declined: diagnostics %v, id %s, %d answers", d, id(st), srv.ShortcutAnswers())
			}
			// Checked: a wrong answer fails, a right one passes.
			sc = &fakeShortcut{answer: true, state: other}
			srv = pluginserver.New(framework(t), pluginserver.WithShortcut(sc), pluginserver.WithShortcutCheck())
			configure(t, srv)
			d, _ := rpc(srv)
			if len(d) != 1 || d[0].Severity != tfprotov6.DiagnosticSeverityError || !strings.Contains(d[0].Detail, "the values differ") {
				t.Fatalf("a checked wrong answer gave %v", d)
			}
			sc.state = same
			if d, st := rpc(srv); len(d) > 0 || id(st) != "a" {
				t.Fatalf("a checked right answer gave diagnostics %v, id %s", d, id(st))
			}
			if name == "UpgradeResourceState" {
				return
			}
			// A private state the framework would not answer fails too.
			sc.private = []byte(`{"k":"InRydWUi"}`)
			if d, _ := rpc(srv); len(d) != 1 || !strings.Contains(d[0].Detail, "private states differ") {
				t.Fatalf("a checked answer with another private state gave %v", d)
			}
		})
	}
}

// TestShortcutValidationIsChecked: a configuration the shortcut passes
// and the framework refuses fails under WithShortcutCheck, and one both
// pass passes; a declined one reaches the framework.
func TestShortcutValidationIsChecked(t *testing.T) {
	ctx := t.Context()
	bad := &tfprotov6.DynamicValue{MsgPack: []byte{0xc1}} // not msgpack: the framework cannot decode it
	validate := func(srv tfprotov6.ProviderServer, config *tfprotov6.DynamicValue) []*tfprotov6.Diagnostic {
		r, err := srv.ValidateResourceConfig(ctx, &tfprotov6.ValidateResourceConfigRequest{TypeName: "probe_thing", Config: config})
		if err != nil {
			t.Fatal(err)
		}
		return r.Diagnostics
	}
	sc := &fakeShortcut{answer: true}
	srv := pluginserver.New(framework(t), pluginserver.WithShortcut(sc))
	configure(t, srv)
	if d := validate(srv, bad); len(d) > 0 || srv.ShortcutAnswers() != 1 {
		t.Fatalf("unchecked shortcut: diagnostics %v, %d answers", d, srv.ShortcutAnswers())
	}
	sc.answer = false
	if d := validate(srv, bad); len(d) == 0 || srv.ShortcutAnswers() != 1 {
		t.Fatalf("declined: the framework passed a configuration it cannot decode (%d answers)", srv.ShortcutAnswers())
	}
	sc.answer = true
	srv = pluginserver.New(framework(t), pluginserver.WithShortcut(sc), pluginserver.WithShortcutCheck())
	configure(t, srv)
	if d := validate(srv, bad); len(d) != 1 || !strings.Contains(d[0].Summary, "differs from the framework") || !strings.Contains(d[0].Detail, "ValidateResourceConfig") {
		t.Fatalf("a checked wrong pass gave %v", d)
	}
	if d := validate(srv, thingState(t, "a")); len(d) > 0 {
		t.Fatalf("a checked right pass gave %v", d)
	}
}
