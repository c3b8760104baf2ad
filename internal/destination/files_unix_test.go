//go:build unix

package destination

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/tokenward/terraform-provider-tokenward/internal/store"
)

// needRoot skips a test that plays a second, non-root user, except under
// CI, which runs as root and must run it.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("this test needs root to play a non-root owner of a destination folder, and CI runs as root")
	}
	t.Skip("needs root: it plays a non-root owner of a destination folder (run the tests as root to include it)")
}

// stranger is a non-root user: the consuming app that owns a destination's
// folder, or an attacker who got its rights.
type stranger struct {
	uid, gid    int
	name, group string
}

func nobody(t *testing.T) stranger {
	t.Helper()
	u, err := user.Lookup("nobody")
	if err != nil {
		t.Fatalf("no user nobody to play the folder's owner: %v", err)
	}
	g, err := user.LookupGroupId(u.Gid)
	if err != nil {
		t.Fatalf("no group %s for nobody: %v", u.Gid, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return stranger{uid: uid, gid: gid, name: u.Username, group: g.Name}
}

// folder makes a folder the stranger owns and can reach.
func (s stranger) folder(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	f := filepath.Join(dir, "app")
	if err := os.Mkdir(f, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(f, s.uid, s.gid); err != nil {
		t.Fatal(err)
	}
	return f
}

// run runs a command as the stranger.
func (s stranger) run(t *testing.T, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(s.uid), Gid: uint32(s.gid)}}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %v as %s: %v\n%s", name, args, s.name, err, out)
	}
}

func writeFile(t *testing.T, path, content string, mode fs.FileMode, uid, gid int) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // past the umask
		t.Fatal(err)
	}
	if err := os.Chown(path, uid, gid); err != nil {
		t.Fatal(err)
	}
}

// TestFilesNeverFollowLinks: the owner of a destination's folder plants
// links where tokenward will write; tokenward, as root, refuses each, names
// it, and leaves what it points to as it was: no overwrite, no removal, no
// copy of its content into the folder.
func TestFilesNeverFollowLinks(t *testing.T) {
	needRoot(t)
	t.Parallel()
	app := nobody(t)
	const secret = "root:only-root-may-read-this\n"
	cases := []struct {
		name   string
		dest   string                                // the destination, in the folder
		format string                                // dotenv or raw
		plant  func(folder, victim string) [2]string // the link to plant and its target
		delete bool                                  // Delete instead of Write
		link   string                                // the path the error must name; "" when the write succeeds
	}{
		{name: "raw file is a link", dest: "app.token", format: FormatRaw,
			plant: func(f, v string) [2]string { return [2]string{filepath.Join(f, "app.token"), v} }, link: "app.token"},
		{name: "dotenv file is a link", dest: "app.env", format: FormatDotenv,
			plant: func(f, v string) [2]string { return [2]string{filepath.Join(f, "app.env"), v} }, link: "app.env"},
		{name: "raw delete through a link", dest: "app.token", format: FormatRaw, delete: true,
			plant: func(f, v string) [2]string { return [2]string{filepath.Join(f, "app.token"), v} }, link: "app.token"},
		{name: "dotenv delete through a link", dest: "app.env", format: FormatDotenv, delete: true,
			plant: func(f, v string) [2]string { return [2]string{filepath.Join(f, "app.env"), v} }, link: "app.env"},
		{name: "folder on the way is a link", dest: "sub/app.token", format: FormatRaw,
			plant: func(f, v string) [2]string { return [2]string{filepath.Join(f, "sub"), filepath.Dir(v)} }, link: "sub"},
		{name: "delete in a folder that is a link", dest: "sub/shadow", format: FormatRaw, delete: true,
			plant: func(f, v string) [2]string { return [2]string{filepath.Join(f, "sub"), filepath.Dir(v)} }, link: "sub"},
		{name: "lock file is a link", dest: "app.token", format: FormatRaw,
			plant: func(f, v string) [2]string { return [2]string{filepath.Join(f, ".app.token.tokenward.lock"), v} }, link: ".app.token.tokenward.lock"},
		{name: "link to a file in the same folder", dest: "app.env", format: FormatDotenv,
			plant: func(f, v string) [2]string { return [2]string{filepath.Join(f, "app.env"), "other.env"} }, link: "app.env"},
		{name: "temporary name is a link", dest: "app.token", format: FormatRaw,
			plant: func(f, v string) [2]string { return [2]string{filepath.Join(f, ".app.token.tokenward-tmp-1"), v} }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			folder := app.folder(t)
			victim := filepath.Join(t.TempDir(), "shadow") // root's, in a folder only root can read
			writeFile(t, victim, secret, 0o600, 0, 0)
			other := filepath.Join(folder, "other.env") // another token's file, root's
			writeFile(t, other, secret, 0o600, 0, 0)
			l := c.plant(folder, victim)
			app.run(t, "ln", "-s", l[1], l[0])

			d := fileDest(t, Config{Path: filepath.Join(folder, c.dest), Format: c.format})
			var err error
			if c.delete {
				err = NewFiles().Delete(t.Context(), d)
			} else {
				err = NewFiles().Write(t.Context(), d, "tw_new_value")
			}
			var le *LinkError
			switch {
			case c.link == "" && err != nil:
				t.Fatalf("%v", err)
			case c.link != "" && (!errors.As(err, &le) || le.Path != filepath.Join(folder, c.link) || !strings.Contains(err.Error(), le.Path)):
				t.Fatalf("got %v; want a refusal naming the link %s", err, filepath.Join(folder, c.link))
			}
			for _, f := range []string{victim, other} {
				b, err := os.ReadFile(f)
				if err != nil || string(b) != secret {
					t.Fatalf("%s was changed or removed: %q, %v", f, b, err)
				}
				if fi, _ := os.Stat(f); fi.Mode().Perm() != 0o600 {
					t.Fatalf("%s changed mode: %v", f, fi.Mode())
				}
			}
			if got := names(t, filepath.Dir(victim)); len(got) != 1 {
				t.Fatalf("files were made beside the link's target: %v", got)
			}
			fi, err := os.Lstat(l[0])
			switch {
			case c.link != "" && (err != nil || fi.Mode()&fs.ModeSymlink == 0):
				t.Fatalf("the planted link is gone or replaced: %v", err)
			case c.link == "" && err == nil:
				t.Fatalf("the leftover temporary name %s is still there", l[0])
			}
			// No copy of the target's content anywhere in the folder, other
			// than the other token's own file.
			filepath.WalkDir(folder, func(p string, e fs.DirEntry, err error) error {
				if err != nil || !e.Type().IsRegular() || p == other {
					return nil
				}
				if b, _ := os.ReadFile(p); strings.Contains(string(b), "only-root") {
					t.Errorf("%s holds a copy of the link's target", p)
				}
				return nil
			})
		})
	}
}

// TestFilesKeepOwnerGroupMode: a file the consumer reads keeps the owner,
// group and mode it was given, within the rules; a file someone else owns is
// refused.
func TestFilesKeepOwnerGroupMode(t *testing.T) {
	needRoot(t)
	t.Parallel()
	app := nobody(t)
	type file struct {
		uid, gid int
		mode     fs.FileMode
	}
	cases := []struct {
		name   string
		before *file // nil: no file yet
		c      Config
		want   file
		err    string // part of the refusal; "" when the write succeeds
		keep   string // dotenv only: part of the refusal to hand the file's other lines to more readers
	}{
		{name: "consumer's file, owner and group declared", before: &file{app.uid, app.gid, 0o640},
			c: Config{Owner: app.name, Group: app.group}, want: file{app.uid, app.gid, 0o640}},
		{name: "consumer's file, declared by id", before: &file{app.uid, app.gid, 0o640},
			c: Config{Owner: strconv.Itoa(app.uid), Group: strconv.Itoa(app.gid)}, want: file{app.uid, app.gid, 0o640}},
		{name: "consumer's file, nothing declared", before: &file{app.uid, app.gid, 0o640},
			err: "belongs to user " + app.name},
		{name: "consumer's group, not declared", before: &file{0, app.gid, 0o640}, c: Config{Owner: "0"},
			err: "belongs to group " + app.group},
		{name: "root's group kept, consumer's declared group", before: &file{0, app.gid, 0o640}, c: Config{Group: app.group},
			want: file{0, app.gid, 0o640}},
		{name: "wide mode capped at 0640", before: &file{0, 0, 0o666}, want: file{0, 0, 0o640}},
		{name: "narrow mode kept", before: &file{0, 0, 0o400}, want: file{0, 0, 0o400}},
		{name: "declared mode wins", before: &file{0, 0, 0o600}, c: Config{Mode: "0644"}, want: file{0, 0, 0o644},
			keep: "mode 0644 instead of 0600"},
		{name: "declared owner given to root's file", before: &file{0, 0, 0o600}, c: Config{Owner: app.name}, want: file{app.uid, 0, 0o600},
			keep: "owner " + app.name + " instead of root"},
		{name: "declared narrower mode", before: &file{0, 0, 0o640}, c: Config{Mode: "0600"}, want: file{0, 0, 0o600}},
		{name: "new file", want: file{0, 0, 0o600}},
		{name: "new file, declared", c: Config{Owner: app.name, Group: app.group, Mode: "0640"}, want: file{app.uid, app.gid, 0o640}},
		{name: "unknown owner", c: Config{Owner: "no-such-user-tw"}, err: `"no-such-user-tw": no such user`},
	}
	for _, format := range []string{FormatDotenv, FormatRaw} {
		for _, c := range cases {
			t.Run(format+"/"+c.name, func(t *testing.T) {
				t.Parallel()
				path := filepath.Join(app.folder(t), "app.env")
				const before = "OTHER=1\n"
				if c.before != nil {
					writeFile(t, path, before, c.before.mode, c.before.uid, c.before.gid)
				}
				c.c.Path, c.c.Format = path, format
				err := NewFiles().Write(t.Context(), fileDest(t, c.c), "tw_new")
				if c.keep != "" && format == FormatDotenv {
					c.err = c.keep
				}
				if c.err != "" {
					if err == nil || !strings.Contains(err.Error(), c.err) || !strings.Contains(err.Error(), path) {
						t.Fatalf("got %v; want a refusal naming %s and saying %q", err, path, c.err)
					}
					if c.before != nil {
						if b, _ := os.ReadFile(path); string(b) != before {
							t.Fatalf("the refused file changed: %q", b)
						}
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				fi, err := os.Stat(path)
				if err != nil {
					t.Fatal(err)
				}
				st := fi.Sys().(*syscall.Stat_t)
				if got := (file{int(st.Uid), int(st.Gid), fi.Mode().Perm()}); got != c.want {
					t.Fatalf("after the write: %d:%d %o; want %d:%d %o", got.uid, got.gid, got.mode, c.want.uid, c.want.gid, c.want.mode)
				}
				if b, _ := os.ReadFile(path); !strings.Contains(string(b), "tw_new") {
					t.Fatalf("the value was not written: %q", b)
				}
			})
		}
	}
}

// TestFilesNonRootCannotGiveAway: a rotation that does not run as root and
// cannot give the new file its owner refuses, says so, and leaves the file.
func TestFilesNonRootCannotGiveAway(t *testing.T) {
	if os.Getenv("TOKENWARD_TEST_AS") == "helper" {
		// The child, run as a non-root user: write what it is told to.
		d := fileDest(t, Config{Path: os.Getenv("TOKENWARD_TEST_PATH"), Format: FormatRaw, Owner: os.Getenv("TOKENWARD_TEST_OWNER")})
		if err := NewFiles().Write(t.Context(), d, "tw_new"); err != nil {
			t.Fatal(err)
		}
		return
	}
	needRoot(t)
	t.Parallel()
	app := nobody(t)
	// The test binary, where the non-root user can run it.
	self, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(app.folder(t), "destination.test")
	if err := os.WriteFile(bin, self, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, owner string }{
		{"root's file", ""},
		{"declared owner root", "0"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(app.folder(t), "app.token")
			writeFile(t, path, "tw_old\n", 0o600, 0, 0)
			cmd := exec.Command(bin, "-test.run=^TestFilesNonRootCannotGiveAway$", "-test.v")
			cmd.Env = append(os.Environ(), "TOKENWARD_TEST_AS=helper", "TOKENWARD_TEST_PATH="+path, "TOKENWARD_TEST_OWNER="+c.owner)
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(app.uid), Gid: uint32(app.gid)}}
			out, err := cmd.CombinedOutput()
			if err == nil || !strings.Contains(string(out), "cannot give it away") || !strings.Contains(string(out), path) {
				t.Fatalf("as %s: %v; want a refusal that says it cannot give %s away:\n%s", app.name, err, path, out)
			}
			if b, _ := os.ReadFile(path); string(b) != "tw_old\n" {
				t.Fatalf("the file changed: %q", b)
			}
			if got := names(t, filepath.Dir(path)); len(got) != 1 {
				t.Fatalf("files left beside it: %v", got)
			}
		})
	}
}

// TestFilesLeaveNoLockOrTemporaryFiles: the lock file is there only while a
// write runs, and destroy leaves the folder as it found it.
func TestFilesLeaveNoLockOrTemporaryFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	raw := fileDest(t, Config{Path: filepath.Join(dir, "app.token"), Format: FormatRaw})
	env := fileDest(t, Config{Path: filepath.Join(dir, "app.env")})
	ctx := t.Context()
	for _, d := range []store.Destination{raw, env} {
		if err := NewFiles().Write(ctx, d, "tw_value"); err != nil {
			t.Fatal(err)
		}
	}
	if got := strings.Join(names(t, dir), " "); got != "app.env app.token" {
		t.Fatalf("after the writes the folder holds %s", got)
	}
	// A write killed half-way left a temporary file and its lock.
	for _, n := range []string{".app.token.tokenward-tmp-5577006791947779410", ".app.token.tokenward.lock"} {
		writeFile(t, filepath.Join(dir, n), "tw_stale\n", 0o600, os.Geteuid(), os.Getegid())
	}
	for _, d := range []store.Destination{raw, env} {
		if err := NewFiles().Delete(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	if got := strings.Join(names(t, dir), " "); got != "app.env" {
		t.Fatalf("after destroy the folder holds %s; want only app.env, whose other lines are not tokenward's", got)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "app.env")); string(b) != "" {
		t.Fatalf("app.env still holds %q", b)
	}
}

// TestFilesOnlyRegularFiles: a folder or a named pipe where the file should
// be is refused, never opened (a pipe would hang the read).
func TestFilesOnlyRegularFiles(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, want string
		make       func(path string) error
	}{
		{"folder", "is a folder", func(p string) error { return os.Mkdir(p, 0o700) }},
		{"named pipe", "is a named pipe", func(p string) error { return syscall.Mkfifo(p, 0o600) }},
	}
	for _, c := range cases {
		for _, format := range []string{FormatDotenv, FormatRaw} {
			t.Run(c.name+"/"+format, func(t *testing.T) {
				t.Parallel()
				path := filepath.Join(t.TempDir(), "app.env")
				if err := c.make(path); err != nil {
					t.Fatal(err)
				}
				d := fileDest(t, Config{Path: path, Format: format})
				for op, err := range map[string]error{"write": NewFiles().Write(t.Context(), d, "tw_x"), "delete": NewFiles().Delete(t.Context(), d)} {
					if err == nil || !strings.Contains(err.Error(), path+" "+c.want) {
						t.Fatalf("%s: %v; want a refusal saying %s %s", op, err, path, c.want)
					}
				}
				if fi, err := os.Lstat(path); err != nil || fi.Mode().IsRegular() {
					t.Fatalf("the %s was replaced: %v", c.name, err)
				}
			})
		}
	}
}

// read reads path as the stranger: what they would see of it, or an error
// when they cannot.
func (s stranger) read(t *testing.T, path string) (string, error) {
	t.Helper()
	cmd := exec.Command("cat", path)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(s.uid), Gid: uint32(s.gid)}}
	out, err := cmd.Output()
	return string(out), err
}

// statOf returns the owner, group and permission bits of path.
func statOf(t *testing.T, path string) (uid, gid int, mode fs.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return int(st.Uid), int(st.Gid), fi.Mode().Perm()
}

// TestFilesSetgidFolderGivesNoGroup: the folder's owner sets the setgid bit
// on it (on BSD and macOS every folder acts so), so a file made in it takes
// the folder's group; tokenward gives the file the group it means (the
// existing file's, else the declared one, else its own), so the folder's
// owner does not read the token through their group.
func TestFilesSetgidFolderGivesNoGroup(t *testing.T) {
	needRoot(t)
	t.Parallel()
	app := nobody(t)
	cases := []struct {
		name    string
		c       Config
		before  bool // a root:root 0640 file is there already
		gid     int  // the group the file must have
		readers bool // whether the folder's owner may read it (their group was declared)
	}{
		{name: "declared group root, mode 0640", c: Config{Group: "root", Mode: "0640"}, gid: 0},
		{name: "declared mode 0640, no group", c: Config{Mode: "0640"}, gid: os.Getegid()},
		{name: "existing root:root 0640, nothing declared", before: true, gid: 0},
		{name: "declared group of the consumer", c: Config{Group: app.group, Mode: "0640"}, gid: app.gid, readers: true},
	}
	for _, format := range []string{FormatRaw, FormatDotenv} {
		for _, c := range cases {
			t.Run(format+"/"+c.name, func(t *testing.T) {
				t.Parallel()
				folder := app.folder(t)
				app.run(t, "chmod", "2755", folder) // the owner, on their own folder
				path := filepath.Join(folder, "app.token")
				if c.before {
					writeFile(t, path, "TOKEN=tw_old\n", 0o640, 0, 0)
				}
				c.c.Path, c.c.Format = path, format
				if err := NewFiles().Write(t.Context(), fileDest(t, c.c), "tw_new_value"); err != nil {
					t.Fatal(err)
				}
				if _, gid, mode := statOf(t, path); gid != c.gid || mode != 0o640 {
					t.Fatalf("the file has group %d, mode %o; want group %d, mode 0640", gid, mode, c.gid)
				}
				got, _ := app.read(t, path)
				if strings.Contains(got, "tw_new_value") != c.readers {
					t.Fatalf("the folder's owner (%s) reads %q; want it to read the value: %v", app.name, got, c.readers)
				}
			})
		}
	}
}

// TestFilesDotenvHandsNoContentToNewReaders: the folder's owner moves a
// file only root may read (a TLS key beside the app's files) to a dotenv
// destination's name. A rewrite that would give the file to someone who
// could not read it before (the declared owner, group or mode) keeps none
// of its lines: it refuses, naming the file and what to do, and leaves it.
// Where no one new could read it, or nothing but tokenward's own line
// would be kept, the write goes on.
func TestFilesDotenvHandsNoContentToNewReaders(t *testing.T) {
	needRoot(t)
	t.Parallel()
	app := nobody(t)
	const secret = "-----BEGIN PRIVATE KEY-----\nroot-only-secret\n"
	cases := []struct {
		name    string
		c       Config
		content string // what root's 0600 file holds
		delete  bool
		err     string // part of the refusal; "" when the operation goes on
	}{
		{name: "declared owner: the consumer", c: Config{Owner: app.name}, content: secret, err: "owner " + app.name + " instead of root"},
		{name: "declared mode 0644", c: Config{Mode: "0644"}, content: secret, err: "mode 0644 instead of 0600"},
		{name: "declared group and 0640", c: Config{Group: app.group, Mode: "0640"}, content: secret, err: "group " + app.group + " instead of root"},
		{name: "delete, declared owner", c: Config{Owner: app.name}, content: secret + "TOKEN=tw_old\n", delete: true, err: "owner " + app.name},
		{name: "delete, declared group and 0640", c: Config{Group: app.group, Mode: "0640"}, content: secret + "TOKEN=tw_old\n", delete: true, err: "group " + app.group},
		{name: "nothing declared: stays root's", content: secret},
		{name: "delete, nothing declared: stays root's", content: secret + "TOKEN=tw_old\n", delete: true},
		{name: "only tokenward's line", c: Config{Owner: app.name, Mode: "0640"}, content: "TOKEN=tw_old\n\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			folder := app.folder(t)
			key := filepath.Join(folder, "tls.key")
			writeFile(t, key, c.content, 0o600, 0, 0)
			if _, err := app.read(t, key); err == nil {
				t.Fatal("the folder's owner can read root's file already")
			}
			path := filepath.Join(folder, "app.env")
			app.run(t, "mv", key, path) // the folder's owner, in their own folder
			c.c.Path = path
			d := fileDest(t, c.c)
			var err error
			if c.delete {
				err = NewFiles().Delete(t.Context(), d)
			} else {
				err = NewFiles().Write(t.Context(), d, "tw_new")
			}
			if c.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				if uid, _, mode := statOf(t, path); c.c.Owner == "" && (uid != 0 || mode != 0o600) {
					t.Fatalf("the file is now %d %o; want root's 0600", uid, mode)
				}
				if got, _ := app.read(t, path); strings.Contains(got, "root-only") {
					t.Fatalf("the folder's owner reads root's lines: %q", got)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), path+" holds lines tokenward did not write") ||
				!strings.Contains(err.Error(), c.err) || !strings.Contains(err.Error(), "chown ") {
				t.Fatalf("got %v; want a refusal naming %s, saying %q and how to fix it", err, path, c.err)
			}
			if strings.Contains(err.Error(), "root-only") || strings.Contains(err.Error(), "tw_old") {
				t.Fatalf("the error shows the file's content: %v", err)
			}
			if b, _ := os.ReadFile(path); string(b) != c.content {
				t.Fatalf("the refused file changed: %q", b)
			}
			if uid, gid, mode := statOf(t, path); uid != 0 || gid != 0 || mode != 0o600 {
				t.Fatalf("the refused file is now %d:%d %o", uid, gid, mode)
			}
			if got := names(t, folder); len(got) != 1 {
				t.Fatalf("files left beside it: %v", got)
			}
		})
	}
}

// TestFilesRefuseHardLinks: a name that is one of several of a file (here
// a root file outside the folder, linked in by root to stand for a host
// with fs.protected_hardlinks=0, where the folder's owner could) is neither
// read, rewritten nor removed; the refusal names it.
func TestFilesRefuseHardLinks(t *testing.T) {
	needRoot(t)
	t.Parallel()
	app := nobody(t)
	const secret = "root:$6$hash:19000::::::\n"
	for _, c := range []struct {
		name, format string
		delete       bool
	}{
		{"dotenv write", FormatDotenv, false},
		{"raw write", FormatRaw, false},
		{"dotenv delete", FormatDotenv, true},
		{"raw delete", FormatRaw, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			folder := app.folder(t)
			victim := filepath.Join(filepath.Dir(folder), "shadow")
			writeFile(t, victim, secret+"TOKEN=x\n", 0o600, 0, 0)
			path := filepath.Join(folder, "app.env")
			if err := os.Link(victim, path); err != nil {
				t.Fatal(err)
			}
			d := fileDest(t, Config{Path: path, Format: c.format, Owner: app.name})
			var err error
			if c.delete {
				err = NewFiles().Delete(t.Context(), d)
			} else {
				err = NewFiles().Write(t.Context(), d, "tw_new")
			}
			if err == nil || !strings.Contains(err.Error(), path+" has 2 names (hard links)") {
				t.Fatalf("got %v; want a refusal naming %s and its hard links", err, path)
			}
			for _, p := range []string{victim, path} {
				if b, err := os.ReadFile(p); err != nil || string(b) != secret+"TOKEN=x\n" {
					t.Fatalf("%s changed: %q, %v", p, b, err)
				}
			}
			if got, _ := app.read(t, path); got != "" {
				t.Fatalf("the folder's owner reads the linked file: %q", got)
			}
		})
	}
}

// TestFilesRawDeleteRemovesOnlyWhatItCouldHaveWritten: destroy cannot know
// that a raw file still holds tokenward's value, so it removes only a file
// tokenward could have written: a regular file with one name, owned by
// root, the running user or the declared owner, in such a group.
func TestFilesRawDeleteRemovesOnlyWhatItCouldHaveWritten(t *testing.T) {
	needRoot(t)
	t.Parallel()
	app := nobody(t)
	for _, c := range []struct {
		name     string
		uid, gid int
		c        Config
		err      string // part of the refusal; "" when the file is removed
	}{
		{name: "root's file", uid: 0, gid: 0},
		{name: "declared owner's file", uid: app.uid, gid: app.gid, c: Config{Owner: app.name, Group: app.group}},
		{name: "someone else's file", uid: app.uid, gid: 0, err: "belongs to user " + app.name},
		{name: "someone else's group", uid: 0, gid: app.gid, err: "belongs to group " + app.group},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(app.folder(t), "app.token")
			writeFile(t, path, "tw_value\n", 0o600, c.uid, c.gid)
			c.c.Path, c.c.Format = path, FormatRaw
			err := NewFiles().Delete(t.Context(), fileDest(t, c.c))
			_, gone := os.Lstat(path)
			switch {
			case c.err == "" && (err != nil || !errors.Is(gone, fs.ErrNotExist)):
				t.Fatalf("Delete: %v; the file: %v; want it removed", err, gone)
			case c.err != "" && (err == nil || !strings.Contains(err.Error(), path+" "+c.err)):
				t.Fatalf("Delete: %v; want a refusal naming %s and saying %q", err, path, c.err)
			case c.err != "" && gone != nil:
				t.Fatalf("the refused file was removed: %v", gone)
			}
		})
	}
}

// TestFilesSwapsDuringWritesReachNothingElse: while writes and deletes run,
// the folder's owner keeps swapping a folder on the path, the file and its
// lock for symbolic and hard links to another folder's files. Whatever
// each operation does (most are refused), the other folder's files keep
// their content and mode, nothing is made beside them, and no copy of
// their content appears in the destination's folder.
func TestFilesSwapsDuringWritesReachNothingElse(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	victimDir := filepath.Join(base, "victim")
	if err := os.Mkdir(victimDir, 0o700); err != nil {
		t.Fatal(err)
	}
	victim := filepath.Join(victimDir, "app.env")
	const secret = "ROOT=secret\n"
	writeFile(t, victim, secret, 0o600, os.Geteuid(), os.Getegid())
	writeFile(t, filepath.Join(victimDir, ".app.env.tokenward.lock"), "", 0o600, os.Geteuid(), os.Getegid())
	folder := filepath.Join(base, "app")
	if err := os.Mkdir(folder, 0o755); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(folder, "sub")
	real := filepath.Join(folder, "sub.real")
	if err := os.Mkdir(real, 0o755); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { // the folder's owner
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			at := real    // where the real folder is now: never through the link
			if i%2 == 0 { // the folder on the path: the real one, or a link to the victim's
				os.Rename(sub, real)
				os.Symlink(victimDir, sub)
			} else {
				os.Remove(sub)
				os.Rename(real, sub)
				at = sub
			}
			for _, n := range []string{"app.env", ".app.env.tokenward.lock"} {
				p := filepath.Join(at, n)
				switch i % 3 {
				case 0:
					os.Remove(p)
					os.Symlink(filepath.Join(victimDir, n), p)
				case 1:
					os.Remove(p)
					os.Link(filepath.Join(victimDir, n), p)
				}
			}
		}
	}()
	vi, err := os.Stat(victim)
	if err != nil {
		t.Fatal(err)
	}
	// copies finds a copy of the victim's content in the folder; WalkDir
	// follows no link, and a hard link the owner made is the file itself.
	copies := func() string {
		var found string
		filepath.WalkDir(folder, func(p string, e fs.DirEntry, err error) error {
			if err != nil || !e.Type().IsRegular() {
				return nil
			}
			f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
			if err != nil {
				return nil
			}
			defer f.Close()
			// Read what was opened: the owner swaps names all the while.
			if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() || os.SameFile(fi, vi) {
				return nil
			}
			if b, _ := io.ReadAll(f); strings.Contains(string(b), "ROOT=secret") {
				found = p
			}
			return nil
		})
		return found
	}
	d := fileDest(t, Config{Path: filepath.Join(sub, "app.env")})
	for i := range 400 {
		if NewFiles().Write(t.Context(), d, "tw_x") == nil { // most are refused
			if p := copies(); p != "" {
				t.Errorf("%s holds a copy of the other folder's file", p)
				break
			}
		}
		if i%3 == 0 {
			NewFiles().Delete(t.Context(), d)
		}
	}
	close(stop)
	<-done
	if b, err := os.ReadFile(victim); err != nil || string(b) != secret {
		t.Fatalf("the other folder's file changed: %q, %v", b, err)
	}
	if vi, err := os.Stat(victim); err != nil || vi.Mode().Perm() != 0o600 {
		t.Fatalf("the other folder's file changed mode: %v", err)
	}
	if got := names(t, victimDir); len(got) != 2 {
		t.Fatalf("the other folder now holds %v", got)
	}
	if p := copies(); p != "" {
		t.Errorf("%s holds a copy of the other folder's file", p)
	}
}

// TestFileOneKeyForOneAbsolutePath: two spellings of one absolute path are
// one key and one file, so the one-file-one-owner check, which looks up
// the stored keys of FileOf's path, sees them collide.
func TestFileOneKeyForOneAbsolutePath(t *testing.T) {
	t.Parallel()
	for _, format := range []string{FormatRaw, FormatDotenv} {
		t.Run(format, func(t *testing.T) {
			want := fileDest(t, Config{Path: "/x/a.env", Format: format})
			wf, _ := FileOf(want)
			for _, p := range []string{"/x/y/../a.env", "/x/./a.env", "//x//a.env"} {
				d := fileDest(t, Config{Path: p, Format: format})
				f, ok := FileOf(d)
				if !ok || f != wf || d.Key != want.Key || !strings.HasPrefix(d.Key, FileKeyPrefix(f.Path)) {
					t.Errorf("%s: key %s, file %+v; want key %s, file %+v, the key under FileKeyPrefix(%s)", p, d.Key, f, want.Key, wf, f.Path)
				}
			}
		})
	}
}
