package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/destination"
	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/rotation"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
)

// withFileTokens adds tokens delivered to dotenv files in dir, issued at the
// world's clock, and returns the files.
func (w world) withFileTokens(t *testing.T, dir string, names ...string) map[string]string {
	t.Helper()
	ctx := t.Context()
	reg, err := registry.Open(ctx, registry.Config{Getenv: w.getenv})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	files := map[string]string{}
	for _, name := range names {
		path := filepath.Join(dir, name+".env")
		d, err := destination.New(destination.KindFile, destination.Config{Path: path, Key: "TOKEN", Format: destination.FormatDotenv})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := reg.CreateToken(ctx, registry.TokenSpec{Name: name, Scopes: []string{"billing:read"},
			Lifetime:     store.Lifetime{TTL: 30 * 24 * time.Hour, RotateBefore: 7 * 24 * time.Hour, Overlap: 24 * time.Hour},
			Destinations: []store.Destination{d}}); err != nil {
			t.Fatal(err)
		}
		if _, err := rotation.New(reg, destination.NewRouter(nil)).Rotate(ctx, name); err != nil {
			t.Fatal(err)
		}
		files[name] = path
	}
	return files
}

func readValue(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(strings.TrimPrefix(string(b), "TOKEN="))
}

// noValueOutsideMasks fails when a value appears in text other than on an
// ::add-mask:: line.
func noValueOutsideMasks(t *testing.T, what, text string, values ...string) {
	t.Helper()
	for _, v := range values {
		for _, line := range strings.Split(text, "\n") {
			if strings.Contains(line, v) && !strings.HasPrefix(line, "::add-mask::") {
				t.Fatalf("%s shows a token value: %q", what, line)
			}
		}
	}
}

func TestRotateInWorkflow(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	w := newWorld(t)
	files := w.withFileTokens(t, dir, "api", "web")
	old := map[string]string{"api": readValue(t, files["api"]), "web": readValue(t, files["web"])}
	outFile, summaryFile := filepath.Join(dir, "output"), filepath.Join(dir, "summary")
	for _, f := range []string{outFile, summaryFile} {
		if err := os.WriteFile(f, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	due := w.with("TOKENWARD_NOW", "2026-12-21T09:00:00Z", "GITHUB_ACTIONS", "true",
		"GITHUB_OUTPUT", outFile, "GITHUB_STEP_SUMMARY", summaryFile, "INPUT_COMMAND", "rotate")
	r := due.run(t, "") // the command comes from the action input
	if r.code != 0 {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	newValues := []string{readValue(t, files["api"]), readValue(t, files["web"])}
	for i, name := range []string{"api", "web"} {
		if newValues[i] == old[name] {
			t.Fatalf("%s was not rotated", name)
		}
		// The mask comes before any other line about the value's token.
		mask := strings.Index(r.stdout, "::add-mask::"+newValues[i]+"\n")
		if mask < 0 {
			t.Fatalf("the new value of %s is not masked:\n%s", name, r.stdout)
		}
		if first := strings.Index(r.stdout, name+" "); first >= 0 && first < mask {
			t.Fatalf("%s is reported before its value is masked:\n%s", name, r.stdout)
		}
	}
	outputs, _ := os.ReadFile(outFile)
	summary, _ := os.ReadFile(summaryFile)
	for _, want := range []string{"rotated<<", "\n2\n", "failed<<", "\n0\n", "next-due<<", "2027-01-13T09:00:00Z"} {
		if !strings.Contains(string(outputs), want) {
			t.Fatalf("outputs lack %q:\n%s", want, outputs)
		}
	}
	for _, want := range []string{"| Token | Destinations | Fingerprint | Result | Next rotation |", "| api | file:", " → tw_", "| rotated |", "**2 rotated, 0 failed, 0 still due.**"} {
		if !strings.Contains(string(summary), want) {
			t.Fatalf("summary lacks %q:\n%s", want, summary)
		}
	}
	all := append(append([]string{}, newValues...), old["api"], old["web"])
	noValueOutsideMasks(t, "stdout", r.stdout, all...)
	noValueOutsideMasks(t, "stderr", r.stderr, all...)
	noValueOutsideMasks(t, "outputs", string(outputs), all...)
	noValueOutsideMasks(t, "summary", string(summary), all...)

	// The new values verify; the old ones until the overlap ends.
	for _, tc := range []struct {
		value, now string
		exit       int
	}{
		{newValues[0], "2026-12-21T10:00:00Z", 0},
		{old["api"], "2026-12-22T08:59:00Z", 0},
		{old["api"], "2026-12-22T09:00:00Z", 1},
	} {
		if r := w.with("TOKENWARD_NOW", tc.now).run(t, tc.value, "verify"); r.code != tc.exit {
			t.Fatalf("verify at %s: exit %d, want %d\n%s", tc.now, r.code, tc.exit, r.stdout)
		}
	}
	if r := w.run(t, "", "audit", "verify"); r.code != 0 {
		t.Fatalf("audit verify after rotation: %s%s", r.stdout, r.stderr)
	}
}

func TestRotateOutsideWorkflow(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	w := newWorld(t)
	files := w.withFileTokens(t, dir, "api", "web", "worker")
	old := readValue(t, files["api"])

	// Not due: nothing happens, and the plain report says when the next is.
	r := w.run(t, "", "rotate")
	if r.code != 0 || !strings.Contains(r.stdout, "0 rotated, 0 failed") || !strings.Contains(r.stdout, "next due: 2026-12-20T09:00:00Z") {
		t.Fatalf("run before due: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	due := w.with("TOKENWARD_NOW", "2026-12-21T09:00:00Z")
	r = due.run(t, "", "rotate", "--dry-run")
	if r.code != 0 || !strings.Contains(r.stdout, "3 due (dry run: nothing changed)") || readValue(t, files["api"]) != old {
		t.Fatalf("dry run: exit %d\n%s", r.code, r.stdout)
	}
	r = due.run(t, "", "rotate", "--max-rotations", "2")
	if r.code != 0 || !strings.Contains(r.stdout, "2 rotated, 0 failed, 1 still due") || !strings.Contains(r.stdout, "still due: worker (due)") {
		t.Fatalf("bounded run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = due.run(t, "", "rotate", "--force", "--token", "api")
	if r.code != 0 || !strings.Contains(r.stdout, "1 rotated") {
		t.Fatalf("forced run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = due.run(t, "", "rotate", "--token", "nope")
	if r.code != exitUsage || !strings.Contains(r.stderr, `no token is named "nope"`) {
		t.Fatalf("unknown token: exit %d\n%s", r.code, r.stderr)
	}
	r = due.run(t, "", "rotate", "--max-rotations", "-1")
	if r.code != exitUsage {
		t.Fatalf("negative bound: exit %d", r.code)
	}
}

func TestRotateReportsFailures(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	w := newWorld(t)
	files := w.withFileTokens(t, dir, "api")
	old := readValue(t, files["api"])
	// Make the file's folder unwritable by replacing the file with a folder.
	if err := os.Remove(files["api"]); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(files["api"], 0o700); err != nil {
		t.Fatal(err)
	}
	summary := filepath.Join(dir, "summary")
	os.WriteFile(summary, nil, 0o600)
	due := w.with("TOKENWARD_NOW", "2026-12-21T09:00:00Z", "GITHUB_ACTIONS", "true", "GITHUB_STEP_SUMMARY", summary)
	r := due.run(t, "", "rotate")
	if r.code != exitFailed || !strings.Contains(r.stdout, "::error::rotate api: delivery failed: file:") {
		t.Fatalf("failed run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if b, _ := os.ReadFile(summary); !strings.Contains(string(b), "failed: rotate api") {
		t.Fatalf("summary:\n%s", b)
	}
	// The old value still verifies; once the folder is a file again the next
	// run finishes the rotation.
	if r := due.run(t, old, "verify"); r.code != 0 {
		t.Fatalf("old value after a failed rotation: %s", r.stdout)
	}
	os.Remove(files["api"])
	r = due.run(t, "", "rotate")
	if r.code != 0 || !strings.Contains(r.stdout, "rotated (resumed)") {
		t.Fatalf("next run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if v := readValue(t, files["api"]); v == old {
		t.Fatal("the file holds the old value")
	}
}

// TestRotateWithoutGitHubCredentials: a due token with a GitHub destination
// and no credentials fails with what to set, and the run exits 1.
func TestRotateWithoutGitHubCredentials(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	reg, err := registry.Open(t.Context(), registry.Config{Getenv: w.getenv})
	if err != nil {
		t.Fatal(err)
	}
	d, err := destination.New(destination.KindRepositorySecret, destination.Config{Repository: "acme/api", Name: "DEPLOY_TOKEN"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.CreateToken(t.Context(), registry.TokenSpec{Name: "deploy", Scopes: []string{"billing:read"},
		Lifetime:     store.Lifetime{TTL: 30 * 24 * time.Hour, RotateBefore: 7 * 24 * time.Hour, Overlap: 24 * time.Hour},
		Destinations: []store.Destination{d}}); err != nil {
		t.Fatal(err)
	}
	reg.Close()
	r := w.run(t, "", "rotate", "--token", "deploy")
	if r.code != exitFailed || !strings.Contains(r.stdout+r.stderr, "GitHub credentials are not configured") || !strings.Contains(r.stdout+r.stderr, "github-token") {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// TestRotateProgress: a run of many tokens says how far it is about every
// twentieth of the way and at least every progressEvery; a small run prints
// no progress lines.
func TestRotateProgress(t *testing.T) {
	cases := []struct {
		name     string
		total    int
		perToken time.Duration
		want     int      // progress lines
		first    string   // the first line, when there is one
		failedAt []int    // 1-based completions that fail
		last     []string // substrings of the last line
	}{
		{name: "small run", total: 9, perToken: time.Second, want: 0},
		{name: "ten tokens", total: 10, perToken: time.Second, want: 10,
			first: "tokenward: rotated 1 of 10 due tokens (0 failed), 1s elapsed"},
		{name: "fast large run", total: 1000, perToken: 10 * time.Millisecond, want: 20,
			first: "tokenward: rotated 50 of 1000 due tokens (1 failed), 1s elapsed", failedAt: []int{3, 999},
			last: []string{"1000 of 1000", "(2 failed)", "10s elapsed"}},
		// Paced at a second a token, a twentieth is 500 s: a line every
		// 30 s instead, and at each twentieth.
		{name: "paced large run", total: 10000, perToken: time.Second, want: 10000 / 30,
			first: "tokenward: rotated 30 of 10000 due tokens (0 failed), 30s elapsed",
			last:  []string{"10000 of 10000", "2h46m40s elapsed"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var stderr strings.Builder
			c := &cli{stderr: &stderr}
			clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			report := c.progress(func() time.Time { return clock })
			for done := 1; done <= tc.total; done++ {
				clock = clock.Add(tc.perToken)
				r := rotation.Result{Token: "t"}
				for _, f := range tc.failedAt {
					if f == done {
						r.Err = os.ErrDeadlineExceeded
					}
				}
				report(done, tc.total, r)
			}
			lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
			if stderr.Len() == 0 {
				lines = nil
			}
			if len(lines) < tc.want || len(lines) > tc.want+20 {
				t.Fatalf("%d progress lines, want %d (plus at most one per twentieth):\n%s", len(lines), tc.want, stderr.String())
			}
			if tc.want == 0 {
				return
			}
			if lines[0] != tc.first {
				t.Errorf("first line %q, want %q", lines[0], tc.first)
			}
			for _, s := range tc.last {
				if !strings.Contains(lines[len(lines)-1], s) {
					t.Errorf("last line %q lacks %q", lines[len(lines)-1], s)
				}
			}
		})
	}
}

// On a GitHub-hosted runner, whose disk is thrown away after the job, tokens
// that deliver to files are left out and named, not rotated into a file no
// consumer reads; the flag or the input can say otherwise.
func TestRotateLeavesOutFilesOnHostedRunner(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	w := newWorld(t)
	files := w.withFileTokens(t, dir, "on-host")
	old := readValue(t, files["on-host"])
	summary := filepath.Join(dir, "summary")
	if err := os.WriteFile(summary, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	hosted := w.with("TOKENWARD_NOW", "2026-12-21T09:00:00Z", "GITHUB_ACTIONS", "true", "RUNNER_ENVIRONMENT", "github-hosted",
		"GITHUB_STEP_SUMMARY", summary)

	r := hosted.run(t, "", "rotate")
	if r.code != 0 || readValue(t, files["on-host"]) != old {
		t.Fatalf("hosted run: exit %d, file rotated: %v\n%s%s", r.code, readValue(t, files["on-host"]) != old, r.stdout, r.stderr)
	}
	for _, want := range []string{"0 rotated", "next due: 2026-12-21T09:00:00Z", "::warning::on-host is due but left out: it delivers to files", "tokenward rotate --token on-host"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("hosted run does not say %q:\n%s", want, r.stdout)
		}
	}
	if b, _ := os.ReadFile(summary); !strings.Contains(string(b), "| on-host | due | left out") {
		t.Errorf("the step summary does not list the token left out:\n%s", b)
	}
	r = hosted.run(t, "", "rotate", "--dry-run")
	if !strings.Contains(r.stdout, "0 due (dry run") || !strings.Contains(r.stdout, "left out: on-host is due") {
		t.Errorf("dry run on a hosted runner:\n%s", r.stdout)
	}

	for name, env := range map[string]world{
		"the input says false": hosted.with("INPUT_SKIP-FILES", "false"),
		"a self-hosted runner": hosted.with("RUNNER_ENVIRONMENT", "self-hosted"),
	} {
		r = env.run(t, "", "rotate", "--dry-run")
		if !strings.Contains(r.stdout, "1 due (dry run") || strings.Contains(r.stdout, "left out") {
			t.Errorf("%s: the token is not planned:\n%s", name, r.stdout)
		}
	}
	if r = hosted.with("INPUT_SKIP-FILES", "maybe").run(t, "", "rotate"); r.code != exitUsage || !strings.Contains(r.stdout+r.stderr, "write true or false") {
		t.Errorf("a bad skip-files input: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = hosted.run(t, "", "rotate", "--skip-files=false")
	if r.code != 0 || readValue(t, files["on-host"]) == old {
		t.Fatalf("--skip-files=false: exit %d, not rotated\n%s%s", r.code, r.stdout, r.stderr)
	}
}
