//go:build unix

package destination

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// openNonblock keeps an open from hanging on a FIFO swapped in for a file.
const openNonblock = syscall.O_NONBLOCK

// lock takes the advisory lock of base in folder r, waiting until ctx ends.
// The lock file is opened in r, never through a link, and locked by its
// descriptor. unlock removes it: a process that was waiting on the removed
// file finds, once it has the lock, that the name no longer leads to what it
// locked, and starts over, so removing never lets two holders in.
func lock(ctx context.Context, r *os.Root, dir, base string) (unlock func(), err error) {
	name := lockName(base)
	for {
		f, err := openLock(r, dir, name)
		if err != nil {
			return nil, err
		}
		if err := flockWait(ctx, f); err != nil {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", filepath.Join(dir, base), err)
		}
		held, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", filepath.Join(dir, base), err)
		}
		if now, err := r.Lstat(name); err == nil && os.SameFile(held, now) {
			return func() {
				r.Remove(name)
				f.Close() // releases the lock
			}, nil
		}
		f.Close() // the holder before removed it; take the new one
	}
}

// openLock opens (or creates) the lock file name in r, refusing a link or
// anything but a regular file.
func openLock(r *os.Root, dir, name string) (*os.File, error) {
	path := filepath.Join(dir, name)
	if fi, err := r.Lstat(name); err == nil {
		if fi.Mode()&fs.ModeSymlink != 0 {
			return nil, linkError(path)
		}
		if !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("lock file %s is %s, not a regular file: remove it", path, kindOf(fi.Mode()))
		}
	}
	f, err := r.OpenFile(name, os.O_RDWR|os.O_CREATE|openNonblock, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock file %s: %w", path, unwrapPath(err))
	}
	// Nothing is ever written to it. Were the name swapped for a link in
	// between, lock finds that the name does not lead to what it locked and
	// starts over, and the check above then refuses the link.
	return f, nil
}

// flockWait takes an exclusive flock on f, polling until ctx ends.
func flockWait(ctx context.Context, f *os.File) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// attrs is the owner, group and mode a file is written with.
type attrs struct {
	uid, gid int
	mode     fs.FileMode
}

// attributes decides the owner, group and mode of the file at path, given
// what is there now (nil for nothing). An existing file keeps its owner and
// group, which must be root, the running user or the declared owner and
// group: a file that belongs to someone else was not written by tokenward,
// and may have been planted to be handed the next value. It keeps its mode,
// capped at 0640, unless a mode is declared. A new file gets the declared
// mode (0600 by default), owner and group, else those tokenward runs as:
// never what the folder would give it (a setgid folder, and every folder on
// BSD and macOS, gives a new file the folder's group, which its owner
// chose).
func attributes(c Config, path string, cur fs.FileInfo) (attrs, error) {
	mode, declared, err := parseMode(c.Mode)
	if err != nil {
		return attrs{}, err
	}
	uid, err := lookupID(c.Owner, "owner", func(n string) (string, error) {
		u, err := user.Lookup(n)
		if err != nil {
			return "", err
		}
		return u.Uid, nil
	})
	if err != nil {
		return attrs{}, err
	}
	gid, err := lookupID(c.Group, "group", func(n string) (string, error) {
		g, err := user.LookupGroup(n)
		if err != nil {
			return "", err
		}
		return g.Gid, nil
	})
	if err != nil {
		return attrs{}, err
	}
	a := attrs{uid: uid, gid: gid, mode: 0o600}
	if declared {
		a.mode = mode
	}
	if cur == nil {
		if a.uid < 0 {
			a.uid = os.Geteuid()
		}
		if a.gid < 0 {
			a.gid = os.Getegid()
		}
		return a, nil
	}
	st, ok := cur.Sys().(*syscall.Stat_t)
	if !ok {
		return attrs{}, fmt.Errorf("%s: cannot read its owner", path)
	}
	fu, fg := int(st.Uid), int(st.Gid)
	if fu != 0 && fu != os.Geteuid() && fu != uid {
		return attrs{}, fmt.Errorf("%s belongs to user %s, who is neither root, the user tokenward runs as (%s) nor the declared owner: tokenward did not write it, and whoever can write its folder may have planted it to be handed the next value; remove it, or declare owner = %q if it is the consumer's",
			path, userName(fu), userName(os.Geteuid()), userName(fu))
	}
	groups, _ := os.Getgroups()
	if fg != 0 && fg != os.Getegid() && fg != gid && !slices.Contains(groups, fg) {
		return attrs{}, fmt.Errorf("%s belongs to group %s, which is neither root's, a group of the user tokenward runs as nor the declared group: tokenward did not write it, and whoever can write its folder may have planted it to be handed the next value; remove it, or declare group = %q if it is the consumer's",
			path, groupName(fg), groupName(fg))
	}
	if uid < 0 {
		a.uid = fu
	}
	if gid < 0 {
		a.gid = fg
	}
	if !declared {
		a.mode = cur.Mode().Perm() & 0o640
	}
	return a, nil
}

// lookupID reads a declared owner or group: a numeric id, or a name looked
// up on this host; -1 when none is declared.
func lookupID(s, field string, lookup func(string) (string, error)) (int, error) {
	if s == "" {
		return -1, nil
	}
	if n, err := strconv.ParseUint(s, 10, 31); err == nil {
		return int(n), nil
	}
	id, err := lookup(s)
	if err != nil {
		return -1, bad(field, "%q: no such %s on this host (%v)", s, map[string]string{"owner": "user", "group": "group"}[field], err)
	}
	n, err := strconv.Atoi(id)
	if err != nil {
		return -1, bad(field, "%q has id %q, which is not a number", s, id)
	}
	return n, nil
}

func userName(uid int) string {
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		return u.Username
	}
	return strconv.Itoa(uid)
}

func groupName(gid int) string {
	if g, err := user.LookupGroupId(strconv.Itoa(gid)); err == nil {
		return g.Name
	}
	return strconv.Itoa(gid)
}

// apply gives the temporary file f, which becomes path, its owner, group
// and mode, through its descriptor, and checks them with fstat: the owner
// and group a file is created with are not always tokenward's own (a
// setgid folder gives its group), so they are set whenever they differ.
// Chown comes first: it may clear mode bits.
func (a attrs) apply(f *os.File, path string) error {
	uid, gid, _, err := owners(f)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if uid != a.uid || gid != a.gid {
		cu, cg := a.uid, a.gid
		if uid == a.uid {
			cu = -1
		}
		if gid == a.gid {
			cg = -1
		}
		if err := f.Chown(cu, cg); err != nil {
			want := "user " + userName(a.uid)
			if cu < 0 {
				want = "group " + groupName(a.gid)
			} else if cg >= 0 {
				want += " and group " + groupName(a.gid)
			}
			return fmt.Errorf("%s must belong to %s, and tokenward, running as user %s, cannot give it away (%w): run it as root, or as that owner, or declare owner and group that it may give",
				path, want, userName(os.Geteuid()), unwrapPath(err))
		}
	}
	if err := f.Chmod(a.mode); err != nil {
		return fmt.Errorf("set the mode of %s: %w", path, unwrapPath(err))
	}
	uid, gid, mode, err := owners(f)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if uid != a.uid || gid != a.gid || mode != a.mode {
		return fmt.Errorf("%s: the new file is %s:%s %04o after tokenward set it to %s:%s %04o, so nothing was written; check what changes files in its folder (an ACL, a file system that ignores owners), then run again",
			path, userName(uid), groupName(gid), mode, userName(a.uid), groupName(a.gid), a.mode)
	}
	return nil
}

// owners reads the owner, group and permission bits of the open file f.
func owners(f *os.File) (uid, gid int, mode fs.FileMode, err error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, 0, 0, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0, 0, errors.New("cannot read its owner")
	}
	return int(st.Uid), int(st.Gid), fi.Mode().Perm(), nil
}

// widens says how the new file, written with a, lets more read it than
// cur, the file it replaces: "" when it does not. A new owner always can
// (an owner may chmod); a new group when its read bit is set; so can any
// permission bit cur lacks.
func (a attrs) widens(cur fs.FileInfo) string {
	st, ok := cur.Sys().(*syscall.Stat_t)
	if !ok {
		return "its owner cannot be read"
	}
	var how []string
	if fu := int(st.Uid); a.uid != fu {
		how = append(how, "owner "+userName(a.uid)+" instead of "+userName(fu))
	}
	if fg := int(st.Gid); a.gid != fg && a.mode&0o040 != 0 {
		how = append(how, "group "+groupName(a.gid)+" instead of "+groupName(fg))
	}
	if old := cur.Mode().Perm(); a.mode&^old != 0 {
		how = append(how, fmt.Sprintf("mode %04o instead of %04o", a.mode, old))
	}
	return strings.Join(how, ", ")
}

// fix is the command that gives the file at path the owner, group and mode
// of a, for a message that says how to keep its content.
func (a attrs) fix(path string) string {
	return fmt.Sprintf("chown %s:%s %s && chmod %04o %s", userName(a.uid), groupName(a.gid), path, a.mode, path)
}

// links is how many names (hard links) the file has.
func links(fi fs.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Nlink)
	}
	return 1
}
