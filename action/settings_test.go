package main

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sethvargo/go-githubactions"
)

// TestGivenFlagWinsOverInput: a flag that was given wins over the action
// input that stands in for it, even when the flag says the default
// (--dry-run=false, --max-rotations=0); an input fills a flag that was not
// given. Each boolean and numeric flag is tried against an input that says
// the opposite.
func TestGivenFlagWinsOverInput(t *testing.T) {
	t.Parallel()
	const due, notDue = "2026-12-21T09:00:00Z", "2026-12-01T09:00:00Z"
	cases := []struct {
		name     string
		now      string
		inputs   []string // INPUT_* variable, value
		args     []string
		wantExit int
		want     []string // in stdout+stderr
		notWant  []string
	}{
		{name: "--dry-run=false beats input dry-run true", now: due, inputs: []string{"INPUT_DRY-RUN", "true"},
			args: []string{"rotate", "--dry-run=false"}, want: []string{"3 rotated, 0 failed"}, notWant: []string{"dry run"}},
		{name: "--dry-run beats input dry-run false", now: due, inputs: []string{"INPUT_DRY-RUN", "false"},
			args: []string{"rotate", "--dry-run"}, want: []string{"3 due (dry run: nothing changed)"}},
		{name: "input dry-run fills a flag not given", now: due, inputs: []string{"INPUT_DRY-RUN", "true"},
			args: []string{"rotate"}, want: []string{"3 due (dry run: nothing changed)"}},
		{name: "--force=false beats input force true", now: notDue, inputs: []string{"INPUT_FORCE", "true"},
			args: []string{"rotate", "--force=false", "--token", "api"}, want: []string{"0 rotated, 0 failed"}},
		{name: "--force beats input force false", now: notDue, inputs: []string{"INPUT_FORCE", "false"},
			args: []string{"rotate", "--force", "--token", "api"}, want: []string{"1 rotated, 0 failed"}},
		{name: "--skip-files=false beats input skip-files true", now: due, inputs: []string{"INPUT_SKIP-FILES", "true"},
			args: []string{"rotate", "--skip-files=false"}, want: []string{"3 rotated, 0 failed"}, notWant: []string{"left out"}},
		{name: "--skip-files beats input skip-files false", now: due, inputs: []string{"INPUT_SKIP-FILES", "false"},
			args: []string{"rotate", "--skip-files"}, want: []string{"0 rotated", "left out: api is due"}},
		{name: "--max-rotations=0 beats input max-rotations 1", now: due, inputs: []string{"INPUT_MAX-ROTATIONS", "1"},
			args: []string{"rotate", "--max-rotations=0"}, want: []string{"3 rotated, 0 failed, 0 still due"}},
		{name: "--max-rotations 1 beats input max-rotations 0", now: due, inputs: []string{"INPUT_MAX-ROTATIONS", "0"},
			args: []string{"rotate", "--max-rotations", "1"}, want: []string{"1 rotated, 0 failed, 2 still due"}},
		{name: "input max-rotations fills a flag not given", now: due, inputs: []string{"INPUT_MAX-ROTATIONS", "2"},
			args: []string{"rotate"}, want: []string{"2 rotated, 0 failed, 1 still due"}},
		{name: "--workers 1 beats input workers 0", now: due, inputs: []string{"INPUT_WORKERS", "0"},
			args: []string{"rotate", "--workers", "1"}, want: []string{"3 rotated, 0 failed"}},
		{name: "--workers 0 is refused whatever the input", now: due, inputs: []string{"INPUT_WORKERS", "2"},
			args: []string{"rotate", "--workers", "0"}, wantExit: exitUsage, want: []string{`invalid value "0" for flag -workers: must be 1 or more`}},
		{name: "input tokens fills --token", now: notDue, inputs: []string{"INPUT_TOKENS", "api, web", "INPUT_FORCE", "true"},
			args: []string{"rotate"}, want: []string{"2 rotated, 0 failed"}},
		{name: "--token beats input tokens", now: notDue, inputs: []string{"INPUT_TOKENS", "api, web", "INPUT_FORCE", "true"},
			args: []string{"rotate", "--token", "worker"}, want: []string{"1 rotated, 0 failed", "worker"}, notWant: []string{"api "}},
		{name: "review --fail-on never beats input fail-on info", inputs: []string{"INPUT_FAIL-ON", "info"},
			args: []string{"review", "--plan", reviewTestdata + "/settings.plan.json", "--fail-on", "never"}, want: []string{"tokenward review"}},
		{name: "review input fail-on fills a flag not given", inputs: []string{"INPUT_FAIL-ON", "info"},
			args: []string{"review", "--plan", reviewTestdata + "/settings.plan.json"}, wantExit: exitFailed, want: []string{"--fail-on info"}},
		// action.yml's fail-on defaults to empty, so each command keeps its
		// own default: high for review (and never for report).
		{name: "review empty input fail-on keeps high", inputs: []string{"INPUT_FAIL-ON", ""},
			args: []string{"review", "--plan", reviewTestdata + "/settings.plan.json"}, wantExit: exitFailed, want: []string{"--fail-on high"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			w.withFileTokens(t, t.TempDir(), "api", "web", "worker")
			if tc.now != "" {
				w = w.with("TOKENWARD_NOW", tc.now)
			}
			r := w.with(tc.inputs...).run(t, "", tc.args...)
			out := r.stdout + r.stderr
			if r.code != tc.wantExit {
				t.Fatalf("exit %d, want %d\n%s", r.code, tc.wantExit, out)
			}
			for _, s := range tc.want {
				if !strings.Contains(out, s) {
					t.Errorf("output lacks %q:\n%s", s, out)
				}
			}
			for _, s := range tc.notWant {
				if strings.Contains(out, s) {
					t.Errorf("output has %q:\n%s", s, out)
				}
			}
		})
	}
}

// TestBadNumbersAreRefused: a number flag or input out of its range, or not
// a number, is a usage error that names the flag or the input.
func TestBadNumbersAreRefused(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	cases := []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"workers 0", nil, []string{"rotate", "--workers", "0"}, `invalid value "0" for flag -workers: must be 1 or more`},
		{"workers negative", nil, []string{"rotate", "--workers=-3"}, `invalid value "-3" for flag -workers: must be 1 or more`},
		{"workers not a number", nil, []string{"rotate", "--workers", "many"}, `invalid value "many" for flag -workers: must be a whole number, 1 or more`},
		{"max-rotations negative", nil, []string{"rotate", "--max-rotations", "-1"}, `invalid value "-1" for flag -max-rotations: must be 0 or more`},
		{"input workers 0", []string{"INPUT_WORKERS", "0"}, []string{"rotate"}, `rotate: input workers is "0": must be 1 or more (it stands in for --workers)`},
		{"input max-rotations negative", []string{"INPUT_MAX-ROTATIONS", "-2"}, []string{"rotate"}, `rotate: input max-rotations is "-2": must be 0 or more`},
		{"input dry-run not a bool", []string{"INPUT_DRY-RUN", "maybe"}, []string{"rotate"}, `rotate: input dry-run is "maybe": write true or false`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := w.with(tc.env...).run(t, "", tc.args...)
			if r.code != exitUsage || !strings.Contains(r.stderr, tc.want) {
				t.Fatalf("exit %d, stderr %q; want exit %d and %q", r.code, r.stderr, exitUsage, tc.want)
			}
		})
	}
}

// TestHelpForEveryCommand: --help, -h and -help print a command's usage and
// exit 0, for every command and subcommand the usage lists, and for the
// command groups; none of them needs a store.
func TestHelpForEveryCommand(t *testing.T) {
	t.Parallel()
	commands := map[string]bool{}
	for _, line := range strings.Split(usage, "\n") {
		rest, ok := strings.CutPrefix(line, "  tokenward ")
		if !ok {
			continue
		}
		rest, _, _ = strings.Cut(rest, "  ") // the description
		var words []string
		for _, w := range strings.Fields(rest) {
			if strings.Trim(w, "abcdefghijklmnopqrstuvwxyz") != "" {
				break
			}
			words = append(words, w)
		}
		commands[strings.Join(words, " ")] = true
		if len(words) > 1 {
			commands[words[0]] = true // the group
		}
	}
	for _, want := range []string{"rotate", "review", "verify", "audit", "audit verify", "config", "config get", "config set", "config unset", "rekey", "version"} {
		if !commands[want] {
			t.Fatalf("the usage does not list %q: %v", want, commands)
		}
	}
	for cmd := range commands {
		for _, help := range []string{"--help", "-h", "-help"} {
			t.Run(cmd+" "+help, func(t *testing.T) {
				t.Parallel()
				r := plainEnv().run(t, "", append(strings.Fields(cmd), help)...)
				if r.code != exitOK || !strings.Contains(r.stdout+r.stderr, "Usage:\n  tokenward "+cmd) {
					t.Fatalf("exit %d, want 0 and the usage of %q\nstdout %q\nstderr %q", r.code, cmd, r.stdout, r.stderr)
				}
			})
		}
	}
}

// TestStoreFile: the binary reads the store's DSN from TOKENWARD_STORE_FILE,
// which wins over the action's store input as every TOKENWARD_* variable
// does; a --store flag wins over both.
func TestStoreFile(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	dsnFile := filepath.Join(t.TempDir(), "dsn")
	if err := os.WriteFile(dsnFile, []byte(w.path+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "missing", "tw.db")
	fromFile := w.with("TOKENWARD_STORE", "", "TOKENWARD_STORE_FILE", dsnFile, "INPUT_STORE", missing)
	r := fromFile.run(t, "", "config", "get", "--user", "alice")
	if r.code != exitOK || !strings.Contains(r.stdout, `"ui.theme"`) {
		t.Fatalf("store from the file: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = fromFile.run(t, "", "config", "get", "--user", "alice", "--store", missing)
	if r.code != exitTrouble || !strings.Contains(r.stderr, missing) {
		t.Fatalf("--store does not win over the file: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// TestWarnings: a master key file that its group or others may read, and a
// set TOKENWARD_NOW, are warned about on stderr (annotations in a
// workflow); the command still runs.
func TestWarnings(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	dir := t.TempDir()
	keyFile := func(name string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(w.env["TOKENWARD_MASTER_KEY"]+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	loose, groupOnly, tight := keyFile("loose.key", 0o644), keyFile("group.key", 0o640), keyFile("tight.key", 0o600)
	fromFile := w.with("TOKENWARD_MASTER_KEY", "")
	const nowWarning = "tokenward: warning: TOKENWARD_NOW is set: the clock is fixed: TOKENWARD_NOW=2026-11-27T09:00:00Z"
	cases := []struct {
		name    string
		w       world
		args    []string
		want    []string // in stderr, or in stdout for a workflow
		notWant []string
	}{
		{"a loose key file", fromFile.with("TOKENWARD_NOW", "", "TOKENWARD_MASTER_KEY_FILE", loose), nil,
			[]string{"tokenward: warning: the master key file is readable by others: " + loose + " has mode 0644", "chmod 600 " + loose}, []string{"TOKENWARD_NOW"}},
		{"a key file the group may read, from the flag", fromFile.with("TOKENWARD_NOW", ""), []string{"--master-key-file", groupOnly},
			[]string{groupOnly + " has mode 0640"}, nil},
		{"a tight key file and no clock", fromFile.with("TOKENWARD_NOW", "", "TOKENWARD_MASTER_KEY_FILE", tight), nil,
			nil, []string{"warning"}},
		{"a fixed clock", w, nil, []string{nowWarning, "for tests and drills only"}, nil},
		{"in a workflow", fromFile.with("GITHUB_ACTIONS", "true", "TOKENWARD_MASTER_KEY_FILE", loose), nil,
			[]string{"::warning::TOKENWARD_NOW is set", "::warning::the master key file is readable by others"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.w.run(t, "", append([]string{"config", "get", "--user", "alice"}, tc.args...)...)
			if r.code != exitOK {
				t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}
			out := r.stderr
			if tc.w.env["GITHUB_ACTIONS"] == "true" {
				out = r.stdout
			}
			for _, s := range tc.want {
				if !strings.Contains(out, s) {
					t.Errorf("the output lacks %q:\n%s", s, out)
				}
			}
			for _, s := range tc.notWant {
				if strings.Contains(r.stderr, s) {
					t.Errorf("stderr has %q:\n%s", s, r.stderr)
				}
			}
			if strings.Contains(r.stdout+r.stderr, w.env["TOKENWARD_MASTER_KEY"]) {
				t.Fatal("the key was printed")
			}
		})
	}
}

// TestResolveOrder: a given flag, then its TOKENWARD_* variable, then its
// action input, then its default; a list input is split, and a value the
// flag's parser refuses names where it came from.
func TestResolveOrder(t *testing.T) {
	t.Parallel()
	sources := map[string]flagSource{
		"create": {env: "TOKENWARD_TEST_CREATE", input: "create"},
		"limit":  {env: "TOKENWARD_TEST_LIMIT", input: "limit"},
		"name":   {input: "names", list: true},
	}
	cases := []struct {
		name    string
		env     map[string]string
		args    []string
		create  bool
		limit   int
		names   string
		wantErr string
	}{
		{name: "defaults", limit: 7},
		{name: "the input", env: map[string]string{"INPUT_CREATE": "true", "INPUT_LIMIT": "3", "INPUT_NAMES": "a, b\nc"}, create: true, limit: 3, names: "a,b,c"},
		{name: "the variable beats the input", env: map[string]string{"TOKENWARD_TEST_CREATE": "false", "INPUT_CREATE": "true", "TOKENWARD_TEST_LIMIT": "2", "INPUT_LIMIT": "3"}, limit: 2},
		{name: "a given flag beats both", env: map[string]string{"TOKENWARD_TEST_CREATE": "true", "INPUT_CREATE": "true", "TOKENWARD_TEST_LIMIT": "2", "INPUT_NAMES": "a"},
			args: []string{"--create=false", "--limit=0", "--name", "z"}, limit: 0, names: "z"},
		{name: "a bad variable", env: map[string]string{"TOKENWARD_TEST_LIMIT": "-1"}, wantErr: `TOKENWARD_TEST_LIMIT is "-1": must be 0 or more (it stands in for --limit)`},
		{name: "a bad input", env: map[string]string{"INPUT_CREATE": "yes please"}, wantErr: `input create is "yes please": write true or false`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			getenv := func(k string) string { return tc.env[k] }
			c := &cli{getenv: getenv, gha: githubactions.New(githubactions.WithGetenv(getenv))}
			fs := flag.NewFlagSet("tokenward test", flag.ContinueOnError)
			create := fs.Bool("create", false, "")
			limit := intFlag(fs, "limit", 7, 0, "")
			var names stringList
			fs.Var(&names, "name", "")
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			err := c.resolve(fs, sources)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || *create != tc.create || *limit != tc.limit || names.String() != tc.names {
				t.Fatalf("create %v, limit %d, names %q, err %v; want %v, %d, %q", *create, *limit, names.String(), err, tc.create, tc.limit, tc.names)
			}
		})
	}
}

// TestCommandsRefuseArguments: a command that takes flags only refuses an
// argument before it opens anything (`tokenward rekey help` rekeys nothing)
// and never echoes it: a token pasted as an argument must not reach a log.
func TestCommandsRefuseArguments(t *testing.T) {
	t.Parallel()
	const pasted = "tw_pastedbymistake0000000000000000000000000000000000"
	for _, cmd := range [][]string{{"rotate"}, {"review"}, {"verify"}, {"audit", "verify"}, {"audit", "pubkey"}, {"config", "get", "--user", "alice"}, {"rekey"}} {
		t.Run(strings.Join(cmd, " "), func(t *testing.T) {
			t.Parallel()
			r := plainEnv().run(t, "", append(cmd, pasted)...)
			if r.code != exitUsage || !strings.Contains(r.stderr, "unexpected argument (1 given, not shown)") {
				t.Fatalf("exit %d, stderr %q; want %d saying unexpected argument", r.code, r.stderr, exitUsage)
			}
			if strings.Contains(r.stdout+r.stderr, pasted) {
				t.Fatalf("the argument was echoed: %q", r.stdout+r.stderr)
			}
		})
	}
}

// TestLongTokenNameIsCut: a 5,000-character --token is refused by its
// length, quoting only its start.
func TestLongTokenNameIsCut(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", 5000)
	r := plainEnv().run(t, "", "rotate", "--token", long)
	if r.code != exitUsage || !strings.Contains(r.stderr, "is 5000 characters long; a token's name is at most 128") || strings.Contains(r.stderr, long[:100]) {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
}
