package review_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/tokenward/terraform-provider-tokenward/internal/policy"
	"github.com/tokenward/terraform-provider-tokenward/internal/review"
)

// FuzzRead feeds the plan reader anything: it must return a plan or an
// error, never panic, and a plan it accepts must review and render.
func FuzzRead(f *testing.F) {
	plans, _ := filepath.Glob("testdata/*.plan.json")
	for _, p := range plans {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		"", "{}", "null", "[]", `{"format_version":"1.2"}`,
		`{"format_version":"1.2","planned_values":{},"resource_changes":[null,{"change":null},{"mode":"managed","type":"tokenward_token","change":{"actions":["update"],"before":1,"after":[],"after_unknown":true,"after_sensitive":{"name":[true]}}}]}`,
		`{"format_version":"1.2","resource_changes":[{"mode":"managed","type":"tokenward_role","change":{"actions":["delete","create"],"before":{"name":7,"scopes":"x"},"after":{"scopes":[1,null,"a:*"]}}}]}`,
		`{"format_version":"1.2","resource_changes":[{"mode":"managed","type":"tokenward_user_config","change":{"actions":["update"],"before":{"values":{"a":1}},"after":{"values":[]},"before_sensitive":{"values":{"a":true}}}}]}`,
		`{"format_version":"1.2","planned_values":{},"configuration":{"provider_config":{"tokenward":{"name":"tokenward","expressions":{"policy":{"constant_value":{"max_ttl":3}}}}}}}`,
	} {
		f.Add([]byte(s))
	}
	pol := policy.Policy{MaxTTL: 1, MinOverlap: 1, RequireOwner: true, ForbiddenScopes: []string{"*"}, AllowedRepositories: []string{"a/*"}}
	f.Fuzz(func(t *testing.T, data []byte) {
		plan, err := review.Read(bytes.NewReader(data))
		if err != nil {
			if plan != nil {
				t.Fatal("Read returned a plan with an error")
			}
			return
		}
		_, _, _ = review.PolicyFromPlan(plan)
		for _, opts := range []review.Options{{}, {Policy: pol, PolicySource: "fuzz"}} {
			rep := review.Build(plan, opts)
			_ = rep.Markdown()
			_ = rep.JSON()
		}
	})
}
