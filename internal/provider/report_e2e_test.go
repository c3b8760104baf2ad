package provider_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/tokenward/terraform-provider-tokenward/internal/destination/githubtest"
	"github.com/tokenward/terraform-provider-tokenward/internal/seal"
)

// The report's end-to-end test (issue 17) lives here rather than in
// action/: it needs a real terraform, which only the acceptance run (make
// testacc) has. It runs the tokenward binary, built once, for everything
// after the apply, as a workflow would.

// tokenwardBin is the tokenward command, built by buildTokenward.
var tokenwardBin struct {
	mu   sync.Mutex
	path string
}

// buildTokenward builds the tokenward command into a folder the test
// removes when it ends; the helpers below run it.
func buildTokenward(t *testing.T) {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "tokenward")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/tokenward/terraform-provider-tokenward/action").CombinedOutput()
	if err != nil {
		t.Fatalf("build tokenward: %v\n%s", err, out)
	}
	tokenwardBin.mu.Lock()
	tokenwardBin.path = bin
	tokenwardBin.mu.Unlock()
	t.Cleanup(func() {
		tokenwardBin.mu.Lock()
		tokenwardBin.path = ""
		tokenwardBin.mu.Unlock()
	})
}

// tokenwardBinary is the command buildTokenward built.
func tokenwardBinary(t *testing.T) string {
	t.Helper()
	tokenwardBin.mu.Lock()
	defer tokenwardBin.mu.Unlock()
	if tokenwardBin.path == "" {
		t.Fatal("tokenward is not built: call buildTokenward first")
	}
	return tokenwardBin.path
}

// twRun is one run of the tokenward binary.
type twRun struct {
	code           int
	stdout, stderr string
}

// tokenward runs the binary with exactly env (and PATH), stdin and args.
func tokenward(t *testing.T, env map[string]string, stdin string, args ...string) twRun {
	t.Helper()
	cmd := exec.Command(tokenwardBinary(t), args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var out, errOut bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = strings.NewReader(stdin), &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	r := twRun{stdout: out.String(), stderr: errOut.String()}
	switch {
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	case err != nil:
		t.Fatalf("tokenward %v: %v", args, err)
	}
	return r
}

// nowWarning is what every command prints on stderr when TOKENWARD_NOW
// fixes the clock.
func nowWarning(now string) string {
	return "tokenward: warning: TOKENWARD_NOW is set: the clock is fixed: TOKENWARD_NOW=" + now +
		": tokens are issued, rotated and verified as if it were that time. It is for tests and drills only; unset it everywhere else.\n"
}

// with is env with kv (key, value, ...) set; an empty value unsets.
func with(env map[string]string, kv ...string) map[string]string {
	out := map[string]string{}
	for k, v := range env {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			delete(out, kv[i])
			continue
		}
		out[kv[i]] = kv[i+1]
	}
	return out
}

// serveUsage starts `tokenward serve` on a loopback port with env, sends
// each request (a token value and the scope asked of /v1/authz), and stops
// it with SIGTERM, which writes what the usage log and the alert log
// queued. It returns the server's output.
func serveUsage(t *testing.T, env map[string]string, requests [][2]string) string {
	t.Helper()
	cmd := exec.Command(tokenwardBinary(t), "serve", "--listen", "127.0.0.1:0", "--instance", "edge-1")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var out bytes.Buffer
	var mu sync.Mutex
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	defer func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}()
	found := make(chan string, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		serving := regexp.MustCompile(`serving on (http://[0-9.:]+)`)
		buf := make([]byte, 4096)
		sent := false
		for {
			n, err := pr.Read(buf)
			mu.Lock()
			out.Write(buf[:n])
			if m := serving.FindStringSubmatch(out.String()); m != nil && !sent {
				found <- m[1]
				sent = true
			}
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	var base string
	select {
	case base = <-found:
	case <-time.After(30 * time.Second):
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("tokenward serve did not say where it serves within 30s:\n%s", out.String())
	}
	client := &http.Client{Timeout: 10 * time.Second}
	for _, rq := range requests {
		req, _ := http.NewRequest(http.MethodGet, base+"/v1/authz?scope="+rq[1], nil)
		req.Header.Set("Authorization", "Bearer "+rq[0])
		req.Header.Set("User-Agent", "report-e2e/1")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	werr := cmd.Wait()
	<-done
	mu.Lock()
	defer mu.Unlock()
	if werr != nil {
		t.Fatalf("serve exited with %v:\n%s", werr, out.String())
	}
	return out.String()
}

// reportFindings is the part of the JSON report the test reads.
type reportFindings struct {
	Risk  string `json:"risk"`
	Audit struct {
		HeadHash string `json:"head_hash"`
	} `json:"audit"`
	Findings []struct {
		Level, Kind, Token, Scope, User string
	} `json:"findings"`
}

func (r reportFindings) has(level, kind, tok, scope, user string) bool {
	for _, f := range r.Findings {
		if f.Level == level && f.Kind == kind && f.Token == tok && f.Scope == scope && f.User == user {
			return true
		}
	}
	return false
}

// stable replaces, in a report, the one thing that differs between runs
// of the test: the audit chain's head hash (its events hold the random
// ids the apply generated). It is replaced by its exact value, as the JSON
// report gives it, and nothing else is touched.
func stable(t *testing.T, text string, rep reportFindings) string {
	t.Helper()
	if rep.Audit.HeadHash == "" {
		t.Fatalf("the report has no head hash: %+v", rep.Audit)
	}
	return strings.ReplaceAll(text, rep.Audit.HeadHash, "HEAD_HASH")
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *updateReview {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run the test with -update to write it)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs from the report (run with -update to accept it):\n%s", path, got)
	}
}

// reportConfig is the configuration applied: scopes (one privileged), a
// role, four tokens, two settings (one sensitive) and a user's values.
func reportConfig(dir string) string {
	return fmt.Sprintf(`
resource "tokenward_scope" "billing_read" {
  name = "billing:read"
}
resource "tokenward_scope" "billing_write" {
  name = "billing:write"
}
resource "tokenward_scope" "deploy_read" {
  name = "deploy:read"
}
resource "tokenward_scope" "deploy_write" {
  name = "deploy:write"
}
resource "tokenward_scope" "admin_write" {
  name       = "admin:write"
  privileged = true
}
resource "tokenward_role" "deployer" {
  name   = "deployer"
  scopes = [tokenward_scope.deploy_read.name, tokenward_scope.deploy_write.name]
}
# Asked only for billing:read.
resource "tokenward_token" "billing_ci" {
  name          = "billing-ci"
  owner         = "billing-team"
  scopes        = [tokenward_scope.billing_read.name, tokenward_scope.billing_write.name]
  ttl           = "90d"
  rotate_before = "14d"
  overlap       = "1d"
  files         = [{ path = "%[1]s/billing.env", key = "BILLING_TOKEN" }]
}
# Never used, and due for rotation.
resource "tokenward_token" "stale" {
  name          = "stale"
  owner         = "data-team"
  scopes        = [tokenward_scope.billing_read.name]
  ttl           = "60d"
  rotate_before = "25d"
  overlap       = "1d"
  files         = [{ path = "%[1]s/stale.env", key = "STALE_TOKEN" }]
}
# A role, and a privileged scope, with no owner.
resource "tokenward_token" "deploy" {
  name          = "deploy"
  roles         = [tokenward_role.deployer.name]
  scopes        = [tokenward_scope.admin_write.name]
  ttl           = "60d"
  rotate_before = "7d"
  overlap       = "1d"
  files         = [{ path = "%[1]s/deploy.env", key = "DEPLOY_TOKEN" }]
}
resource "tokenward_token" "decoy" {
  name          = "decoy"
  owner         = "security"
  honeytoken    = true
  scopes        = [tokenward_scope.billing_read.name]
  ttl           = "60d"
  rotate_before = "7d"
  overlap       = "1d"
  files         = [{ path = "%[1]s/decoy.env", key = "DECOY_TOKEN" }]
}
resource "tokenward_setting" "timeout" {
  key     = "session.timeout_minutes"
  type    = "number"
  default = 30
  min     = 5
  max     = 240
}
resource "tokenward_setting" "smtp_password" {
  key               = "smtp.password"
  type              = "string"
  sensitive         = true
  sensitive_default = "smtp-Secret-99"
}
resource "tokenward_user_config" "alice" {
  user = "alice@example.com"
  values = {
    (tokenward_setting.timeout.key) = 60
  }
}
`, dir)
}

// TestAccReportEndToEnd is issue 17's golden report: a store built by a
// real terraform apply, used through a running tokenward serve, reviewed
// with a policy tightened since, in JSON and Markdown; every kind of
// finding the store holds is there with its level, and no token value,
// master key or sensitive value is printed. Then the workflow keeps its
// one issue with the real report: created once, not edited a week later
// for the same findings, edited once when they change.
//
// What tokenward itself refuses to make (a user value its setting no
// longer allows, a value of a setting gone, a broken audit chain) and a
// failed delivery are not made here behind its back: internal/report's
// golden store has them.
func TestAccReportEndToEnd(t *testing.T) {
	if os.Getenv("TF_ACC") == "" {
		t.Skip("an acceptance test: set TF_ACC (make testacc)")
	}
	buildTokenward(t)
	env := testEnv(t)
	// A key made from a fixed seed, so that the id of the key that signs
	// the checkpoints is the same at every run. It is a test key: it
	// protects nothing but this temporary store.
	env[seal.EnvKey] = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{17}, seal.KeySize))
	env["TOKENWARD_NOW"] = "2026-10-01T09:00:00Z"
	dir := t.TempDir()
	values := map[string]string{}
	read := func(name, file, key string) string {
		v := dotenvValue(t, filepath.Join(dir, file), key)
		if v == "" {
			t.Fatalf("no value of %s in %s", name, file)
		}
		return v
	}
	policyFile := filepath.Join(t.TempDir(), "policy.hcl")
	if err := os.WriteFile(policyFile, []byte(`max_ttl = "60d"
forbidden_scopes = ["billing:write"]
require_owner_for_privileged = true
`), 0o600); err != nil {
		t.Fatal(err)
	}
	secrets := func() []string {
		s := []string{env[seal.EnvKey], "smtp-Secret-99", "alice-Secret-7"}
		for _, v := range values {
			s = append(s, v)
		}
		return s
	}
	noSecret := func(what, text string) {
		t.Helper()
		for _, s := range secrets() {
			if strings.Contains(text, s) {
				t.Errorf("%s holds a secret (a token value, the master key or a sensitive value)", what)
			}
		}
	}
	// The reports run two days after the server saw the requests.
	const reportNow = "2026-11-10T09:00:00Z"

	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: factories(env),
		Steps: []resource.TestStep{
			{
				Config: reportConfig(dir),
				Check: func(*terraform.State) error {
					// The values set with the command go at the end, so
					// that the settings can be destroyed.
					defer func() {
						for _, u := range [][2]string{{"bob@example.com", "session.timeout_minutes"}, {"alice@example.com", "smtp.password"}} {
							if r := tokenward(t, env, "", "config", "unset", "--user", u[0], u[1]); r.code != 0 {
								t.Errorf("config unset: exit %d\n%s%s", r.code, r.stdout, r.stderr)
							}
						}
					}()
					values["billing-ci"] = read("billing-ci", "billing.env", "BILLING_TOKEN")
					values["deploy"] = read("deploy", "deploy.env", "DEPLOY_TOKEN")
					values["decoy"] = read("decoy", "decoy.env", "DECOY_TOKEN")
					values["stale"] = read("stale", "stale.env", "STALE_TOKEN")
					// Users set values with the command too; a sensitive
					// one comes on stdin (Terraform 1.8 has no write-only
					// attribute to set it with).
					cfg := with(env, "TOKENWARD_NOW", "2026-10-02T09:00:00Z")
					if r := tokenward(t, cfg, "", "config", "set", "--user", "bob@example.com", "session.timeout_minutes=200"); r.code != 0 {
						return fmt.Errorf("config set: exit %d\n%s%s", r.code, r.stdout, r.stderr)
					}
					if r := tokenward(t, cfg, "alice-Secret-7\n", "config", "set", "--user", "alice@example.com", "--stdin", "smtp.password"); r.code != 0 {
						return fmt.Errorf("config set --stdin: exit %d\n%s%s", r.code, r.stdout, r.stderr)
					}
					// billing-ci is rotated on 2026-10-20; its old value
					// stops verifying when the overlap ends a day later.
					r := tokenward(t, with(env, "TOKENWARD_NOW", "2026-10-20T09:00:00Z"), "", "rotate", "--token", "billing-ci", "--force")
					if r.code != 0 {
						return fmt.Errorf("rotate: exit %d\n%s%s", r.code, r.stdout, r.stderr)
					}
					values["billing-ci old"] = values["billing-ci"]
					values["billing-ci"] = read("billing-ci", "billing.env", "BILLING_TOKEN")
					if values["billing-ci"] == values["billing-ci old"] {
						return errors.New("the rotation delivered the same value")
					}
					// The server, without the master key, on 2026-11-08.
					var requests [][2]string
					for range 5 {
						requests = append(requests, [2]string{values["billing-ci"], "billing:read"})
					}
					for range 3 {
						requests = append(requests, [2]string{values["deploy"], "deploy:read"})
					}
					requests = append(requests,
						[2]string{values["billing-ci old"], "billing:read"}, // revoked_version_used
						[2]string{values["decoy"], "billing:read"})          // honeytoken_used
					out := serveUsage(t, with(env, seal.EnvKey, "", "TOKENWARD_NOW", "2026-11-08T12:00:00Z"), requests)
					noSecret("the server's output", out)

					reportEnv := with(env, "TOKENWARD_NOW", reportNow)
					jr := tokenward(t, reportEnv, "", "report", "--format", "json", "--policy", policyFile)
					mr := tokenward(t, reportEnv, "", "report", "--format", "markdown", "--policy", policyFile)
					for _, r := range []twRun{jr, mr} {
						if r.code != 0 || strings.TrimPrefix(r.stderr, nowWarning(reportNow)) != "" {
							return fmt.Errorf("report: exit %d\n%s%s", r.code, r.stdout, r.stderr)
						}
						noSecret("the report", r.stdout+r.stderr)
					}
					var rep reportFindings
					if err := json.Unmarshal([]byte(jr.stdout), &rep); err != nil {
						return fmt.Errorf("the JSON report: %w\n%s", err, jr.stdout)
					}
					for _, f := range []struct{ level, kind, token, scope, user string }{
						{"warn", "never_used", "stale", "", ""},
						{"warn", "unused_scope", "billing-ci", "billing:write", ""},
						{"warn", "unused_scope", "deploy", "deploy:write", ""},
						{"high", "unused_scope", "deploy", "admin:write", ""},
						{"high", "policy_violation", "billing-ci", "", ""},
						{"high", "policy_violation", "deploy", "", ""},
						{"warn", "rotation_overdue", "stale", "", ""},
						{"high", "revoked_version_used", "billing-ci", "", ""},
						{"high", "open_alerts", "", "", ""},
					} {
						if !rep.has(f.level, f.kind, f.token, f.scope, f.user) {
							t.Errorf("no %s %s finding (token %q, scope %q, user %q) in the report:\n%s", f.level, f.kind, f.token, f.scope, f.user, jr.stdout)
						}
					}
					if rep.Risk != "high" {
						t.Errorf("risk %q, want high", rep.Risk)
					}
					for _, want := range []string{"```mermaid\nxychart-beta\n", "honeytoken_used", "<!-- tokenward-fingerprint: findings:"} {
						if !strings.Contains(mr.stdout, want) {
							t.Errorf("the Markdown report lacks %q", want)
						}
					}
					golden(t, "report_e2e.json", stable(t, jr.stdout, rep))
					golden(t, "report_e2e.md", stable(t, mr.stdout, rep))
					reportIssueWorkflow(t, reportEnv, policyFile, noSecret)
					return nil
				},
			},
		},
	})
}

// reportIssueWorkflow runs the report as the scheduled workflow does,
// against a fake GitHub: a first run opens the issue, a run a week later
// with the same findings leaves it alone, and a run whose findings changed
// (the policy is no longer given) edits it once. The outputs and the step
// summary are checked each time.
func reportIssueWorkflow(t *testing.T, env map[string]string, policyFile string, noSecret func(what, text string)) {
	t.Helper()
	gh := githubtest.New(t)
	gh.AddRepo("acme/infra")
	gh.AddTokenGrant("ghs_report_workflow", githubtest.TokenGrant{WriteIssues: true})
	dir := t.TempDir()
	run := func(now string, args ...string) (twRun, string, string) {
		t.Helper()
		outputs, summary := filepath.Join(dir, now+".output"), filepath.Join(dir, now+".summary")
		for _, f := range []string{outputs, summary} {
			if err := os.WriteFile(f, nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		r := tokenward(t, with(env, "TOKENWARD_NOW", now, "GITHUB_ACTIONS", "true", "GITHUB_EVENT_NAME", "schedule",
			"GITHUB_REPOSITORY", "acme/infra", "GITHUB_API_URL", gh.URL(), "INPUT_GITHUB-TOKEN", "ghs_report_workflow",
			"TOKENWARD_GITHUB_PACE", "0s", "GITHUB_OUTPUT", outputs, "GITHUB_STEP_SUMMARY", summary),
			"", append([]string{"report"}, args...)...)
		if r.code != 0 {
			t.Fatalf("report at %s: exit %d\n%s%s", now, r.code, r.stdout, r.stderr)
		}
		out, _ := os.ReadFile(outputs)
		sum, _ := os.ReadFile(summary)
		for what, text := range map[string]string{"stdout": r.stdout, "stderr": r.stderr, "outputs": string(out), "summary": string(sum)} {
			noSecret("the workflow's "+what, text)
			for _, line := range strings.Split(text, "\n") {
				if strings.Contains(line, "ghs_report_workflow") && line != "::add-mask::ghs_report_workflow" {
					t.Errorf("the workflow's %s prints the GitHub token: %q", what, line)
				}
			}
		}
		return r, string(out), string(sum)
	}
	one := func() githubtest.Issue {
		t.Helper()
		issues := gh.Issues("acme/infra")
		if len(issues) != 1 {
			t.Fatalf("%d issues, want the one report issue: %+v", len(issues), issues)
		}
		return issues[0]
	}
	// outputs checks the risk and findings outputs and the summary: the
	// report's Markdown, ending with the fingerprint.
	outputs := func(out, sum, risk string, findings int) {
		t.Helper()
		for _, want := range []string{"risk<<", "\n" + risk + "\n", "findings<<", fmt.Sprintf("\n%d\n", findings)} {
			if !strings.Contains(out, want) {
				t.Errorf("the outputs lack %q:\n%s", want, out)
			}
		}
		if !strings.HasPrefix(sum, "## tokenward report: risk "+strings.ToUpper(risk)+"\n\n```mermaid\nxychart-beta\n") ||
			!regexp.MustCompile(`<!-- tokenward-fingerprint: findings:[0-9a-f]{64} -->\n*$`).MatchString(sum) {
			t.Errorf("the step summary is not the report:\n%s", sum)
		}
	}

	first, out, sum := run("2026-11-10T09:00:00Z", "--policy", policyFile)
	is := one()
	if !strings.Contains(first.stderr, "report issue created: ") || is.State != "open" || is.Edits != 0 ||
		!strings.Contains(is.Body, "billing-ci") || !strings.Contains(is.Body, "<!-- tokenward-fingerprint: findings:") {
		t.Errorf("first run: %+v\n%s", is, first.stderr)
	}
	var findings int
	fmt.Sscanf(is.Title, "tokenward report: %d findings to act on", &findings)
	if findings == 0 {
		t.Fatalf("issue title %q", is.Title)
	}
	outputs(out, sum, "high", findings)
	noSecret("the issue", is.Title+is.Body)

	// A week later: ages and the chart moved, the findings did not.
	again, out, sum := run("2026-11-17T09:00:00Z", "--policy", policyFile)
	if is = one(); is.Edits != 0 || gh.Count("PATCH ") != 0 || !strings.Contains(again.stderr, "report issue unchanged: ") {
		t.Errorf("the same findings a week later edited the issue: %+v\n%s", is, again.stderr)
	}
	outputs(out, sum, "high", findings)
	if sum == "" || !strings.Contains(sum, "2026-11-17") {
		t.Errorf("the second step summary is not the second report:\n%s", sum)
	}

	// Without the policy, the policy findings are gone: one edit.
	changed, out, _ := run("2026-11-17T10:00:00Z")
	if is = one(); is.Edits != 1 || is.State != "open" || !strings.Contains(changed.stderr, "report issue updated: ") ||
		!strings.Contains(is.Body, "No policy was given") {
		t.Errorf("changed findings: %+v\n%s", is, changed.stderr)
	}
	var fewer int
	fmt.Sscanf(is.Title, "tokenward report: %d findings to act on", &fewer)
	if fewer == 0 || fewer >= findings || !strings.Contains(out, fmt.Sprintf("\n%d\n", fewer)) {
		t.Errorf("after the change: %d findings (title %q), before %d; outputs:\n%s", fewer, is.Title, findings, out)
	}
	if n := len(gh.Comments("acme/infra", is.Number)); n != 0 {
		t.Errorf("%d comments on an open report issue", n)
	}
}
