package review_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"

	tfjson "github.com/hashicorp/terraform-json"

	"github.com/tokenward/terraform-provider-tokenward/internal/review"
)

// bigPlan is the JSON of a plan that updates n tokens, each gaining a scope
// and a destination, with a role and a scope shared by all of them.
func bigPlan(b *testing.B, n int) []byte {
	b.Helper()
	changes := []*tfjson.ResourceChange{
		change("tokenward_role", "r", update, obj{"name": "r", "scopes": []any{"a:read"}}, obj{"name": "r", "scopes": []any{"a:read", "a:write"}}, nil),
	}
	for i := range n {
		name := fmt.Sprintf("t%04d", i)
		changes = append(changes, change("tokenward_token", name, update,
			token(name, "scopes", []any{"b:read"}, "roles", []any{"r"}, "github_secrets", secrets("acme/api")),
			token(name, "scopes", []any{"b:read", "b:write"}, "roles", []any{"r"}, "github_secrets", secrets("acme/api", "acme/web")), nil))
	}
	raw, err := json.Marshal(&tfjson.Plan{FormatVersion: "1.2", ResourceChanges: changes, PlannedValues: &tfjson.StateValues{}})
	if err != nil {
		b.Fatal(err)
	}
	return raw
}

// BenchmarkReview measures reading a plan of 1,000 changed tokens, and
// reading it then reviewing and rendering it, side by side: the review's
// own cost is the difference.
func BenchmarkReview(b *testing.B) {
	raw := bigPlan(b, 1000)
	b.Run("read", func(b *testing.B) {
		for b.Loop() {
			if _, err := review.Read(bytes.NewReader(raw)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("read+review+markdown", func(b *testing.B) {
		for b.Loop() {
			plan, err := review.Read(bytes.NewReader(raw))
			if err != nil {
				b.Fatal(err)
			}
			_ = review.Build(plan, review.Options{}).Markdown()
		}
	})
}
