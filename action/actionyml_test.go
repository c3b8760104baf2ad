package main

import (
	"os"
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
	for _, name := range []string{"command", "store", "master-key", "github-token", "app-id", "app-installation-id", "app-private-key", "dry-run", "force", "tokens", "max-rotations"} {
		if _, ok := action.Inputs[name]; !ok {
			t.Errorf("input %s is missing", name)
		}
	}
	for _, name := range []string{"rotated", "failed", "next-due"} {
		if got := action.Outputs[name].Value; got != "${{ steps."+last.ID+".outputs."+name+" }}" {
			t.Errorf("output %s = %q", name, got)
		}
	}
	if action.Inputs["command"].Default != "rotate" {
		t.Errorf("command defaults to %q, want rotate", action.Inputs["command"].Default)
	}
}
