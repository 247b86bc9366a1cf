package agent

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// owner is a numeric uid and gid.
type owner struct{ uid, gid int }

var rootOwner = owner{0, 0}

// path maps an absolute guest path to the agent's root directory.
func (a *Agent) path(guestPath string) string {
	return filepath.Join(a.opts.Root, filepath.FromSlash(guestPath))
}

// writeFile writes data to name atomically: a temp file in the same directory is
// written, checked, synced, given its mode and owner, and renamed over name; then the
// directory is synced. On error the temp file is removed and name is left as it was.
func writeFile(name string, data []byte, perm fs.FileMode, o owner) error {
	return writeFileLike(name, data, perm, o, "")
}

// writeFileLike is writeFile, with the extended attributes (SELinux labels among
// them) of the file like, if it is given.
func writeFileLike(name string, data []byte, perm fs.FileMode, o owner, like string) (err error) {
	dir := filepath.Dir(name)
	f, err := os.CreateTemp(dir, "."+filepath.Base(name)+".hangar-tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	n, err := f.Write(data)
	if err != nil {
		return err
	}
	if n != len(data) {
		return fmt.Errorf("writing %s: wrote %d of %d bytes", name, n, len(data))
	}
	if err = f.Chown(o.uid, o.gid); err != nil {
		return err
	}
	if err = f.Chmod(perm); err != nil {
		return err
	}
	if like != "" {
		if err = copyXattrs(like, f); err != nil {
			return fmt.Errorf("keeping the extended attributes of %s: %w", like, err)
		}
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, name); err != nil {
		return err
	}
	return syncDir(dir)
}

// replaceFile rewrites an existing file atomically, keeping its mode, owner and
// extended attributes; a missing file is created with perm and o.
func replaceFile(name string, data []byte, perm fs.FileMode, o owner) error {
	like := ""
	if fi, err := os.Stat(name); err == nil {
		like = name
		perm = fi.Mode().Perm()
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			o = owner{int(st.Uid), int(st.Gid)}
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return writeFileLike(name, data, perm, o, like)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
		return err
	}
	return nil
}

// mkdirOwned creates dir (not its parents) with perm and o, or, if it exists, leaves
// it as it is. It reports whether it created it.
func mkdirOwned(dir string, perm fs.FileMode, o owner) (bool, error) {
	if err := os.Mkdir(dir, perm); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return false, nil
		}
		return false, err
	}
	if err := os.Chmod(dir, perm); err != nil { // not reduced by the umask
		return true, err
	}
	if err := os.Lchown(dir, o.uid, o.gid); err != nil {
		return true, err
	}
	return true, syncDir(filepath.Dir(dir))
}

// mkdirAllRoot creates dir and missing parents, owned by root.
func mkdirAllRoot(dir string, perm fs.FileMode) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	if err := mkdirAllRoot(filepath.Dir(dir), 0o755); err != nil {
		return err
	}
	_, err := mkdirOwned(dir, perm, rootOwner)
	return err
}

func exists(name string) bool {
	_, err := os.Lstat(name)
	return err == nil
}

func isDir(name string) bool {
	fi, err := os.Stat(name)
	return err == nil && fi.IsDir()
}

// readFileLimit reads name, failing if it is longer than limit bytes.
func readFileLimit(name string, limit int64) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", name, limit)
	}
	return b, nil
}
