package agent

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

const (
	maxSkelFiles = 256
	maxSkelSize  = 1 << 20 // bytes of one /etc/skel file copied
)

// setupHome creates the user's home (0755, like useradd) from /etc/skel when it is
// missing, and writes ~/.ssh/authorized_keys (0600, in ~/.ssh 0700) when keys are
// given. Everything it creates belongs to the user.
func (a *Agent) setupHome(u *user, keys []string) error {
	home := a.path(u.home)
	o := owner{u.uid, u.gid}
	if err := mkdirAllRoot(filepath.Dir(home), 0o755); err != nil {
		return err
	}
	created, err := mkdirOwned(home, 0o755, o)
	if err != nil {
		return err
	}
	if created {
		if err := copySkel(a.path("/etc/skel"), home, o); err != nil {
			return fmt.Errorf("copying /etc/skel: %w", err)
		}
	}
	if len(keys) == 0 {
		return nil
	}
	sshDir := filepath.Join(home, ".ssh")
	if _, err := mkdirOwned(sshDir, 0o700, o); err != nil {
		return err
	}
	if err := secureDir(sshDir, o); err != nil {
		return err
	}
	data := strings.Join(keys, "\n") + "\n"
	return writeFile(filepath.Join(sshDir, "authorized_keys"), []byte(data), 0o600, o)
}

// secureDir makes an existing ~/.ssh a real directory of the user, mode 0700, as
// sshd's StrictModes wants.
func secureDir(dir string, o owner) error {
	fi, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	if err := os.Lchown(dir, o.uid, o.gid); err != nil {
		return err
	}
	return os.Chmod(dir, 0o700)
}

// copySkel copies the regular files and directories of skel into home, owned by o.
// Symbolic links and special files are left out; a missing skel is no error.
func copySkel(skel, home string, o owner) error {
	if !isDir(skel) {
		return nil
	}
	count := 0
	return filepath.WalkDir(skel, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(skel, p)
		if err != nil || rel == "." {
			return err
		}
		if count++; count > maxSkelFiles {
			return fs.SkipAll
		}
		dst := filepath.Join(home, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			_, err := mkdirOwned(dst, info.Mode().Perm(), o)
			return err
		case d.Type().IsRegular() && info.Size() <= maxSkelSize:
			data, err := readFileLimit(p, maxSkelSize)
			if err != nil {
				return err
			}
			return writeFile(dst, data, info.Mode().Perm(), o)
		}
		return nil
	})
}

// writeSudoers gives the user sudo rights in /etc/sudoers.d/hangar-USER (0440):
// without a password the user could not answer sudo's prompt, so NOPASSWD.
func (a *Agent) writeSudoers(name string, rule string) error {
	dir := a.path("/etc/sudoers.d")
	if err := mkdirAllRoot(dir, 0o750); err != nil {
		return err
	}
	data := fmt.Sprintf("# Written by hangar-agent.\n%s %s\n", name, rule)
	return writeFile(filepath.Join(dir, "hangar-"+name), []byte(data), 0o440, rootOwner)
}
