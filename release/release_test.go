//go:build release

package release

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
)

const (
	provider = "terraform-provider-tokenward"
	source   = "registry.terraform.io/tokenward/tokenward"
)

// platforms are the five `make cross` builds and .goreleaser.yml releases.
var platforms = []string{"linux_amd64", "linux_arm64", "darwin_amd64", "darwin_arm64", "windows_amd64"}

// release is what one `make release-snapshot` left in dist/.
type release struct {
	dist    string
	version string
}

// openRelease reads dist/metadata.json. Without dist/ the test skips, but
// not under CI, where .ci/run has just made it.
func openRelease(t *testing.T) release {
	t.Helper()
	dist, err := filepath.Abs(filepath.Join("..", "dist"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dist, "metadata.json"))
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no release in dist/ (run make release-snapshot first): %v", err)
		}
		t.Skipf("no release in dist/; run make release-snapshot first (%v)", err)
	}
	var meta struct {
		Version string `json:"version"`
	}
	if err := json.Unmarshal(raw, &meta); err != nil {
		t.Fatalf("dist/metadata.json: %v", err)
	}
	// Terraform matches a pre-release as written; a mirror path and the
	// Registry are lower case, and a version must be semver.
	if !regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+(-[0-9a-z-]+(\.[0-9a-z-]+)*)?$`).MatchString(meta.Version) {
		t.Fatalf("version %q is not a lower-case semver version", meta.Version)
	}
	return release{dist: dist, version: meta.Version}
}

// sums reads a SHA256SUMS file as name → hex digest.
func sums(t *testing.T, path string) map[string]string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for i, line := range strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n") {
		sum, name, ok := strings.Cut(line, "  ")
		if !ok || len(sum) != 64 || name == "" {
			t.Fatalf("%s:%d: %q is not `SHA256  NAME`", path, i+1, line)
		}
		if _, dup := out[name]; dup {
			t.Fatalf("%s lists %s twice", path, name)
		}
		out[name] = sum
	}
	return out
}

func sha256File(t *testing.T, path string) string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:])
}

// glob lists the base names in dist matching pattern.
func (r release) glob(t *testing.T, pattern string) []string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(r.dist, pattern))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range paths {
		names = append(names, filepath.Base(p))
	}
	return names
}

// checkSums compares a SHA256SUMS file with the files it must list, exactly,
// and recomputes each digest (from dist/, or from the path in files).
func checkSums(t *testing.T, sumsPath string, files map[string]string) {
	t.Helper()
	listed := sums(t, sumsPath)
	for name := range listed {
		if _, ok := files[name]; !ok {
			t.Errorf("%s lists %s, which it must not (the Registry refuses extra files)", filepath.Base(sumsPath), name)
		}
	}
	for name, path := range files {
		want, ok := listed[name]
		if !ok {
			t.Errorf("%s does not list %s", filepath.Base(sumsPath), name)
			continue
		}
		if got := sha256File(t, path); got != want {
			t.Errorf("%s: %s has SHA-256 %s, the file %s", filepath.Base(sumsPath), name, want, got)
		}
	}
}

// platformOf returns the OS_ARCH of an archive named prefix+OS_ARCH+ext.
func platformOf(t *testing.T, name, prefix, ext string) string {
	t.Helper()
	p, ok := strings.CutPrefix(name, prefix)
	if ok {
		p, ok = strings.CutSuffix(p, ext)
	}
	if !ok || !slices.Contains(platforms, p) {
		t.Errorf("%s is not %sOS_ARCH%s for one of %v", name, prefix, ext, platforms)
	}
	return p
}

func TestProviderChecksums(t *testing.T) {
	r := openRelease(t)
	prefix := provider + "_" + r.version + "_"
	zips := r.glob(t, prefix+"*.zip")
	if len(zips) == 0 {
		t.Fatalf("no %s*.zip in dist/", prefix)
	}
	files := map[string]string{}
	for _, z := range zips {
		platformOf(t, z, prefix, ".zip")
		files[z] = filepath.Join(r.dist, z)
	}
	// The manifest is released from the repository's file under a new name.
	manifest := filepath.Join("..", "terraform-registry-manifest.json")
	files[prefix+"manifest.json"] = manifest
	checkSums(t, filepath.Join(r.dist, prefix+"SHA256SUMS"), files)

	raw, err := os.ReadFile(manifest)
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Version  int `json:"version"`
		Metadata struct {
			ProtocolVersions []string `json:"protocol_versions"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("terraform-registry-manifest.json: %v", err)
	}
	if m.Version != 1 || !slices.Equal(m.Metadata.ProtocolVersions, []string{"6.0"}) {
		t.Errorf("terraform-registry-manifest.json = %+v, want version 1 and protocol_versions [6.0]", m)
	}
}

func TestTokenwardChecksums(t *testing.T) {
	r := openRelease(t)
	prefix := "tokenward_" + r.version + "_"
	archives := append(r.glob(t, prefix+"*.tar.gz"), r.glob(t, prefix+"*.zip")...)
	if len(archives) == 0 {
		t.Fatalf("no %s*.tar.gz or .zip in dist/", prefix)
	}
	files := map[string]string{}
	for _, a := range archives {
		ext := ".tar.gz"
		if strings.HasSuffix(a, ".zip") {
			ext = ".zip"
		}
		p := platformOf(t, a, prefix, ext)
		if (ext == ".zip") != strings.HasPrefix(p, "windows_") {
			t.Errorf("%s: want .zip on Windows and .tar.gz elsewhere", a)
		}
		files[a] = filepath.Join(r.dist, a)
	}
	checkSums(t, filepath.Join(r.dist, prefix+"SHA256SUMS"), files)
}

// TestVersionsStamped runs this machine's binaries out of their archives.
func TestVersionsStamped(t *testing.T) {
	r := openRelease(t)
	host := runtime.GOOS + "_" + runtime.GOARCH
	exe := ""
	if runtime.GOOS == "windows" {
		exe = ".exe"
	}
	dir := t.TempDir()

	zipPath := filepath.Join(r.dist, provider+"_"+r.version+"_"+host+".zip")
	bin := filepath.Join(dir, "provider"+exe)
	writeFile(t, bin, fromZip(t, zipPath, provider+"_v"+r.version+exe))
	checkOutput(t, bin, "-version", provider+" "+r.version)

	archive := filepath.Join(r.dist, "tokenward_"+r.version+"_"+host+".tar.gz")
	var raw []byte
	if runtime.GOOS == "windows" {
		raw = fromZip(t, strings.TrimSuffix(archive, ".tar.gz")+".zip", "tokenward.exe")
	} else {
		raw = fromTarGz(t, archive, "tokenward")
	}
	bin = filepath.Join(dir, "tokenward"+exe)
	writeFile(t, bin, raw)
	checkOutput(t, bin, "version", "tokenward "+r.version)
}

func checkOutput(t *testing.T, bin, arg, want string) {
	t.Helper()
	out, err := exec.Command(bin, arg).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(bin), arg, err, out)
	}
	if got := strings.TrimSpace(string(out)); got != want {
		t.Errorf("%s %s printed %q, want %q", filepath.Base(bin), arg, got, want)
	}
}

func writeFile(t *testing.T, path string, raw []byte) {
	t.Helper()
	if err := os.WriteFile(path, raw, 0o755); err != nil {
		t.Fatal(err)
	}
}

// fromZip returns the one file of a zip, which must be named name.
func fromZip(t *testing.T, path, name string) []byte {
	t.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	if len(zr.File) != 1 || zr.File[0].Name != name {
		var names []string
		for _, f := range zr.File {
			names = append(names, f.Name)
		}
		t.Fatalf("%s holds %v, want only %s", filepath.Base(path), names, name)
	}
	f, err := zr.File[0].Open()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	raw, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// fromTarGz returns the one file of a .tar.gz, which must be named name.
func fromTarGz(t *testing.T, path, name string) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	tr := tar.NewReader(gz)
	var raw []byte
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		names = append(names, h.Name)
		if h.Name == name {
			if raw, err = io.ReadAll(tr); err != nil {
				t.Fatal(err)
			}
		}
	}
	if len(names) != 1 || raw == nil {
		t.Fatalf("%s holds %v, want only %s", filepath.Base(path), names, name)
	}
	return raw
}

// TestMirrorInstall installs this machine's provider zip with terraform init
// from a filesystem mirror (no registry, no network), then replaces the zip
// with a changed one and checks that init refuses it against the lock file.
func TestMirrorInstall(t *testing.T) {
	r := openRelease(t)
	tf := os.Getenv("TF_ACC_TERRAFORM_PATH")
	if tf == "" {
		var err error
		if tf, err = exec.LookPath("terraform"); err != nil {
			t.Fatalf("terraform is not on PATH (or in TF_ACC_TERRAFORM_PATH): %v", err)
		}
	}
	host := runtime.GOOS + "_" + runtime.GOARCH
	zipName := provider + "_" + r.version + "_" + host + ".zip"
	original, err := os.ReadFile(filepath.Join(r.dist, zipName))
	if err != nil {
		t.Fatal(err)
	}

	tmp := t.TempDir()
	// The packed layout: HOSTNAME/NAMESPACE/TYPE/the release's zip as named.
	mirrorDir := filepath.Join(tmp, "mirror", filepath.FromSlash(source))
	if err := os.MkdirAll(mirrorDir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(mirrorDir, zipName), original)
	cli := filepath.Join(tmp, "terraform.rc")
	writeFile(t, cli, fmt.Appendf(nil, `provider_installation {
  filesystem_mirror {
    path    = %q
    include = [%q]
  }
  direct {
    exclude = [%q]
  }
}
`, filepath.ToSlash(filepath.Join(tmp, "mirror")), source, source))
	work := filepath.Join(tmp, "work")
	if err := os.MkdirAll(work, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(work, "main.tf"), fmt.Appendf(nil, `terraform {
  required_providers {
    tokenward = {
      source  = "tokenward/tokenward"
      version = "= %s"
    }
  }
}
`, r.version))

	initCmd := func() (string, error) {
		cmd := exec.Command(tf, "init", "-input=false", "-no-color")
		cmd.Dir = work
		var env []string
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "TF_PLUGIN_CACHE_DIR=") && !strings.HasPrefix(kv, "TF_CLI_CONFIG_FILE=") {
				env = append(env, kv)
			}
		}
		cmd.Env = append(env, "TF_CLI_CONFIG_FILE="+cli, "CHECKPOINT_DISABLE=1", "TF_IN_AUTOMATION=1")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}

	out, err := initCmd()
	if err != nil {
		t.Fatalf("terraform init from the mirror: %v\n%s", err, out)
	}
	lock, err := os.ReadFile(filepath.Join(work, ".terraform.lock.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(lock), `version     = "`+r.version+`"`) || !regexp.MustCompile(`"h1:[A-Za-z0-9+/=]{44}"`).Match(lock) {
		t.Fatalf("the lock file does not record version %s with an h1: hash:\n%s", r.version, lock)
	}
	installed := filepath.Join(work, ".terraform", "providers", filepath.FromSlash(source), r.version, host)
	if _, err := os.Stat(installed); err != nil {
		t.Fatalf("terraform init did not install the provider: %v\n%s", err, out)
	}

	// The same zip with one byte of the binary changed: what a tampered
	// mirror or release would serve.
	writeFile(t, filepath.Join(mirrorDir, zipName), changedZip(t, original))
	if err := os.RemoveAll(filepath.Join(work, ".terraform")); err != nil {
		t.Fatal(err)
	}
	out, err = initCmd()
	if err == nil {
		t.Fatalf("terraform init installed a changed zip the lock file does not match:\n%s", out)
	}
	// Terraform wraps its messages at 80 columns.
	if !strings.Contains(strings.Join(strings.Fields(out), " "), "checksums previously recorded in the dependency lock file") {
		t.Fatalf("terraform init failed, but not on the lock file's checksums: %v\n%s", err, out)
	}
}

// changedZip rewrites a zip with the last byte of each file flipped.
func changedZip(t *testing.T, original []byte) []byte {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(original), int64(len(original)))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		raw, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		raw[len(raw)-1] ^= 0xff
		h := f.FileHeader
		w, err := zw.CreateHeader(&h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(raw); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestActionInstall runs action.yml's download step, scripts/action-install,
// against dist/ served as a GitHub release would serve it.
func TestActionInstall(t *testing.T) {
	r := openRelease(t)
	runnerOS := map[string]string{"linux": "Linux", "darwin": "macOS", "windows": "Windows"}[runtime.GOOS]
	runnerArch := map[string]string{"amd64": "X64", "arm64": "ARM64"}[runtime.GOARCH]
	tag := "v" + r.version
	archive := "tokenward_" + r.version + "_" + runtime.GOOS + "_" + runtime.GOARCH + ".tar.gz"
	if runtime.GOOS == "windows" {
		archive = strings.TrimSuffix(archive, ".tar.gz") + ".zip"
	}
	script, err := filepath.Abs(filepath.Join("..", "scripts", "action-install"))
	if err != nil {
		t.Fatal(err)
	}

	sumsName := "tokenward_" + r.version + "_SHA256SUMS"
	releaseKey, releaseSig := gpgSign(t, filepath.Join(r.dist, sumsName))
	_, otherSig := gpgSign(t, filepath.Join(r.dist, sumsName))

	// tampered serves a changed archive, as a replaced release asset would
	// be; sig is the SHA256SUMS.sig served, if any.
	var tampered bool
	var sig []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		name, ok := strings.CutPrefix(req.URL.Path, "/"+tag+"/")
		if !ok || strings.Contains(name, "/") {
			http.NotFound(w, req)
			return
		}
		if name == sumsName+".sig" && sig != nil {
			w.Write(sig)
			return
		}
		raw, err := os.ReadFile(filepath.Join(r.dist, name))
		if err != nil {
			http.NotFound(w, req)
			return
		}
		if tampered && name == archive {
			raw = append(raw, 0)
		}
		w.Write(raw)
	}))
	t.Cleanup(srv.Close)

	for _, tc := range []struct {
		name, version string
		tampered      bool
		key, sig      []byte
		wantBuild     bool
		wantFail      string
		wantSay       string
	}{
		{name: "release", version: tag, wantSay: "from its release (" + archive + ", checksum checked"},
		{name: "dev", version: "dev", wantBuild: true, wantSay: "VERSION is dev"},
		{name: "no release", version: "v0.0.0-none", wantBuild: true, wantSay: "release v0.0.0-none has no tokenward_0.0.0-none_SHA256SUMS"},
		{name: "changed archive", version: tag, tampered: true, wantFail: "has SHA-256"},
		{name: "signed", version: tag, key: releaseKey, sig: releaseSig, wantSay: "checksum checked; signature checked"},
		{name: "signed by another key", version: tag, key: releaseKey, sig: otherSig, wantFail: "is not a signature by release-key.asc"},
		{name: "signature missing", version: tag, key: releaseKey, wantFail: "has no " + sumsName + ".sig"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tampered, sig = tc.tampered, tc.sig
			action := t.TempDir()
			writeFile(t, filepath.Join(action, "VERSION"), []byte(tc.version+"\n"))
			if tc.key != nil {
				writeFile(t, filepath.Join(action, "release-key.asc"), tc.key)
			}
			runner := t.TempDir()
			output, env := filepath.Join(runner, "output"), filepath.Join(runner, "env")
			cmd := exec.Command("bash", script)
			cmd.Env = append(os.Environ(),
				"GITHUB_ACTION_PATH="+action, "GITHUB_OUTPUT="+output, "GITHUB_ENV="+env,
				"RUNNER_TEMP="+runner, "RUNNER_OS="+runnerOS, "RUNNER_ARCH="+runnerArch,
				"TOKENWARD_RELEASES_URL="+srv.URL)
			out, err := cmd.CombinedOutput()
			if tc.wantFail != "" {
				if err == nil || !strings.Contains(string(out), tc.wantFail) {
					t.Fatalf("want a failure saying %q, got %v:\n%s", tc.wantFail, err, out)
				}
				if raw, _ := os.ReadFile(env); strings.Contains(string(raw), "TOKENWARD_BIN") {
					t.Errorf("a failed check still set TOKENWARD_BIN: %s", raw)
				}
				return
			}
			if err != nil {
				t.Fatalf("action-install: %v\n%s", err, out)
			}
			if !strings.Contains(string(out), tc.wantSay) {
				t.Errorf("action-install said %q, want it to say %q", out, tc.wantSay)
			}
			raw, err := os.ReadFile(output)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := string(raw), fmt.Sprintf("build=%t\n", tc.wantBuild); got != want {
				t.Fatalf("step output %q, want %q", got, want)
			}
			if tc.wantBuild {
				return
			}
			raw, err = os.ReadFile(env)
			if err != nil {
				t.Fatal(err)
			}
			bin, ok := strings.CutPrefix(strings.TrimSpace(string(raw)), "TOKENWARD_BIN=")
			if !ok {
				t.Fatalf("GITHUB_ENV = %q, want TOKENWARD_BIN=...", raw)
			}
			checkOutput(t, bin, "version", "tokenward "+r.version)
		})
	}
}

// gpgSign makes a throwaway signing key and returns its armoured public key
// and its detached signature of path, as release.yml's key makes them.
func gpgSign(t *testing.T, path string) (publicKey, signature []byte) {
	t.Helper()
	if _, err := exec.LookPath("gpg"); err != nil {
		t.Fatalf("gpg is not on PATH, so the action's signature check cannot be tested: %v", err)
	}
	home := t.TempDir()
	gpg := func(args ...string) []byte {
		t.Helper()
		cmd := exec.Command("gpg", append([]string{"--batch", "--quiet"}, args...)...)
		cmd.Env = append(os.Environ(), "GNUPGHOME="+home)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("gpg %v: %v\n%s", args, err, stderr.Bytes())
		}
		return out
	}
	t.Cleanup(func() {
		cmd := exec.Command("gpgconf", "--kill", "all")
		cmd.Env = append(os.Environ(), "GNUPGHOME="+home)
		_ = cmd.Run()
	})
	gpg("--passphrase", "", "--quick-gen-key", "tokenward release test <release@example.test>", "ed25519", "sign", "never")
	publicKey = gpg("--armor", "--export", "release@example.test")
	sigPath := filepath.Join(home, "sums.sig")
	gpg("--output", sigPath, "--detach-sign", path)
	signature, err := os.ReadFile(sigPath)
	if err != nil {
		t.Fatal(err)
	}
	return publicKey, signature
}
