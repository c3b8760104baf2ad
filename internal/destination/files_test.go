package destination

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/tokenward/terraform-provider-tokenward/internal/store"
)

func TestSetLine(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, in, want string
	}{
		{"empty file", "", "TOKEN=new\n"},
		{"append, others kept", "# comment\nA=1\n", "# comment\nA=1\nTOKEN=new\n"},
		{"no trailing newline", "A=1", "A=1\nTOKEN=new\n"},
		{"replace in place", "A=1\nTOKEN=old\nB=2\n", "A=1\nTOKEN=new\nB=2\n"},
		{"export kept", "export TOKEN=old\n", "export TOKEN=new\n"},
		{"export with a tab", "export\tTOKEN=old\n", "export\tTOKEN=new\n"},
		{"indented", "  TOKEN = old\n", "  TOKEN=new\n"},
		{"duplicates dropped", "TOKEN=a\nB=2\nTOKEN=b\n", "TOKEN=new\nB=2\n"},
		{"CRLF kept", "A=1\r\nTOKEN=old\r\nB=2\r\n", "A=1\r\nTOKEN=new\r\nB=2\r\n"},
		{"CRLF append", "A=1\r\n", "A=1\r\nTOKEN=new\r\n"},
		{"byte order mark", "\ufeffTOKEN=old\n", "\ufeffTOKEN=new\n"},
		{"comment naming the key", "# TOKEN=doc\nTOKEN=old\n", "# TOKEN=doc\nTOKEN=new\n"},
		{"prefix of another key", "TOKEN_URL=x\nMYTOKEN=y\n", "TOKEN_URL=x\nMYTOKEN=y\nTOKEN=new\n"},
		{"inside a multi-line value", "CERT=\"-----BEGIN\nTOKEN=not-a-line\n-----END\"\n", "CERT=\"-----BEGIN\nTOKEN=not-a-line\n-----END\"\nTOKEN=new\n"},
		{"last line without newline", "A=1\nTOKEN=old", "A=1\nTOKEN=new\n"},
		{"own multi-line value replaced whole", "A=1\nTOKEN=\"old\nsecond\"\nB=2\n", "A=1\nTOKEN=new\nB=2\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := setLine([]byte(c.in), "TOKEN", "new")
			if err != nil || string(got) != c.want {
				t.Fatalf("setLine(%q) = %q, %v; want %q", c.in, got, err, c.want)
			}
		})
	}
}

func TestDropLine(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, in, want string
		found          bool
	}{
		{"absent", "A=1\n", "A=1\n", false},
		{"only line", "TOKEN=x\n", "", true},
		{"every assignment", "TOKEN=a\r\nA=1\r\nexport TOKEN=b\r\n", "A=1\r\n", true},
		{"comments kept", "# TOKEN=doc\nTOKEN=x\n", "# TOKEN=doc\n", true},
		{"own multi-line value", "TOKEN='a\nb'\nA=1\n", "A=1\n", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, found, err := dropLine([]byte(c.in), "TOKEN")
			if err != nil || string(got) != c.want || found != c.found {
				t.Fatalf("dropLine(%q) = %q, %v, %v; want %q, %v", c.in, got, found, err, c.want, c.found)
			}
		})
	}
}

// TestFilesTwoWritersOneDotenv: writers that do not share memory, as two
// processes would not, each own a line of one file; no line is lost.
func TestFilesTwoWritersOneDotenv(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "app.env")
	const n = 40
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d, err := New(KindFile, Config{Path: path, Key: fmt.Sprintf("TOKEN_%02d", i), Format: FormatDotenv})
			if err != nil {
				errs <- err
				return
			}
			errs <- NewFiles().Write(t.Context(), d, fmt.Sprintf("value-%02d", i))
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if !strings.Contains(string(b), fmt.Sprintf("TOKEN_%02d=value-%02d\n", i, i)) {
			t.Fatalf("line %d lost:\n%s", i, b)
		}
	}
	if left := names(t, filepath.Dir(path)); len(left) != 1 {
		t.Fatalf("files left beside app.env (temporary or lock files): %v", left)
	}
}

func TestFilesRemovesLeftoverTemporaryFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "token")
	leftover := filepath.Join(dir, ".token.tokenward-tmp-123")
	if err := os.WriteFile(leftover, []byte("tw_stale\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := New(KindFile, Config{Path: path, Format: FormatRaw})
	if err != nil {
		t.Fatal(err)
	}
	if err := NewFiles().Write(t.Context(), d, "tw_value"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(leftover); !os.IsNotExist(err) {
		t.Fatalf("a leftover temporary file holding a value is still there: %v", err)
	}
}

// names lists the names in dir, sorted.
func names(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Name()
	}
	return out
}

func fileDest(t *testing.T, c Config) store.Destination {
	t.Helper()
	if c.Format == "" {
		c.Format = FormatDotenv
	}
	if c.Format == FormatDotenv && c.Key == "" {
		c.Key = "TOKEN"
	}
	d, err := New(KindFile, c)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestDotenvUnterminatedQuote: a quote that never closes before the key
// would make the rest of the file one value, hide the key's line and add a
// second one; it is refused with its line number, and the file is kept.
func TestDotenvUnterminatedQuote(t *testing.T) {
	t.Parallel()
	const in = "A=1\nB=\"open\nTOKEN=old\nC=3\n"
	if got, err := setLine([]byte(in), "TOKEN", "new"); err == nil || !strings.Contains(err.Error(), "line 2") || !strings.Contains(err.Error(), "B") {
		t.Fatalf("setLine = %q, %v; want an error naming line 2 and B", got, err)
	}
	if got, _, err := dropLine([]byte(in), "TOKEN"); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("dropLine = %q, %v; want an error naming line 2", got, err)
	}
	path := filepath.Join(t.TempDir(), "app.env")
	if err := os.WriteFile(path, []byte(in), 0o600); err != nil {
		t.Fatal(err)
	}
	err := NewFiles().Write(t.Context(), fileDest(t, Config{Path: path}), "tw_new")
	if err == nil || !strings.Contains(err.Error(), path+" line 2") {
		t.Fatalf("Write: %v; want an error naming %s line 2", err, path)
	}
	if b, _ := os.ReadFile(path); string(b) != in {
		t.Fatalf("the file changed: %q", b)
	}
	if strings.Contains(err.Error(), "old") || strings.Contains(err.Error(), "open\"") {
		t.Fatalf("the error shows a value: %v", err)
	}
}

// TestFilesRefusesRelativePath: a relative path names another file in each
// folder tokenward runs in; it is refused before anything is written.
func TestFilesRefusesRelativePath(t *testing.T) {
	t.Parallel()
	for _, c := range []Config{{Path: "secrets/app.env"}, {Path: "../app.token", Format: FormatRaw}} {
		d := fileDest(t, c)
		if err := NewFiles().Write(t.Context(), d, "tw_x"); err == nil || !strings.Contains(err.Error(), "relative") || !strings.Contains(err.Error(), c.Path) {
			t.Fatalf("Write %s: %v; want a refusal naming the relative path", c.Path, err)
		}
		if err := NewFiles().Delete(t.Context(), d); err == nil || !strings.Contains(err.Error(), "relative") {
			t.Fatalf("Delete %s: %v; want a refusal", c.Path, err)
		}
		if _, err := os.Lstat(c.Path); !os.IsNotExist(err) {
			t.Fatalf("%s was created relative to the working directory", c.Path)
		}
	}
	if _, err := os.Lstat("secrets"); !os.IsNotExist(err) {
		t.Fatal("a folder was created relative to the working directory")
	}
}

func TestCheckFileAttributes(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		c     Config
		field string // "" for valid
	}{
		{"no attributes", Config{}, ""},
		{"mode 0640", Config{Mode: "0640"}, ""},
		{"mode 640", Config{Mode: "640"}, ""},
		{"mode 0o600", Config{Mode: "0o600"}, ""},
		{"mode 0777", Config{Mode: "0777"}, ""},
		{"setuid", Config{Mode: "4755"}, "mode"},
		{"sticky", Config{Mode: "01600"}, "mode"},
		{"not octal", Config{Mode: "0680"}, "mode"},
		{"symbolic", Config{Mode: "rw-r-----"}, "mode"},
		{"negative", Config{Mode: "-1"}, "mode"},
		{"owner name", Config{Owner: "www-data", Group: "www-data"}, ""},
		{"owner id", Config{Owner: "33", Group: "0"}, ""},
		{"owner with colon", Config{Owner: "www-data:www-data"}, "owner"},
		{"owner with space", Config{Owner: "a b"}, "owner"},
		{"group with slash", Config{Group: "../etc"}, "group"},
		{"owner too long", Config{Owner: strings.Repeat("a", 40)}, "owner"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.c.Path, c.c.Format = "/srv/app/token", FormatRaw
			err := Check(KindFile, c.c)
			var e *Error
			switch {
			case c.field == "" && err != nil:
				t.Fatalf("Check: %v", err)
			case c.field != "" && (!errors.As(err, &e) || e.Field != c.field):
				t.Fatalf("Check: %v; want an error on %s", err, c.field)
			}
		})
	}
}
