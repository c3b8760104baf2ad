package provider_test

import (
	"testing"

	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
)

// openRegistry opens the store of a test environment beside the provider,
// to change or inspect it between steps.
func openRegistry(t *testing.T, env map[string]string) *registry.Registry {
	t.Helper()
	reg, err := registry.Open(t.Context(), registry.Config{Getenv: func(k string) string { return env[k] }, Create: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	return reg
}
