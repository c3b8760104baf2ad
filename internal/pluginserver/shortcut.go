package pluginserver

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync/atomic"

	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-go/tftypes"
)

// A Shortcut answers some resource RPCs without the framework: the common
// ones of a plan in which a resource did not change, answered in a fraction
// of the framework's time. A plan of 1,000 unchanged tokens spent 39% of
// the provider's CPU in the framework's PlanResourceChange, 19% in its
// ReadResource and 5% in its UpgradeResourceState, nearly all of it in its
// generic per-attribute passes (tftypes.Transform and WalkAttributePath
// over the whole schema, three times a request), against under 10% in the
// provider's own Read and ModifyPlan (perf of bench/plan.sh's provider,
// terraform-plugin-framework v1.19). With those answered, the framework's
// ValidateResourceConfig, which Terraform calls for every token too, was a
// quarter of what was left, most of it reaching each attribute's value by
// its path from the root.
//
// Each method either answers (true) with exactly what the framework would
// answer, or declines (false) and the framework answers: a shortcut takes
// only the cases it can prove it answers alike, and declines the rest.
// WithShortcutCheck makes the Server prove it on every answer.
//
// A shortcut must never call the framework's server: its answers are not
// counted in flight (they register no context with the framework, so the
// framework's StopProvider, the wrapper's or Terraform's, has nothing of
// theirs to forget; Terraform's still cancels their contexts through
// tf6server, as it cancels every request's).
type Shortcut interface {
	// ValidateResourceConfig answers only a configuration that passes
	// every check: its answer has no diagnostics.
	ValidateResourceConfig(context.Context, *tfprotov6.ValidateResourceConfigRequest) (*tfprotov6.ValidateResourceConfigResponse, bool)
	UpgradeResourceState(context.Context, *tfprotov6.UpgradeResourceStateRequest) (*tfprotov6.UpgradeResourceStateResponse, bool)
	ReadResource(context.Context, *tfprotov6.ReadResourceRequest) (*tfprotov6.ReadResourceResponse, bool)
	PlanResourceChange(context.Context, *tfprotov6.PlanResourceChangeRequest) (*tfprotov6.PlanResourceChangeResponse, bool)
	// ValueType is the type of a resource's state, to compare answers.
	ValueType(typeName string) (tftypes.Type, bool)
}

// ShortcutProvider is a provider that has a Shortcut for its server.
type ShortcutProvider interface {
	Shortcut() Shortcut
}

// WithShortcut answers RPCs through sc first.
func WithShortcut(sc Shortcut) Option {
	return func(s *Server) { s.shortcut = sc }
}

// WithShortcutCheck makes every answer of the shortcut a test of it: the
// framework answers the same request too, and an answer that differs from
// the framework's fails the RPC with an error diagnostic that says how.
// For tests: it costs what the shortcut saves, and more.
func WithShortcutCheck() Option {
	return func(s *Server) { s.check = true }
}

// ShortcutAnswers is how many RPCs the shortcut answered, for tests.
func (s *Server) ShortcutAnswers() int64 { return s.answered.Load() }

// shortcutStats is the part of Server that counts the shortcut's answers.
type shortcutStats struct {
	answered atomic.Int64
}

// shortcutMismatch is the response diagnostic of a checked answer that
// differs from the framework's.
func shortcutMismatch(rpc, why string) []*tfprotov6.Diagnostic {
	return []*tfprotov6.Diagnostic{{
		Severity: tfprotov6.DiagnosticSeverityError,
		Summary:  "Shortcut answer differs from the framework's",
		Detail:   fmt.Sprintf("%s: %s. This is a bug in the provider's pluginserver shortcut.", rpc, why),
	}}
}

// sameValue reports whether two encoded values of a resource are the same
// value, or why not.
func (s *Server) sameValue(typeName string, a, b *tfprotov6.DynamicValue) string {
	if a == nil || b == nil {
		if a == b {
			return ""
		}
		return fmt.Sprintf("one value is missing (shortcut %v, framework %v)", a != nil, b != nil)
	}
	typ, ok := s.shortcut.ValueType(typeName)
	if !ok {
		return "the shortcut knows no type for " + typeName
	}
	va, err := a.Unmarshal(typ)
	if err != nil {
		return "the shortcut's value does not decode: " + err.Error()
	}
	vb, err := b.Unmarshal(typ)
	if err != nil {
		return "the framework's value does not decode: " + err.Error()
	}
	if va.Equal(vb) {
		return ""
	}
	// Name the attributes that differ rather than print both values whole.
	var ma, mb map[string]tftypes.Value
	if va.As(&ma) != nil || vb.As(&mb) != nil || ma == nil || mb == nil {
		return "the values differ (one is null or not an object)"
	}
	var differ []string
	for name, a := range ma {
		if !a.Equal(mb[name]) {
			differ = append(differ, name)
		}
	}
	sort.Strings(differ)
	return "the values differ in " + strings.Join(differ, ", ")
}

// samePrivate reports whether two private states hold the same keys and
// values (the framework writes them as a JSON object of base64 values; no
// private state and an empty or null object are the same), or names the
// keys that differ: a private state may hold what a diagnostic must not.
func samePrivate(a, b []byte) string {
	if bytes.Equal(a, b) {
		return ""
	}
	decode := func(p []byte) (map[string][]byte, bool) {
		m := map[string][]byte{}
		if len(p) == 0 {
			return m, true
		}
		return m, json.Unmarshal(p, &m) == nil
	}
	ma, okA := decode(a)
	mb, okB := decode(b)
	if !okA || !okB {
		return fmt.Sprintf("the private states differ (one is not a JSON object: shortcut %t, framework %t)", okA, okB)
	}
	var differ []string
	for k, v := range ma {
		if w, ok := mb[k]; !ok || !bytes.Equal(v, w) {
			differ = append(differ, k)
		}
	}
	for k := range mb {
		if _, ok := ma[k]; !ok {
			differ = append(differ, k)
		}
	}
	if len(differ) == 0 {
		return ""
	}
	sort.Strings(differ)
	return "the private states differ in " + strings.Join(differ, ", ")
}

// noDiagnostics reports why answers with diagnostics d are not ones a
// shortcut gives: a shortcut answers only what passes without any.
func noDiagnostics(d []*tfprotov6.Diagnostic) string {
	if len(d) == 0 {
		return ""
	}
	return fmt.Sprintf("the answers carry %d diagnostics (first: %s: %s)", len(d), d[0].Summary, d[0].Detail)
}

func (s *Server) validateResourceConfig(ctx context.Context, req *tfprotov6.ValidateResourceConfigRequest) (*tfprotov6.ValidateResourceConfigResponse, error) {
	if s.shortcut != nil {
		if resp, ok := s.shortcut.ValidateResourceConfig(ctx, req); ok {
			s.answered.Add(1)
			if !s.check {
				return resp, nil
			}
			fw, err := unary(s, ctx, req, s.inner.ValidateResourceConfig)
			if err != nil {
				return fw, err
			}
			if why := noDiagnostics(append(resp.Diagnostics, fw.Diagnostics...)); why != "" {
				return &tfprotov6.ValidateResourceConfigResponse{Diagnostics: shortcutMismatch("ValidateResourceConfig", why)}, nil
			}
			return resp, nil
		}
	}
	return unary(s, ctx, req, s.inner.ValidateResourceConfig)
}

func (s *Server) upgradeResourceState(ctx context.Context, req *tfprotov6.UpgradeResourceStateRequest) (*tfprotov6.UpgradeResourceStateResponse, error) {
	if s.shortcut != nil {
		if resp, ok := s.shortcut.UpgradeResourceState(ctx, req); ok {
			s.answered.Add(1)
			if !s.check {
				return resp, nil
			}
			fw, err := unary(s, ctx, req, s.inner.UpgradeResourceState)
			if err != nil {
				return fw, err
			}
			why := noDiagnostics(append(resp.Diagnostics, fw.Diagnostics...))
			if why == "" {
				why = s.sameValue(req.TypeName, resp.UpgradedState, fw.UpgradedState)
			}
			if why != "" {
				return &tfprotov6.UpgradeResourceStateResponse{Diagnostics: shortcutMismatch("UpgradeResourceState", why)}, nil
			}
			return resp, nil
		}
	}
	return unary(s, ctx, req, s.inner.UpgradeResourceState)
}

func (s *Server) readResource(ctx context.Context, req *tfprotov6.ReadResourceRequest) (*tfprotov6.ReadResourceResponse, error) {
	if s.shortcut != nil {
		if resp, ok := s.shortcut.ReadResource(ctx, req); ok {
			s.answered.Add(1)
			if !s.check {
				return resp, nil
			}
			fw, err := unary(s, ctx, req, s.inner.ReadResource)
			if err != nil {
				return fw, err
			}
			why := noDiagnostics(append(resp.Diagnostics, fw.Diagnostics...))
			if why == "" {
				why = s.sameValue(req.TypeName, resp.NewState, fw.NewState)
			}
			if why == "" {
				why = samePrivate(resp.Private, fw.Private)
			}
			if why == "" && (fw.Deferred != nil || fw.NewIdentity != nil || resp.Deferred != nil || resp.NewIdentity != nil) {
				why = "an answer deferred or returned an identity"
			}
			if why != "" {
				return &tfprotov6.ReadResourceResponse{Diagnostics: shortcutMismatch("ReadResource", why)}, nil
			}
			return resp, nil
		}
	}
	return unary(s, ctx, req, s.inner.ReadResource)
}

func (s *Server) planResourceChange(ctx context.Context, req *tfprotov6.PlanResourceChangeRequest) (*tfprotov6.PlanResourceChangeResponse, error) {
	if s.shortcut != nil {
		if resp, ok := s.shortcut.PlanResourceChange(ctx, req); ok {
			s.answered.Add(1)
			if !s.check {
				return resp, nil
			}
			fw, err := unary(s, ctx, req, s.inner.PlanResourceChange)
			if err != nil {
				return fw, err
			}
			why := noDiagnostics(append(resp.Diagnostics, fw.Diagnostics...))
			if why == "" {
				why = s.sameValue(req.TypeName, resp.PlannedState, fw.PlannedState)
			}
			if why == "" {
				why = samePrivate(resp.PlannedPrivate, fw.PlannedPrivate)
			}
			if why == "" && (len(fw.RequiresReplace)+len(resp.RequiresReplace) > 0 || fw.Deferred != nil || resp.Deferred != nil ||
				fw.PlannedIdentity != nil || resp.PlannedIdentity != nil) {
				why = "an answer planned a replacement, deferred or planned an identity"
			}
			if why != "" {
				return &tfprotov6.PlanResourceChangeResponse{Diagnostics: shortcutMismatch("PlanResourceChange", why)}, nil
			}
			return resp, nil
		}
	}
	return unary(s, ctx, req, s.inner.PlanResourceChange)
}
