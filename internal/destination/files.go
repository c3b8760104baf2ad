package destination

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/tokenward/terraform-provider-tokenward/internal/store"
)

// Files writes token values to local files, atomically. A dotenv destination
// owns one KEY=value line and keeps the file's other lines byte for byte; a
// raw destination owns the whole file.
//
// Whoever can write a destination's folder (usually the consuming app) must
// not be able to turn a root rotation against the host, so Files never
// follows a symbolic link: not in the folder's path, not at the file, not for
// its lock or temporary files. It opens the folder one component at a time,
// checks each is a real folder, and does everything else relative to it; it
// reads, replaces and removes only regular files with one name (a hard link
// may be a file from elsewhere).
//
// A file keeps its owner and group when they are root, the running user or
// the declared owner and group, and is refused otherwise (it may have been
// planted to read the next value); it keeps its mode, capped at 0640 unless
// a mode is declared. A new file gets the declared mode (0600 by default),
// owner and group, else tokenward's own, never the folder's. A dotenv
// rewrite keeps the file's other lines only when the new file lets no one
// read them who could not read the old one, since the folder's owner may
// have moved another file (a key) to the name to be handed its content.
//
// Each write holds an advisory lock on a hidden file in the destination's
// folder (.NAME.tokenward.lock), so two processes (a rotation run and a
// terraform apply) updating lines of one dotenv file never lose each other's
// line. The lock file is removed when the write ends (on Windows it stays).
type Files struct{}

// NewFiles returns a file writer.
func NewFiles() *Files { return &Files{} }

// lockName and tempPrefix name the files tokenward makes beside base, in its
// folder: the lock and the temporary files that become the new file.
func lockName(base string) string   { return "." + base + ".tokenward.lock" }
func tempPrefix(base string) string { return "." + base + ".tokenward-tmp-" }

// config reads a stored file destination and its path, which must be
// absolute: a relative one would be resolved against whatever folder the
// process runs in, and write a second file the consumer never reads.
func (f *Files) config(d store.Destination) (Config, string, error) {
	c, err := decodeChecked(KindFile, d)
	if err != nil {
		return c, "", err
	}
	if !filepath.IsAbs(c.Path) {
		return c, "", fmt.Errorf("destination %s: path %q is relative, and would name another file in each folder tokenward runs in: declare an absolute path (in Terraform, wrap it in abspath()) and apply", d.Key, c.Path)
	}
	return c, filepath.Clean(c.Path), nil
}

// LinkError reports a symbolic link on the way to a file destination, which
// tokenward refuses to follow.
type LinkError struct {
	Path string // the link
	Real string // for a folder on the way: the destination's path through it, when it resolves
}

func (e *LinkError) Error() string {
	msg := e.Path + " is a symbolic link, and tokenward follows no link at a file destination, since whoever can write the folder could point it at another file: remove the link"
	if e.Real != "" {
		return msg + ", or, if the folder it leads to is the one meant, declare the path through it: " + e.Real
	}
	return msg + ", or declare a path without links"
}

// linkError reports that the file at path is a link. It gets no hint: its
// target is whatever the folder's owner chose.
func linkError(path string) error { return &LinkError{Path: path} }

// folderLinkError reports the link at path, a folder on the way; rest is
// what the folder's path names beyond it (the caller adds the file's name).
// The resolved path is for the message only: nothing is opened through it.
func folderLinkError(path, rest string) error {
	e := &LinkError{Path: path}
	if real, err := filepath.EvalSymlinks(path); err == nil {
		e.Real = filepath.Join(real, rest)
	}
	return e
}

// errNoFolder: the destination's folder does not exist, so nothing was ever
// written there.
var errNoFolder = errors.New("the folder does not exist")

// openFolder opens dir, an absolute clean path, one component at a time:
// each must be a folder, not a link. create makes missing folders (mode
// 0700). Each component is checked with Lstat, opened, and the opened folder
// compared with what Lstat saw, so a folder swapped for a link in between is
// caught too.
func openFolder(dir string, create bool) (*os.Root, error) {
	vol := filepath.VolumeName(dir)
	sep := string(filepath.Separator)
	root, err := os.OpenRoot(vol + sep)
	if err != nil {
		return nil, err
	}
	walked := vol + sep
	rest := strings.Trim(dir[len(vol):], sep)
	if rest == "" {
		return root, nil
	}
	for _, name := range strings.Split(rest, sep) {
		next := filepath.Join(walked, name)
		fi, err := root.Lstat(name)
		if errors.Is(err, fs.ErrNotExist) {
			if !create {
				root.Close()
				return nil, errNoFolder
			}
			if err = root.Mkdir(name, 0o700); err == nil || errors.Is(err, fs.ErrExist) {
				fi, err = root.Lstat(name)
			}
		}
		if err != nil {
			root.Close()
			return nil, fmt.Errorf("open folder %s: %w", next, unwrapPath(err))
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			root.Close()
			return nil, folderLinkError(next, strings.TrimPrefix(dir, next))
		}
		if !fi.IsDir() {
			root.Close()
			return nil, fmt.Errorf("%s is not a folder", next)
		}
		sub, err := root.OpenRoot(name)
		root.Close()
		if err != nil {
			return nil, fmt.Errorf("open folder %s: %w", next, unwrapPath(err))
		}
		if st, err := sub.Stat("."); err != nil || !os.SameFile(fi, st) {
			sub.Close()
			return nil, fmt.Errorf("%s changed while it was opened (replaced by a link?); nothing was written, run again", next)
		}
		root, walked = sub, next
	}
	return root, nil
}

// withFile completes the path a folder's LinkError suggests with the file's
// name.
func withFile(err error, base string) error {
	var le *LinkError
	if errors.As(err, &le) && le.Real != "" {
		le.Real = filepath.Join(le.Real, base)
	}
	return err
}

// unwrapPath drops the relative name a Root method puts in its error, since
// the caller names the full path.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// existing returns what is at base in folder r, nil when nothing is, and its
// bytes when read is set. A link, or anything but a regular file, is refused
// and never opened; a file swapped in between the check and the open is
// caught by comparing the two.
func existing(r *os.Root, path, base string, read bool) (fs.FileInfo, []byte, error) {
	fi, err := r.Lstat(base)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, unwrapPath(err))
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		return nil, nil, linkError(path)
	}
	if !fi.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("%s is %s, not a regular file: tokenward writes and removes only regular files", path, kindOf(fi.Mode()))
	}
	if err := oneName(path, fi); err != nil {
		return nil, nil, err
	}
	if !read {
		return fi, nil, nil
	}
	f, err := r.OpenFile(base, os.O_RDONLY|openNonblock, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", path, unwrapPath(err))
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", path, err)
	}
	if !os.SameFile(fi, st) {
		return nil, nil, fmt.Errorf("%s changed while it was opened (replaced by a link?); nothing was written, run again", path)
	}
	if err := oneName(path, st); err != nil { // a link made since the Lstat
		return nil, nil, err
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", path, err)
	}
	return st, b, nil
}

// oneName refuses a file with more than one name. Another name may be a
// file elsewhere, outside the folder, that whoever can write the folder
// linked here (where fs.protected_hardlinks is off, or the file is theirs):
// a rewrite would copy its content into a file others read, and a removal
// would take a name the destination does not own.
func oneName(path string, fi fs.FileInfo) error {
	if n := links(fi); n != 1 {
		return fmt.Errorf("%s has %d names (hard links), and tokenward rewrites and removes only a file with one name, since another may be a file elsewhere that whoever can write this folder linked here: remove this name (or copy the file over it if its content is meant to be there), then run again", path, n)
	}
	return nil
}

// keepLines refuses to carry the lines of cur, the file at path, that are
// not key's into the file a gives, when that file lets someone read what
// cur did not let them: whoever can write the folder may have moved another
// file here (a key, another token's file) to have its content handed to
// them. Only blank lines are carried freely.
func keepLines(path string, cur fs.FileInfo, old []byte, key string, a attrs) error {
	if cur == nil {
		return nil
	}
	kept, _, err := dropLine(old, key)
	if err != nil {
		return fmt.Errorf("%s %w", path, err)
	}
	if len(bytes.TrimSpace(kept)) == 0 {
		return nil
	}
	how := a.widens(cur)
	if how == "" {
		return nil
	}
	return fmt.Errorf("%s holds lines tokenward did not write, and the new file would let more read them (%s); tokenward keeps a file's other lines only for those who could read them already, since whoever can write its folder may have moved another file here to be handed its content. If it is the consumer's file and these lines may be read so, give it the declared owner, group and mode (%s) and run again; otherwise remove it", path, how, a.fix(path))
}

// kindOf names what a mode says a directory entry is.
func kindOf(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a folder"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return "a special file"
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
	if err := f.write(ctx, c, path, value); err != nil {
		return fmt.Errorf("write %s: %w", d.Key, err)
	}
	return nil
}

func (f *Files) write(ctx context.Context, c Config, path, value string) error {
	dir, base := filepath.Dir(path), filepath.Base(path)
	r, err := openFolder(dir, true)
	if err != nil {
		return withFile(err, base)
	}
	defer r.Close()
	unlock, err := lock(ctx, r, dir, base)
	if err != nil {
		return err
	}
	defer unlock()
	removeStale(r, base)
	fi, old, err := existing(r, path, base, c.Format == FormatDotenv)
	if err != nil {
		return err
	}
	a, err := attributes(c, path, fi)
	if err != nil {
		return err
	}
	content := []byte(value + "\n")
	if c.Format == FormatDotenv {
		if content, err = setLine(old, c.Key, value); err != nil {
			return fmt.Errorf("%s %w", path, err)
		}
		if err := keepLines(path, fi, old, c.Key, a); err != nil {
			return err
		}
	}
	return writeAtomic(r, path, base, content, a)
}

// Delete removes the line (dotenv) or the file (raw) tokenward wrote, and
// the lock and temporary files it made beside it. A link, a hard link, or a
// file that tokenward would not have written (see Write), is refused.
func (f *Files) Delete(ctx context.Context, d store.Destination) error {
	c, path, err := f.config(d)
	if err != nil {
		return err
	}
	if err := f.delete(ctx, c, path); err != nil {
		return fmt.Errorf("delete %s: %w", d.Key, err)
	}
	return nil
}

func (f *Files) delete(ctx context.Context, c Config, path string) error {
	dir, base := filepath.Dir(path), filepath.Base(path)
	r, err := openFolder(dir, false)
	if errors.Is(err, errNoFolder) {
		return nil // nothing was ever written there
	}
	if err != nil {
		return withFile(err, base)
	}
	defer r.Close()
	unlock, err := lock(ctx, r, dir, base)
	if err != nil {
		return err
	}
	defer unlock()
	removeStale(r, base)
	fi, old, err := existing(r, path, base, c.Format == FormatDotenv)
	if err != nil || fi == nil {
		return err
	}
	a, err := attributes(c, path, fi)
	if err != nil {
		return err
	}
	if c.Format == FormatRaw {
		// Delete is not given the value, and the store keeps only hashes of
		// it (the file may hold an older version, too), so it cannot check
		// that the file holds tokenward's value. It removes only a file
		// tokenward could have written: a regular file with one name whose
		// owner and group Write accepts (root, the running user, the
		// declared ones), checked above. A name swapped since the check is
		// removed itself: a link's target is never touched, and a hard
		// link's other names keep the file.
		if err := r.Remove(base); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove %s: %w", path, unwrapPath(err))
		}
		return syncFolder(r)
	}
	next, found, err := dropLine(old, c.Key)
	if err != nil {
		return fmt.Errorf("%s %w", path, err)
	}
	if !found {
		return nil
	}
	if err := keepLines(path, fi, old, c.Key, a); err != nil {
		return err
	}
	return writeAtomic(r, path, base, next, a)
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
// lines, which assign nothing. A quote that no later line closes is an
// error: read as a continuation it would swallow the rest of the file (and
// with it the key tokenward owns, which would then be added a second time);
// read otherwise, it would not be what the file's consumer reads.
func parseDotenv(content []byte) ([]line, error) {
	var out []line
	var quote byte  // the quote a multi-line value is still open on
	var open string // the key whose value is still open
	opened := 0     // the line number where it opened
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
			open, opened = l.key, len(out)+1
		}
		out = append(out, l)
	}
	if quote != 0 {
		return nil, fmt.Errorf("line %d: the value of %s opens a quote (%c) that no later line closes, so tokenward cannot tell where it ends; close the quote, then run again", opened, open, quote)
	}
	return out, nil
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
func setLine(content []byte, key, value string) ([]byte, error) {
	lines, err := parseDotenv(content)
	if err != nil {
		return nil, err
	}
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
	return b.Bytes(), nil
}

// dropLine removes every assignment of key and keeps every other byte.
func dropLine(content []byte, key string) ([]byte, bool, error) {
	lines, err := parseDotenv(content)
	if err != nil {
		return nil, false, err
	}
	var b bytes.Buffer
	found := false
	for _, l := range lines {
		if l.key == key || l.of == key {
			found = true
			continue
		}
		b.Write(l.raw)
	}
	return b.Bytes(), found, nil
}

// removeStale removes the temporary files a killed write left beside base:
// each holds a value. The lock is held, so none of them is being written.
// Removing a name never touches what a link points to.
func removeStale(r *os.Root, base string) {
	d, err := r.Open(".")
	if err != nil {
		return
	}
	names, _ := d.Readdirnames(-1)
	d.Close()
	for _, n := range names {
		if strings.HasPrefix(n, tempPrefix(base)) {
			r.Remove(n)
		}
	}
}

// writeAtomic replaces base in r with content through a temporary file in
// the same folder, given its owner, group and mode and synced before the
// rename, so a reader sees the old file or the new one and never a part,
// and a temporary file a crash leaves behind is readable only by whom the
// file itself would be. Call it holding the file's lock.
func writeAtomic(r *os.Root, path, base string, content []byte, a attrs) error {
	var name string
	var tmp *os.File
	for range 10 { // O_EXCL never follows a link nor opens a file someone else made
		var b [8]byte
		rand.Read(b[:])
		name = tempPrefix(base) + hex.EncodeToString(b[:])
		var err error
		tmp, err = r.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("create a temporary file beside %s: %w", path, unwrapPath(err))
		}
	}
	if tmp == nil {
		return fmt.Errorf("create a temporary file beside %s: names keep existing", path)
	}
	fail := func(err error) error {
		tmp.Close()
		r.Remove(name)
		return err
	}
	if err := a.apply(tmp, path); err != nil {
		return fail(err)
	}
	if _, err := tmp.Write(content); err != nil {
		return fail(fmt.Errorf("write %s: %w", path, err))
	}
	if err := tmp.Sync(); err != nil {
		return fail(fmt.Errorf("write %s: %w", path, err))
	}
	if err := tmp.Close(); err != nil {
		r.Remove(name)
		return fmt.Errorf("write %s: %w", path, err)
	}
	// Rename replaces the name base: were it swapped for a link, the link
	// is replaced, not its target.
	if err := r.Rename(name, base); err != nil {
		r.Remove(name)
		return fmt.Errorf("write %s: %w", path, unwrapPath(err))
	}
	return syncFolder(r)
}

// syncFolder makes a rename or removal in r durable; best effort, since
// Windows cannot sync a folder.
func syncFolder(r *os.Root) error {
	if d, err := r.Open("."); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
