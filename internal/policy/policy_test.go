package policy_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/destination"
	"github.com/tokenward/terraform-provider-tokenward/internal/duration"
	"github.com/tokenward/terraform-provider-tokenward/internal/policy"
)

func fields(vs []policy.Violation) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = v.Field
	}
	return out
}

func base() policy.Token {
	return policy.Token{
		Name: "ci-deploy", Owner: "platform", Scopes: []string{"billing:read"},
		TTL: 90 * duration.Day, RotateBefore: 14 * duration.Day, Overlap: duration.Day,
		Destinations: []policy.Destination{
			{Path: "files[0]", Kind: destination.KindFile, Config: destination.Config{Path: "/tmp/x", Format: "raw"}},
			{Path: "github_secrets[0]", Kind: destination.KindRepositorySecret, Config: destination.Config{Repository: "acme/api", Name: "T"}},
		},
	}
}

func TestCheckToken(t *testing.T) {
	t.Parallel()
	strict := policy.Policy{
		MaxTTL: 30 * duration.Day, MinOverlap: time.Hour, RequireOwner: true,
		ForbiddenScopes:     []string{"admin:*", "billing:delete"},
		AllowedRepositories: []string{"acme/*", "other/api-*"},
	}
	cases := []struct {
		name   string
		policy policy.Policy
		edit   func(*policy.Token)
		want   []string
	}{
		{"zero policy allows everything", policy.Policy{}, func(t *policy.Token) {
			t.Owner, t.Scopes, t.TTL, t.Overlap = "", []string{"admin:write"}, 1000*duration.Day, 0
		}, nil},
		{"compliant", strict, func(t *policy.Token) { t.TTL = 30 * duration.Day }, nil},
		{"ttl too long", strict, func(t *policy.Token) {}, []string{"ttl"}},
		{"overlap too short", strict, func(t *policy.Token) { t.TTL, t.Overlap = 7*duration.Day, 30*time.Minute }, []string{"overlap"}},
		{"owner missing", strict, func(t *policy.Token) { t.TTL, t.Owner = 7*duration.Day, " " }, []string{"owner"}},
		{"forbidden wildcard pattern", strict, func(t *policy.Token) { t.TTL, t.Scopes = 7*duration.Day, []string{"admin:write"} }, []string{"scopes"}},
		{"forbidden pattern matches the wildcard scope", strict, func(t *policy.Token) { t.TTL, t.Scopes = 7*duration.Day, []string{"admin:*"} }, []string{"scopes"}},
		{"forbidden exact", strict, func(t *policy.Token) { t.TTL, t.Scopes = 7*duration.Day, []string{"billing:delete"} }, []string{"scopes"}},
		{"wildcard scope grants a forbidden exact one", strict, func(t *policy.Token) { t.TTL, t.Scopes = 7*duration.Day, []string{"billing:*"} }, []string{"scopes"}},
		{"other action allowed", strict, func(t *policy.Token) {
			t.TTL, t.Scopes = 7*duration.Day, []string{"billing:read", "administration:read"}
		}, nil},
		{"star forbids everything", policy.Policy{ForbiddenScopes: []string{"*"}}, func(t *policy.Token) {}, []string{"scopes"}},
		{"role grants a forbidden scope", strict, func(t *policy.Token) {
			t.TTL, t.Roles = 7*duration.Day, map[string][]string{"ops": {"users:read", "admin:write"}, "reader": {"users:read"}}
		}, []string{"roles"}},
		{"repository not allowed", strict, func(t *policy.Token) {
			t.TTL = 7 * duration.Day
			t.Destinations[1].Config.Repository = "evil/api"
		}, []string{"github_secrets[0].repository"}},
		{"repository glob with prefix", strict, func(t *policy.Token) {
			t.TTL = 7 * duration.Day
			t.Destinations[1].Config.Repository = "other/api-billing"
		}, nil},
		{"dependabot repository checked", strict, func(t *policy.Token) {
			t.TTL = 7 * duration.Day
			t.Destinations = append(t.Destinations, policy.Destination{Path: "github_dependabot_secrets[0]", Kind: destination.KindDependabotSecret,
				Config: destination.Config{Repository: "other/web", Name: "T"}})
		}, []string{"github_dependabot_secrets[0].repository"}},
		{"organization repositories checked, bare names in the organization", strict, func(t *policy.Token) {
			t.TTL = 7 * duration.Day
			t.Destinations = append(t.Destinations, policy.Destination{Path: "github_organization_secrets[0]", Kind: destination.KindOrganizationSecret,
				Config: destination.Config{Organization: "other", Name: "T", Visibility: "selected", Repositories: []string{"api-x", "web", "acme/api"}}})
		}, []string{"github_organization_secrets[0].repositories[1]"}},
		{"organization visible to all repositories of a partly allowed organization", strict, func(t *policy.Token) {
			t.TTL = 7 * duration.Day
			t.Destinations = append(t.Destinations, policy.Destination{Path: "github_organization_secrets[0]", Kind: destination.KindOrganizationSecret,
				Config: destination.Config{Organization: "other", Name: "T", Visibility: "all"}})
		}, []string{"github_organization_secrets[0].visibility"}},
		{"organization visible to all of an allowed organization", strict, func(t *policy.Token) {
			t.TTL = 7 * duration.Day
			t.Destinations = append(t.Destinations, policy.Destination{Path: "github_organization_secrets[0]", Kind: destination.KindOrganizationSecret,
				Config: destination.Config{Organization: "acme", Name: "T", Visibility: "private"}})
		}, nil},
		{"every violation at once", strict, func(t *policy.Token) {
			t.Owner, t.Scopes, t.Overlap = "", []string{"admin:read"}, 0
			t.Destinations[1].Config.Repository = "evil/api"
		}, []string{"owner", "scopes", "ttl", "overlap", "github_secrets[0].repository"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tok := base()
			tc.edit(&tok)
			got := tc.policy.CheckToken(tok)
			if !slices.Equal(fields(got), tc.want) {
				t.Fatalf("violations %v, want fields %v", got, tc.want)
			}
			for _, v := range got {
				if v.Message == "" {
					t.Errorf("%s: empty message", v.Field)
				}
			}
		})
	}
}

func TestCheckPolicy(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		policy policy.Policy
		want   []string
	}{
		{"zero", policy.Policy{}, nil},
		{"good", policy.Policy{MaxTTL: time.Hour, ForbiddenScopes: []string{"*", "admin:*", "billing:delete"}, AllowedRepositories: []string{"acme/*", "a/b"}}, nil},
		{"negative durations", policy.Policy{MaxTTL: -1, MinOverlap: -1}, []string{"max_ttl", "min_overlap"}},
		{"bad scope patterns", policy.Policy{ForbiddenScopes: []string{"admin", "*:read", "admin:wr*", ":x", "ok:ok"}},
			[]string{"forbidden_scopes[0]", "forbidden_scopes[1]", "forbidden_scopes[2]", "forbidden_scopes[3]"}},
		{"bad globs", policy.Policy{AllowedRepositories: []string{"acme", "acme/[", "a/b/c", "/x", "acme/*"}},
			[]string{"allowed_repositories[0]", "allowed_repositories[1]", "allowed_repositories[2]", "allowed_repositories[3]"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := tc.policy.Check(); !slices.Equal(fields(got), tc.want) {
				t.Fatalf("violations %v, want fields %v", got, tc.want)
			}
		})
	}
}

func TestCheckRole(t *testing.T) {
	t.Parallel()
	p := policy.Policy{ForbiddenScopes: []string{"admin:*", "billing:delete"}}
	cases := []struct {
		scopes []string
		want   int
	}{
		{nil, 0},
		{[]string{"billing:read", "users:*"}, 0},
		{[]string{"admin:write"}, 1},
		{[]string{"billing:*", "admin:read", "users:read"}, 2}, // billing:* grants billing:delete
	}
	for _, c := range cases {
		got := p.CheckRole(c.scopes)
		if len(got) != c.want {
			t.Errorf("CheckRole(%v) = %v, want %d violations", c.scopes, got, c.want)
		}
		for _, v := range got {
			if v.Field != "scopes" {
				t.Errorf("violation on %q, want scopes", v.Field)
			}
		}
	}
}

func TestEmpty(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		p    policy.Policy
		want bool
	}{
		"zero":                 {policy.Policy{}, true},
		"max_ttl":              {policy.Policy{MaxTTL: time.Hour}, false},
		"min_overlap":          {policy.Policy{MinOverlap: time.Hour}, false},
		"require_owner":        {policy.Policy{RequireOwner: true}, false},
		"forbidden_scopes":     {policy.Policy{ForbiddenScopes: []string{"*"}}, false},
		"allowed_repositories": {policy.Policy{AllowedRepositories: []string{"acme/*"}}, false},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if got := c.p.Empty(); got != c.want {
				t.Errorf("Empty() = %v, want %v", got, c.want)
			}
		})
	}
}

func TestAllowedPaths(t *testing.T) {
	t.Parallel()
	pol := policy.Policy{AllowedPaths: []string{"/etc/app/*", "/srv/*/secrets/**", "/opt/app.env"}}
	cases := []struct {
		file string
		want bool
	}{
		{"/etc/app/token", true},
		{"/etc/app/sub/token", false}, // * stays within one folder
		{"/etc/app", false},
		{"/srv/api/secrets/app.env", true},
		{"/srv/api/secrets/deep/er/app.env", true},
		{"/srv/api/secrets", false}, // ** is what is under the folder, not the folder
		{"/srv/api/other/app.env", false},
		{"/opt/app.env", true},
		{"/etc/app/../../root/.ssh/authorized_keys", false}, // cleaned: /root/.ssh/authorized_keys
		{"/srv/api/secrets/../../../etc/shadow", false},
		{"/etc/app/./token", true},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			tok := base()
			tok.Destinations = []policy.Destination{{Path: "files[0]", Kind: destination.KindFile, Config: destination.Config{Path: tc.file, Format: "raw"}}}
			vs := pol.CheckToken(tok)
			if got := len(vs) == 0; got != tc.want || pol.PathAllowed(tc.file) != tc.want {
				t.Fatalf("%s: violations %v, PathAllowed %v; want allowed = %v", tc.file, vs, pol.PathAllowed(tc.file), tc.want)
			}
			if !tc.want && (vs[0].Field != "files[0].path" || !strings.Contains(vs[0].Message, "allowed_paths")) {
				t.Errorf("violation %v, want one on files[0].path naming allowed_paths", vs[0])
			}
		})
	}
	t.Run("relative path", func(t *testing.T) {
		tok := base()
		tok.Destinations[0].Config.Path = "secrets/app.env"
		if vs := pol.CheckToken(tok); len(vs) != 1 || !strings.Contains(vs[0].Message, "relative") {
			t.Errorf("violations %v, want one saying the path is relative", vs)
		}
	})
	t.Run("every path", func(t *testing.T) {
		if !(policy.Policy{AllowedPaths: []string{"/**"}}).PathAllowed("/root/x") {
			t.Error(`"/**" does not allow /root/x`)
		}
	})
	t.Run("GitHub destinations are not paths", func(t *testing.T) {
		tok := base()
		tok.Destinations = tok.Destinations[1:]
		if vs := pol.CheckToken(tok); len(vs) != 0 {
			t.Errorf("violations %v for a token without files", vs)
		}
	})
}

func TestCheckPathGlobs(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		glob string
		ok   bool
	}{
		{"/etc/app/*", true}, {"/srv/app/**", true}, {"/**", true}, {"/srv/[ab]pp/*", true},
		{"etc/app/*", false}, {"/srv/**/x", false}, {"/srv/app/", false}, {"/srv/../etc/*", false}, {"/srv/[a", false}, {"", false},
	} {
		vs := policy.Policy{AllowedPaths: []string{tc.glob}}.Check()
		if (len(vs) == 0) != tc.ok {
			t.Errorf("Check of allowed_paths %q = %v, want ok %v", tc.glob, vs, tc.ok)
		}
		if !tc.ok && len(vs) > 0 && vs[0].Field != "allowed_paths[0]" {
			t.Errorf("violation on %s, want allowed_paths[0]", vs[0].Field)
		}
	}
}
