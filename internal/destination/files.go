package destination

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gofrs/flock"

	"github.com/tokenward/terraform-provider-tokenward/internal/store"
)

// Files writes token values to local files, atomically and with mode 0600.
// A dotenv destination owns one KEY=value line and keeps the file's other
// lines byte for byte; a raw destination owns the whole file.
//
// Each write holds an advisory lock on a hidden file beside the destination
// (.NAME.tokenward.lock), so two processes (a rotation run and a terraform
// apply) updating lines of one dotenv file never lose each other's line.
type Files struct{}

// NewFiles returns a file writer.
func NewFiles() *Files { return &Files{} }

// lockFile takes the advisory lock of path, waiting until ctx ends.
func lockFile(ctx context.Context, path string) (unlock func(), err error) {
	dir, base := filepath.Split(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	l := flock.New(filepath.Join(dir, "."+base+".tokenward.lock"), flock.SetPermissions(0o600))
	ok, err := l.TryLockContext(ctx, 20*time.Millisecond)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if !ok {
		return nil, fmt.Errorf("lock %s: %w", path, ctx.Err())
	}
	return func() { l.Unlock() }, nil
}

func (f *Files) config(d store.Destination) (Config, string, error) {
	c, err := Decode(d)
	if err != nil {
		return c, "", err
	}
	if err := Check(KindFile, c); err != nil {
		return c, "", fmt.Errorf("destination %s: %w", d.Key, err)
	}
	path, err := filepath.Abs(c.Path)
	if err != nil {
		return c, "", fmt.Errorf("destination %s: %w", d.Key, err)
	}
	// Lock and rename the file a link points to, not the link.
	if real, err := filepath.EvalSymlinks(path); err == nil {
		path = real
	}
	return c, path, nil
}

// Write puts value into the file.
func (f *Files) Write(ctx context.Context, d store.Destination, value string) error {
	if strings.ContainsAny(value, "\r\n") {
		return fmt.Errorf("write %s: the value holds a line break", d.Key)
	}
	c, path, err := f.config(d)
	if err != nil {
		return err
	}
	unlock, err := lockFile(ctx, path)
	if err != nil {
		return fmt.Errorf("write %s: %w", d.Key, err)
	}
	defer unlock()
	content := []byte(value + "\n")
	if c.Format == FormatDotenv {
		old, err := os.ReadFile(path)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("write %s: %w", d.Key, err)
		}
		content = setLine(old, c.Key, value)
	}
	if err := writeAtomic(path, content); err != nil {
		return fmt.Errorf("write %s: %w", d.Key, err)
	}
	return nil
}

// Delete removes the line (dotenv) or the file (raw) tokenward wrote.
func (f *Files) Delete(ctx context.Context, d store.Destination) error {
	c, path, err := f.config(d)
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Dir(path)); errors.Is(err, fs.ErrNotExist) {
		return nil // nothing was ever written there
	}
	unlock, err := lockFile(ctx, path)
	if err != nil {
		return fmt.Errorf("delete %s: %w", d.Key, err)
	}
	defer unlock()
	if c.Format == FormatRaw {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("delete %s: %w", d.Key, err)
		}
		return nil
	}
	old, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("delete %s: %w", d.Key, err)
	}
	next, found := dropLine(old, c.Key)
	if !found {
		return nil
	}
	if err := writeAtomic(path, next); err != nil {
		return fmt.Errorf("delete %s: %w", d.Key, err)
	}
	return nil
}

// A dotenv line as found in the file: its bytes with the line ending, and
// what it assigns.
type line struct {
	raw    []byte // with its "\n" or "\r\n", if any
	key    string // the variable it assigns; "" for comments, blanks and continuation lines
	prefix string // leading blanks and "export ", kept when the line is rewritten
	of     string // for a line that continues a quoted value: the key it belongs to
}

// parseDotenv splits content into lines, keeping every byte. A value that
// opens a quote and does not close it on its line continues on the next
// lines, which assign nothing.
func parseDotenv(content []byte) []line {
	var out []line
	var quote byte  // the quote a multi-line value is still open on
	var open string // the key whose value is still open
	first := true
	for len(content) > 0 {
		i := bytes.IndexByte(content, '\n')
		var raw []byte
		if i < 0 {
			raw, content = content, nil
		} else {
			raw, content = content[:i+1], content[i+1:]
		}
		l := line{raw: raw}
		text := strings.TrimRight(string(raw), "\r\n")
		bom := ""
		if first {
			if t, ok := strings.CutPrefix(text, "\ufeff"); ok {
				text, bom = t, "\ufeff"
			}
			first = false
		}
		if quote != 0 {
			l.of = open
			if strings.IndexByte(text, quote) >= 0 {
				quote, open = 0, ""
			}
			out = append(out, l)
			continue
		}
		l.key, l.prefix, quote = assignment(text)
		l.prefix = bom + l.prefix
		if quote != 0 {
			open = l.key
		}
		out = append(out, l)
	}
	return out
}

// assignment reads one dotenv line: the key it assigns, the prefix before
// the key (blanks, "export" and the blanks after it), and the quote its
// value leaves open, if any.
func assignment(text string) (key, prefix string, open byte) {
	rest := strings.TrimLeft(text, " \t")
	if after, ok := strings.CutPrefix(rest, "export"); ok && len(after) > 0 && (after[0] == ' ' || after[0] == '\t') {
		rest = strings.TrimLeft(after, " \t")
	}
	prefix = text[:len(text)-len(rest)]
	if strings.HasPrefix(rest, "#") {
		return "", "", 0
	}
	k, v, ok := strings.Cut(rest, "=")
	if !ok {
		return "", "", 0
	}
	k = strings.TrimRight(k, " \t")
	if !dotenvKey.MatchString(k) {
		return "", "", 0
	}
	v = strings.TrimLeft(v, " \t")
	if len(v) > 0 && (v[0] == '"' || v[0] == '\'') && strings.IndexByte(v[1:], v[0]) < 0 {
		open = v[0]
	}
	return k, prefix, open
}

// newline is the line ending the file uses: CRLF when its first line ends so.
func newline(lines []line) string {
	if len(lines) > 0 && bytes.HasSuffix(lines[0].raw, []byte("\r\n")) {
		return "\r\n"
	}
	return "\n"
}

// setLine assigns value to key: the first assignment of key is rewritten in
// place (keeping its "export" and line ending), later ones are dropped, and
// when there is none a line is appended. Every other byte is kept.
func setLine(content []byte, key, value string) []byte {
	lines := parseDotenv(content)
	nl := newline(lines)
	var b bytes.Buffer
	done := false
	for _, l := range lines {
		if l.of == key {
			continue // the rest of the old value, replaced with it
		}
		if l.key != key {
			b.Write(l.raw)
			continue
		}
		if done {
			continue
		}
		end := nl
		if !bytes.HasSuffix(l.raw, []byte("\n")) {
			end = ""
		} else if !bytes.HasSuffix(l.raw, []byte("\r\n")) {
			end = "\n"
		}
		b.WriteString(l.prefix + key + "=" + value + end)
		done = true
	}
	if !done {
		if b.Len() > 0 && !bytes.HasSuffix(b.Bytes(), []byte("\n")) {
			b.WriteString(nl)
		}
		b.WriteString(key + "=" + value + nl)
	} else if !bytes.HasSuffix(b.Bytes(), []byte("\n")) {
		b.WriteString(nl)
	}
	return b.Bytes()
}

// dropLine removes every assignment of key and keeps every other byte.
func dropLine(content []byte, key string) ([]byte, bool) {
	var b bytes.Buffer
	found := false
	for _, l := range parseDotenv(content) {
		if l.key == key || l.of == key {
			found = true
			continue
		}
		b.Write(l.raw)
	}
	return b.Bytes(), found
}

// tempPattern names the temporary files writeAtomic makes beside path.
func tempPattern(path string) string { return "." + filepath.Base(path) + ".tokenward-tmp-*" }

// writeAtomic replaces path with content through a temporary file in the same
// directory, synced before the rename, so a reader sees the old file or the
// new one and never a part. Call it holding the file's lock.
func writeAtomic(path string, content []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	// A crash between creating and renaming leaves a temporary file that
	// holds a value; the lock is held, so any found now is such a leftover.
	if stale, err := filepath.Glob(filepath.Join(dir, tempPattern(path))); err == nil {
		for _, s := range stale {
			os.Remove(s)
		}
	}
	tmp, err := os.CreateTemp(dir, tempPattern(path))
	if err != nil {
		return err
	}
	clean := func() { tmp.Close(); os.Remove(tmp.Name()) }
	if err := tmp.Chmod(0o600); err != nil {
		clean()
		return err
	}
	if _, err := tmp.Write(content); err != nil {
		clean()
		return err
	}
	if err := tmp.Sync(); err != nil {
		clean()
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync() // best effort: Windows cannot sync a directory
		d.Close()
	}
	return nil
}
