// Package atomicfile writes local files so that they survive a crash whole or not
// at all, and so that what a caller was told is written stays written after a power
// loss.
//
// The recipe (restic's local backend, Go's renameio): write a temp file in the
// target's directory, check the byte count, fsync it, rename it over the target,
// then fsync the directory, because a rename or a create is a change of the
// directory, and only the directory's fsync makes that change durable. On error the
// temp file is removed and the target is left as it was.
//
// Every Hangar write that must survive a crash uses this package: the chunk
// directory store, materialized VM bases, the admin key, the data dir's node.id and
// host.name, quarantined chunks, the CLI's config and converted disks.
package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// tempPattern names temp files: hidden, and after the target's name, so that a
// stray one says what it was for.
func tempPattern(path string) string { return "." + filepath.Base(path) + ".tmp-*" }

// WriteFile writes data to path atomically with the given permissions: a reader
// (or the file system after a crash) sees the old content or the new, never a
// mix, and once WriteFile returns nil the new content is durable.
func WriteFile(path string, data []byte, perm fs.FileMode) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, tempPattern(path))
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
	if err = f.Chmod(perm); err != nil {
		return err
	}
	n, err := f.Write(data)
	if err != nil {
		return err
	}
	if n != len(data) {
		return fmt.Errorf("writing %s: wrote %d of %d bytes", path, n, len(data))
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	return Rename(tmp, path)
}

// Rename renames oldpath to newpath and makes the new name durable by fsyncing its
// directory. The file itself must have been synced by the caller. The old name's
// directory is not synced: after a crash the old name may come back as well, which
// is harmless for the temp files this is used on (their owners remove strays).
func Rename(oldpath, newpath string) error {
	if err := os.Rename(oldpath, newpath); err != nil {
		return err
	}
	return SyncDir(filepath.Dir(newpath))
}

// SyncDir fsyncs a directory, making the creates, renames and removals in it durable.
func SyncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

// MkdirAll is os.MkdirAll that also makes the new directories durable: the parent
// of each directory it creates is fsynced, so a crash cannot lose a directory that
// files were then durably written into.
func MkdirAll(path string, perm fs.FileMode) error {
	path = filepath.Clean(path)
	fi, err := os.Stat(path)
	if err == nil {
		if !fi.IsDir() {
			return &fs.PathError{Op: "mkdir", Path: path, Err: errors.New("not a directory")}
		}
		return nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	parent := filepath.Dir(path)
	if parent != path {
		if err := MkdirAll(parent, perm); err != nil {
			return err
		}
	}
	if err := os.Mkdir(path, perm); err != nil {
		if errors.Is(err, fs.ErrExist) { // made concurrently: someone else syncs it
			if fi, serr := os.Stat(path); serr == nil && fi.IsDir() {
				return SyncDir(parent)
			}
		}
		return err
	}
	return SyncDir(parent)
}
