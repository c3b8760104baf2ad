package review_test

import (
	"strings"
	"testing"

	tfjson "github.com/hashicorp/terraform-json"

	"github.com/tokenward/terraform-provider-tokenward/internal/policy"
	"github.com/tokenward/terraform-provider-tokenward/internal/review"
)

// file is a files entry as the plan JSON has it; resolved "" leaves
// resolved_path out, as a plan of a provider that did not resolve paths.
func file(path, format, resolved string) obj {
	o := obj{"path": path, "format": format, "key": nil}
	if resolved != "" {
		o["resolved_path"] = resolved
	}
	return o
}

// fileChange is a plan that creates token t delivering to one file.
func fileChange(f obj) *tfjson.ResourceChange {
	return change("tokenward_token", "t", create, nil, token("t", "files", []any{f}), nil)
}

// riskOf is the highest level of the flags about the file: those that
// name it, leaving out what every new token gets.
func riskOf(rep review.Report) (review.Level, string) {
	var l review.Level
	var msgs []string
	for _, ch := range rep.Changes {
		for _, f := range ch.Flags {
			if strings.Contains(f.Message, "file ") {
				l = max(l, f.Level)
				msgs = append(msgs, f.Level.String()+": "+f.Message)
			}
		}
	}
	return l, strings.Join(msgs, "\n")
}

// TestFileDestinationFlags: a file destination is flagged by where it
// writes: high for a path that hands over the host whatever the policy
// allows, warn under /etc and for any new file, each checked cleaned and
// resolved.
func TestFileDestinationFlags(t *testing.T) {
	cases := []struct {
		path, resolved string
		want           review.Level
		phrase         string
	}{
		{"/root/.ssh/authorized_keys", "", review.High, "authorized_keys"},
		{"/srv/app/authorized_keys2", "", review.High, "authorized_keys"},
		{"/home/app/.ssh/config", "", review.High, ".ssh folder"},
		{"/root/token", "", review.High, "root's home"},
		{"/etc/sudoers", "", review.High, "sudo"},
		{"/etc/sudoers.d/app", "", review.High, "sudo"},
		{"/etc/cron.d/app", "", review.High, "cron"},
		{"/etc/crontab", "", review.High, "cron"},
		{"/etc/systemd/system/app.service", "", review.High, "systemd"},
		{"/etc/passwd", "", review.High, "user database"},
		{"/etc/shadow", "", review.High, "user database"},
		{"/usr/local/bin/app", "", review.High, "programs"},
		{"/bin/sh", "", review.High, "programs"},
		{"/sbin/init", "", review.High, "programs"},
		{"/lib/x.so", "", review.High, "programs"},
		{"/boot/grub/grub.cfg", "", review.High, "boot"},
		{"/etc/../root/.bashrc", "", review.High, "root's home"},
		{"/srv/app/../../etc/cron.daily/x", "", review.High, "cron"},
		{"secrets/app.env", "/root/secrets/app.env", review.High, "resolved to `/root/secrets/app.env`"},
		{"/etc/app/token", "", review.Warn, "under /etc"},
		{"/srv/app/.env", "", review.Warn, "new file"},
		{"/usrlocal/app.env", "", review.Warn, "new file"},
		{"secrets/app.env", "", review.Warn, "relative"},
	}
	for _, tc := range cases {
		t.Run(tc.path, func(t *testing.T) {
			rep := review.Build(&tfjson.Plan{ResourceChanges: []*tfjson.ResourceChange{fileChange(file(tc.path, "dotenv", tc.resolved))}}, review.Options{})
			l, msgs := riskOf(rep)
			if l != tc.want || !strings.Contains(msgs, tc.phrase) {
				t.Errorf("file flags of %s:\n%s\nwant the highest %s, one saying %q", tc.path, msgs, tc.want, tc.phrase)
			}
		})
	}
}

func TestFileDestinationChanges(t *testing.T) {
	keys := []any{file("/root/.ssh/authorized_keys", "raw", "")}
	pol := policy.Policy{AllowedPaths: []string{"/srv/**"}}
	cases := []struct {
		name   string
		change *tfjson.ResourceChange
		pol    policy.Policy
		want   []string
		never  []string
		detail string // a line the report holds
	}{
		{
			name:   "a raw token to root's authorized_keys",
			change: fileChange(file("/root/.ssh/authorized_keys", "raw", "")),
			want: []string{
				"tokenward_token.t high reach file `/root/.ssh/authorized_keys` (raw) is an SSH authorized_keys file",
				"tokenward_token.t warn breakage a raw destination replaces the whole of file `/root/.ssh/authorized_keys`",
				"tokenward_token.t warn reach the token is written to a new file",
			},
		},
		{
			name:   "a file every user can read",
			change: fileChange(obj{"path": "/srv/app.env", "format": "dotenv", "mode": "0644"}),
			want:   []string{"tokenward_token.t high reach gets mode `0644`: every user of the host can read"},
		},
		{
			name:   "a file its group can write",
			change: fileChange(obj{"path": "/srv/app.env", "format": "dotenv", "mode": "0660"}),
			want:   []string{"tokenward_token.t warn reach gets mode `0660`: the file's group can replace"},
		},
		{
			name:   "a file its group can read",
			change: fileChange(obj{"path": "/srv/app.env", "format": "dotenv", "mode": "0640"}),
			never:  []string{"gets mode"},
		},
		{
			name:   "a path outside allowed_paths",
			change: fileChange(file("/etc/app/token", "dotenv", "")),
			pol:    pol,
			want:   []string{"tokenward_token.t high reach policy: `files[0].path`: \"/etc/app/token\" is not allowed by the policy (allowed_paths: /srv/**)"},
		},
		{
			name:   "a path that climbs out of allowed_paths",
			change: fileChange(file("/srv/../root/x", "dotenv", "")),
			pol:    pol,
			want:   []string{"tokenward_token.t high reach policy: `files[0].path`: \"/root/x\" (as \"/srv/../root/x\") is not allowed"},
		},
		{
			name:   "a resolved path inside allowed_paths",
			change: fileChange(file("secrets/app.env", "dotenv", "/srv/infra/secrets/app.env")),
			pol:    pol,
			never:  []string{"policy:"},
		},
		{
			name:   "a scope change leaves the file alone",
			change: change("tokenward_token", "t", update, token("t", "files", keys), token("t", "files", keys, "scopes", []any{"b:read"}), nil),
			never:  []string{"authorized_keys file"},
		},
		{
			name: "a rotation writes the file again",
			change: change("tokenward_token", "t", update, token("t", "files", keys, "rotation_triggers", obj{"a": "1"}),
				token("t", "files", keys, "rotation_triggers", obj{"a": "2"}), nil),
			want:  []string{"tokenward_token.t high reach authorized_keys file"},
			never: []string{"a raw destination"},
		},
		{
			name: "a relative stored path resolved",
			change: change("tokenward_token", "t", update, token("t", "files", []any{file("secrets/app.env", "dotenv", "")}),
				token("t", "files", []any{file("secrets/app.env", "dotenv", "/srv/infra/secrets/app.env")}), nil),
			never:  []string{"now delivered", "is removed", "warn", "high"},
			detail: "resolved: `secrets/app.env` was stored relative",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rep := review.Build(&tfjson.Plan{ResourceChanges: []*tfjson.ResourceChange{c.change}}, review.Options{Policy: c.pol, PolicySource: "test"})
			for _, w := range c.want {
				parts := strings.SplitN(w, " ", 4)
				l, err := review.ParseLevel(parts[1])
				if err != nil {
					t.Fatal(err)
				}
				if !hasFlag(rep, parts[0], l, review.Category(parts[2]), parts[3]) {
					t.Errorf("no flag %q in\n%s", w, rep.Markdown())
				}
			}
			if !strings.Contains(rep.Markdown(), c.detail) {
				t.Errorf("the report does not say %q:\n%s", c.detail, rep.Markdown())
			}
			for _, n := range c.never {
				if out := rep.Markdown(); strings.Contains(out, n) {
					t.Errorf("the report holds %q:\n%s", n, out)
				}
			}
		})
	}
}
