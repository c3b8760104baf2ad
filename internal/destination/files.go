package destination

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/tokenward/terraform-provider-tokenward/internal/store"
)

// Files writes token values to local files, atomically and with mode 0600.
// A dotenv destination owns one KEY=value line and keeps the file's other
// lines; a raw destination owns the whole file.
type Files struct {
	mu    sync.Mutex
	paths map[string]*sync.Mutex // one lock per file: Terraform writes tokens in parallel
}

// NewFiles returns a file writer.
func NewFiles() *Files { return &Files{paths: map[string]*sync.Mutex{}} }

func (f *Files) lock(path string) func() {
	f.mu.Lock()
	m, ok := f.paths[path]
	if !ok {
		m = &sync.Mutex{}
		f.paths[path] = m
	}
	f.mu.Unlock()
	m.Lock()
	return m.Unlock
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
	return c, path, nil
}

// Write puts value into the file.
func (f *Files) Write(ctx context.Context, d store.Destination, value string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if strings.ContainsAny(value, "\r\n") {
		return fmt.Errorf("write %s: the value holds a line break", d.Key)
	}
	c, path, err := f.config(d)
	if err != nil {
		return err
	}
	defer f.lock(path)()
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
	if err := ctx.Err(); err != nil {
		return err
	}
	c, path, err := f.config(d)
	if err != nil {
		return err
	}
	defer f.lock(path)()
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

// lineKey returns the variable a dotenv line assigns, accepting an "export "
// prefix, or "" for comments, blank lines and anything else.
func lineKey(line []byte) string {
	s := strings.TrimSpace(string(line))
	s = strings.TrimPrefix(s, "export ")
	k, _, ok := strings.Cut(s, "=")
	if !ok || strings.HasPrefix(s, "#") {
		return ""
	}
	return strings.TrimSpace(k)
}

func lines(content []byte) [][]byte {
	var out [][]byte
	sc := bufio.NewScanner(bytes.NewReader(content))
	sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
	for sc.Scan() {
		out = append(out, append([]byte(nil), sc.Bytes()...))
	}
	return out
}

// setLine replaces every assignment of key with one KEY=value line in the
// place of the first, or appends it; other lines are kept as they were.
func setLine(content []byte, key, value string) []byte {
	var b bytes.Buffer
	done := false
	for _, l := range lines(content) {
		if lineKey(l) == key {
			if done {
				continue
			}
			l, done = []byte(key+"="+value), true
		}
		b.Write(l)
		b.WriteByte('\n')
	}
	if !done {
		b.WriteString(key + "=" + value + "\n")
	}
	return b.Bytes()
}

func dropLine(content []byte, key string) ([]byte, bool) {
	var b bytes.Buffer
	found := false
	for _, l := range lines(content) {
		if lineKey(l) == key {
			found = true
			continue
		}
		b.Write(l)
		b.WriteByte('\n')
	}
	return b.Bytes(), found
}

// writeAtomic replaces path with content through a temporary file in the same
// directory, synced before the rename, so a reader sees the old file or the
// new one and never a part.
func writeAtomic(path string, content []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tokenward-*")
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
