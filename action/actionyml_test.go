package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestActionMapsEveryInput: composite actions do not set INPUT_* for their
// steps, so action.yml must map each input, or the binary never sees it.
func TestActionMapsEveryInput(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("../action.yml")
	if err != nil {
		t.Fatal(err)
	}
	var action struct {
		Inputs  map[string]struct{ Default string } `yaml:"inputs"`
		Outputs map[string]struct{ Value string }   `yaml:"outputs"`
		Runs    struct {
			Using string `yaml:"using"`
			Steps []struct {
				ID  string            `yaml:"id"`
				Env map[string]string `yaml:"env"`
				Run string            `yaml:"run"`
			} `yaml:"steps"`
		} `yaml:"runs"`
	}
	if err := yaml.Unmarshal(raw, &action); err != nil {
		t.Fatal(err)
	}
	if action.Runs.Using != "composite" {
		t.Fatalf("runs.using = %q", action.Runs.Using)
	}
	last := action.Runs.Steps[len(action.Runs.Steps)-1]
	for name := range action.Inputs {
		env := "INPUT_" + strings.ToUpper(name)
		if got := last.Env[env]; got != "${{ inputs."+name+" }}" {
			t.Errorf("input %s is mapped to %s as %q", name, env, got)
		}
	}
	for _, name := range []string{"command", "store", "master-key", "github-token", "app-id", "app-installation-id", "app-private-key", "dry-run", "force", "tokens", "max-rotations", "workers", "skip-files", "plan", "format", "fail-on", "unused-after", "policy", "issue-key", "keep-issue"} {
		if _, ok := action.Inputs[name]; !ok {
			t.Errorf("input %s is missing", name)
		}
	}
	for _, name := range []string{"rotated", "failed", "next-due", "audit-head", "risk", "changes", "findings"} {
		if got := action.Outputs[name].Value; got != "${{ steps."+last.ID+".outputs."+name+" }}" {
			t.Errorf("output %s = %q", name, got)
		}
	}
	if action.Inputs["command"].Default != "rotate" {
		t.Errorf("command defaults to %q, want rotate", action.Inputs["command"].Default)
	}
	// review fails at high by default and report never: an input default
	// would override one of them.
	if d := action.Inputs["fail-on"].Default; d != "" {
		t.Errorf("fail-on defaults to %q, want empty: each command has its own default", d)
	}
}

// TestExampleWorkflowsUseRealInputs: every input an example workflow gives
// the action exists in action.yml, so a copied workflow does not fail on a
// misspelt one.
func TestExampleWorkflowsUseRealInputs(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("../action.yml")
	if err != nil {
		t.Fatal(err)
	}
	var action struct {
		Inputs map[string]any `yaml:"inputs"`
	}
	if err := yaml.Unmarshal(raw, &action); err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob("../examples/workflows/*.yml")
	if err != nil || len(files) < 4 {
		t.Fatalf("want the rotate, audit, review and report workflows, got %v (%v)", files, err)
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var wf struct {
			Jobs map[string]struct {
				Steps []struct {
					Uses string         `yaml:"uses"`
					With map[string]any `yaml:"with"`
				} `yaml:"steps"`
			} `yaml:"jobs"`
		}
		if err := yaml.Unmarshal(raw, &wf); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		used := 0
		for _, job := range wf.Jobs {
			for _, step := range job.Steps {
				if !strings.HasPrefix(step.Uses, "tokenward/terraform-provider-tokenward@") {
					continue
				}
				used++
				for in := range step.With {
					if _, ok := action.Inputs[in]; !ok {
						t.Errorf("%s gives the action input %q, which action.yml does not have", f, in)
					}
				}
			}
		}
		if used == 0 {
			t.Errorf("%s does not use the tokenward action", f)
		}
	}
}
