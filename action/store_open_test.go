package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
)

// TestCommandsRefuseAMissingStore: a mistyped store is an error for every
// command, naming the absolute path and how to create one; nothing is
// created. audit verify no longer reports an intact chain of 0 events.
func TestCommandsRefuseAMissingStore(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	dir := t.TempDir()
	missing := filepath.Join(dir, "tokenwrad.db")
	cases := []struct {
		name  string
		stdin string
		args  []string
	}{
		{"verify", w.value, []string{"verify"}},
		{"verify --all", w.value, []string{"verify", "--all"}},
		{"audit verify", "", []string{"audit", "verify"}},
		{"rotate", "", []string{"rotate"}},
		{"rotate --dry-run", "", []string{"rotate", "--dry-run"}},
		{"config get", "", []string{"config", "get", "--user", "alice"}},
		{"config set", "", []string{"config", "set", "--user", "alice", "ui.theme=light"}},
		{"config unset", "", []string{"config", "unset", "--user", "alice", "ui.theme"}},
		{"rekey", "", []string{"rekey"}},
		{"verify ignores TOKENWARD_STORE_CREATE", w.value, []string{"verify"}},
		{"--create=false wins over TOKENWARD_STORE_CREATE", "", []string{"rekey", "--create=false"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ww := w.with("TOKENWARD_STORE", missing)
			if strings.Contains(tc.name, "TOKENWARD_STORE_CREATE") {
				ww = ww.with("TOKENWARD_STORE_CREATE", "1")
			}
			r := ww.run(t, tc.stdin, tc.args...)
			if r.code != exitTrouble {
				t.Fatalf("exit %d, want %d\n%s%s", r.code, exitTrouble, r.stdout, r.stderr)
			}
			for _, want := range []string{missing, "does not exist", "--create", "TOKENWARD_STORE_CREATE=1"} {
				if !strings.Contains(r.stderr, want) {
					t.Fatalf("stderr does not say %q:\n%s", want, r.stderr)
				}
			}
			if strings.Contains(r.stdout, "intact") {
				t.Fatalf("a missing store reported as intact:\n%s", r.stdout)
			}
			if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("the command created the store: %v", err)
			}
		})
	}
}

// TestCreateFlagCreatesAStore: --create, or TOKENWARD_STORE_CREATE=1, lets
// a command that writes start a new store.
func TestCreateFlagCreatesAStore(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	for _, tc := range []struct {
		name string
		env  []string
		args []string
	}{
		{"--create", nil, []string{"rekey", "--create"}},
		{"TOKENWARD_STORE_CREATE=1", []string{"TOKENWARD_STORE_CREATE", "1"}, []string{"rekey"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "new.db")
			ww := w.with(append([]string{"TOKENWARD_STORE", path}, tc.env...)...)
			if r := ww.run(t, "", tc.args...); r.code != 0 || !strings.Contains(r.stdout, "re-wrapped 0") {
				t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}
			if r := ww.run(t, "", "audit", "verify"); r.code != 0 || !strings.Contains(r.stdout, "intact: 1 events") {
				t.Fatalf("audit verify of the new store: exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}
		})
	}
}

// TestVerifyNeedsNoMasterKey: verify and audit verify run without a master
// key; verify changes nothing but the usage log (its event), and audit
// verify leaves the store file as it was.
func TestVerifyNeedsNoMasterKey(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	noKey := w.with("TOKENWARD_MASTER_KEY", "")
	if r := noKey.run(t, w.value, "verify", "--scope", "billing:read"); r.code != 0 || !strings.Contains(r.stdout, `"valid": true`) {
		t.Fatalf("verify without a key: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	before := fileSum(t, w.path)
	if r := noKey.run(t, "", "audit", "verify"); r.code != 0 {
		t.Fatalf("audit verify without a key: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if fileSum(t, w.path) != before {
		t.Fatal("audit verify changed the store file")
	}
}

// TestVerifyAll: --all verifies one token a line and prints a JSON array
// in the order read, exit 0 only when all are valid; without --all, a
// second token on stdin is reported as not read.
func TestVerifyAll(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	cases := []struct {
		name      string
		stdin     string
		wantExit  int
		wantCodes []string
	}{
		{"all valid", w.value + "\n\n" + w.value + "\n", 0, []string{"valid", "valid"}},
		{"one bad", w.value + "\ntw_nonsense\r\n" + w.value, 1, []string{"valid", "malformed", "valid"}},
		{"one token", w.value, 0, []string{"valid"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := w.run(t, tc.stdin, "verify", "--all")
			if r.code != tc.wantExit {
				t.Fatalf("exit %d, want %d\n%s%s", r.code, tc.wantExit, r.stdout, r.stderr)
			}
			var outs []verifyOutput
			if err := json.Unmarshal([]byte(r.stdout), &outs); err != nil {
				t.Fatalf("output is not a JSON array: %v\n%s", err, r.stdout)
			}
			var codes []string
			for _, o := range outs {
				codes = append(codes, string(o.Code))
			}
			if strings.Join(codes, ",") != strings.Join(tc.wantCodes, ",") {
				t.Fatalf("codes %v, want %v", codes, tc.wantCodes)
			}
		})
	}
	t.Run("without --all", func(t *testing.T) {
		r := w.run(t, w.value+"\ntw_nonsense\n", "verify")
		if r.code != 0 || !strings.Contains(r.stderr, "read only the first of the 2 tokens") || !strings.Contains(r.stderr, "--all") {
			t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		var out verifyOutput
		if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || out.Code != "valid" {
			t.Fatalf("output %q: %v", r.stdout, err)
		}
	})
	t.Run("a line too long", func(t *testing.T) {
		r := w.run(t, w.value+"\n"+strings.Repeat("x", 5000)+"\n", "verify", "--all")
		if r.code != exitUsage || !strings.Contains(r.stderr, "line 2 is longer than 4096 bytes") {
			t.Fatalf("exit %d\n%s", r.code, r.stderr)
		}
	})
}

// TestVerifyAsAUserWhoCannotWriteTheStore: a verifier that may read the
// store file but write neither it nor its folder (here the user nobody)
// verifies a token, with no writer holding the store open, and the file is
// unchanged. Root is not stopped by file modes, so the check runs the
// command as nobody; it needs root to do so, as CI has.
func TestVerifyAsAUserWhoCannotWriteTheStore(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("CI must run as root to run a verifier as another user")
		}
		t.Skip("SKIPPING: needs root to run the verifier as the user nobody")
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Fatalf("no user nobody: %v", err)
	}
	uid, _ := strconv.Atoi(nobody.Uid)
	gid, _ := strconv.Atoi(nobody.Gid)

	w := newWorld(t)
	// A folder and a copy of this test binary that nobody may read and run,
	// and a store file it may read, owned by root.
	dir, err := os.MkdirTemp("", "tokenward-verifier-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(dir, "tokenward.test")
	copyFile(t, os.Args[0], exe, 0o755)
	path := filepath.Join(dir, "tokenward.db")
	copyFile(t, w.path, path, 0o640)
	if err := os.Chown(path, 0, gid); err != nil {
		t.Fatal(err)
	}
	before := fileSum(t, path)

	asNobody := func(args ...string) {
		t.Helper()
		cmd := exec.Command(exe, args...)
		cmd.Env = []string{"TOKENWARD_TEST_AS_BINARY=1", "TOKENWARD_STORE=" + path, "TOKENWARD_NOW=" + w.env["TOKENWARD_NOW"], "HOME=/"}
		cmd.Stdin = strings.NewReader(w.value + "\n")
		cmd.Dir = "/"
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		if err := cmd.Run(); err != nil {
			t.Fatalf("tokenward %v as nobody: %v\n%s%s", args, err, out.String(), errOut.String())
		}
		if args[0] == "verify" && !strings.Contains(out.String(), `"valid": true`) {
			t.Fatalf("verify as nobody:\n%s", out.String())
		}
	}
	// No writer holds the store open: no -wal or -shm file to share.
	asNobody("verify", "--scope", "billing:read")
	asNobody("audit", "verify")
	if fileSum(t, path) != before {
		t.Fatal("the verifier changed the store file")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Fatalf("the verifier left files beside the store: %v", entries)
	}

	// A writer holds it open, with changes in its WAL: the verifier shares
	// the -shm file, which SQLite made with the store file's group and mode.
	writer, err := registry.Open(t.Context(), registry.Config{Getenv: w.with("TOKENWARD_STORE", path).getenv})
	if err != nil {
		t.Fatal(err)
	}
	defer writer.Close()
	if _, err := writer.CreateScope(t.Context(), "reports:read", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + "-shm"); err != nil {
		t.Fatalf("the writer has no -shm file: %v", err)
	}
	asNobody("verify", "--scope", "billing:read")

	// A store file the verifier may not read: said as such, not as
	// SQLite's "unable to open database file".
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "verify")
	cmd.Env = []string{"TOKENWARD_TEST_AS_BINARY=1", "TOKENWARD_STORE=" + path, "HOME=/"}
	cmd.Stdin = strings.NewReader(w.value + "\n")
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "permission denied: a verifier needs read access to the file") {
		t.Fatalf("verify as nobody of a file it may not read: %v\n%s", err, out)
	}
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(to, mode); err != nil {
		t.Fatal(err)
	}
}

func fileSum(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}
