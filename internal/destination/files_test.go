package destination

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
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
			if got := string(setLine([]byte(c.in), "TOKEN", "new")); got != c.want {
				t.Fatalf("setLine(%q) = %q, want %q", c.in, got, c.want)
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
			got, found := dropLine([]byte(c.in), "TOKEN")
			if string(got) != c.want || found != c.found {
				t.Fatalf("dropLine(%q) = %q, %v; want %q, %v", c.in, got, found, c.want, c.found)
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
	if leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(path), tempPattern(path))); len(leftovers) != 0 {
		t.Fatalf("temporary files left: %v", leftovers)
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
