package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestConfigSetValuesOffTheCommandLine: config set reads a value, or a
// dotenv or JSON document of values, from stdin or a file; a sensitive
// setting's value given as an argument is refused, not stored and not
// repeated, with the way to pass it.
func TestConfigSetValuesOffTheCommandLine(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	valueFile := write("pw.txt", "file-pw-Secret\n")
	docFile := write("values.env", "# alice\nexport ui.theme=blue\nsmtp.password='doc pw Secret'\n")
	badDoc := write("bad.env", "ui.theme=blue\nno-equals-Secret\n")
	cases := []struct {
		name     string
		stdin    string
		args     []string
		wantExit int
		want     map[string]string // key: its JSON value, as config get --reveal prints it
		stderr   string
		secret   string // must not be printed, nor stored when refused
	}{
		{name: "a value on stdin", stdin: "12345\n", args: []string{"--stdin", "smtp.password"},
			want: map[string]string{"smtp.password": `"12345"`}},
		{name: "a value from a file", args: []string{"--file", valueFile, "smtp.password"},
			want: map[string]string{"smtp.password": `"file-pw-Secret"`}},
		{name: "a JSON value on stdin for a list", stdin: `["k1","k2"]`, args: []string{"--stdin", "api.keys"},
			want: map[string]string{"api.keys": `["k1","k2"]`}},
		{name: "a dotenv document on stdin", stdin: "ui.theme=light\nsmtp.password=\"doc-Secret\"\n\n", args: []string{"--stdin"},
			want: map[string]string{"ui.theme": `"light"`, "smtp.password": `"doc-Secret"`}},
		{name: "a JSON document on stdin", stdin: ` {"ui.theme": "green", "api.keys": ["a"]}`, args: []string{"--stdin"},
			want: map[string]string{"ui.theme": `"green"`, "api.keys": `["a"]`}},
		{name: "a dotenv document from a file", args: []string{"--file", docFile},
			want: map[string]string{"ui.theme": `"blue"`, "smtp.password": `"doc pw Secret"`}},
		{name: "a plain setting as an argument still works", args: []string{"ui.theme=dark-red"},
			want: map[string]string{"ui.theme": `"dark-red"`}},
		{name: "a sensitive value as an argument is refused", args: []string{"ui.theme=x", "smtp.password=argv-Secret-7"},
			wantExit: exitUsage, stderr: "smtp.password is a sensitive setting: its value must not be an argument", secret: "argv-Secret-7",
			want: map[string]string{"ui.theme": `"dark"`, "smtp.password": `"smtp-Secret-99"`}},
		{name: "a sensitive list as an argument is refused", args: []string{`api.keys=["argv-Secret-8"]`},
			wantExit: exitUsage, stderr: "--stdin api.keys", secret: "argv-Secret-8"},
		{name: "KEY=VALUE with --stdin is refused unechoed", stdin: "x", args: []string{"--stdin", "smtp.password=argv-Secret-9"},
			wantExit: exitUsage, stderr: "give one KEY and no value", secret: "argv-Secret-9"},
		{name: "--stdin and --file together", args: []string{"--stdin", "--file", valueFile, "smtp.password"},
			wantExit: exitUsage, stderr: "give --stdin or --file, not both"},
		{name: "a bad dotenv line is named, not echoed", args: []string{"--file", badDoc},
			wantExit: exitUsage, stderr: "bad.env line 2 is not KEY=VALUE", secret: "no-equals-Secret"},
		{name: "bad JSON is located, not echoed", stdin: `{"smtp.password": "json-Secret-1",}`, args: []string{"--stdin"},
			wantExit: exitUsage, stderr: "standard input is not a valid JSON object (at byte", secret: "json-Secret-1"},
		{name: "a list value that is not JSON", stdin: "k1,k2", args: []string{"--stdin", "api.keys"},
			wantExit: exitUsage, stderr: "standard input does not hold a JSON value for api.keys, a list setting"},
		{name: "an empty document", stdin: "\n# nothing\n", args: []string{"--stdin"},
			wantExit: exitUsage, stderr: "standard input holds no values"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			r := w.run(t, tc.stdin, append([]string{"config", "set", "--user", "alice"}, tc.args...)...)
			if r.code != tc.wantExit || !strings.Contains(r.stderr, tc.stderr) {
				t.Fatalf("exit %d (want %d), stderr %q does not say %q", r.code, tc.wantExit, r.stderr, tc.stderr)
			}
			if tc.secret != "" && strings.Contains(r.stdout+r.stderr, tc.secret) {
				t.Fatalf("the value was echoed: %s%s", r.stdout, r.stderr)
			}
			got := w.run(t, "", "config", "get", "--user", "alice", "--reveal")
			var eff map[string]effectiveOutput
			if err := json.Unmarshal([]byte(got.stdout), &eff); err != nil {
				t.Fatalf("config get: %v\n%s", err, got.stdout)
			}
			for k, v := range tc.want {
				var g bytes.Buffer
				if err := json.Compact(&g, eff[k].Value); err != nil || g.String() != v {
					t.Errorf("%s = %s, want %s", k, eff[k].Value, v)
				}
			}
			if tc.secret != "" && strings.Contains(got.stdout, tc.secret) {
				t.Errorf("a refused value was stored:\n%s", got.stdout)
			}
		})
	}
}
