//go:build !unix

package destination

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/gofrs/flock"
)

// openNonblock: Windows has no FIFO to hang on.
const openNonblock = 0

// lock takes the advisory lock of base, waiting until ctx ends. Windows
// locks a file by a handle of its own, so the lock file is opened by path
// and stays after the write.
func lock(ctx context.Context, r *os.Root, dir, base string) (unlock func(), err error) {
	if fi, err := r.Lstat(lockName(base)); err == nil && !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("lock file %s is not a regular file: remove it", filepath.Join(dir, lockName(base)))
	}
	l := flock.New(filepath.Join(dir, lockName(base)), flock.SetPermissions(0o600))
	ok, err := l.TryLockContext(ctx, 20*time.Millisecond)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", filepath.Join(dir, base), err)
	}
	if !ok {
		return nil, fmt.Errorf("lock %s: %w", filepath.Join(dir, base), ctx.Err())
	}
	return func() { l.Unlock() }, nil
}

// attrs is the mode a file is written with; Windows keeps no Unix owner.
type attrs struct{ mode fs.FileMode }

// attributes decides the mode of the file at path: the declared one, else
// the existing file's capped at 0640, else 0600. Owner and group are Unix
// ideas, and refused here.
func attributes(c Config, path string, cur fs.FileInfo) (attrs, error) {
	if c.Owner != "" || c.Group != "" {
		return attrs{}, fmt.Errorf("%s: owner and group apply only on Unix", path)
	}
	mode, declared, err := parseMode(c.Mode)
	if err != nil {
		return attrs{}, err
	}
	switch {
	case declared:
		return attrs{mode: mode}, nil
	case cur != nil:
		return attrs{mode: cur.Mode().Perm() & 0o640}, nil
	}
	return attrs{mode: 0o600}, nil
}

func (a attrs) apply(f *os.File, path string) error {
	if err := f.Chmod(a.mode); err != nil {
		return fmt.Errorf("set the mode of %s: %w", path, err)
	}
	return nil
}

// widens: Windows controls access by ACL, not mode, and a new file takes
// its ACL from the folder, so tokenward cannot compare who reads the old
// file and the new one; it reports no one (a limit the README states).
func (a attrs) widens(cur fs.FileInfo) string { return "" }

func (a attrs) fix(path string) string { return "" }

// links: Go reports no link count on Windows; a hard link is not detected
// there (a limit the README states).
func links(fi fs.FileInfo) uint64 { return 1 }
