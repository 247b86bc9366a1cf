package agent

import (
	"bytes"
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// copyXattrs gives f the extended attributes of the file from (not following a
// final symbolic link). A file system without them is not an error.
func copyXattrs(from string, f *os.File) error {
	size, err := unix.Llistxattr(from, nil)
	if errors.Is(err, unix.ENOTSUP) || size == 0 {
		return nil
	}
	if err != nil {
		return err
	}
	names := make([]byte, size)
	if size, err = unix.Llistxattr(from, names); err != nil {
		return err
	}
	for _, name := range bytes.Split(names[:size], []byte{0}) {
		if len(name) == 0 {
			continue
		}
		n := string(name)
		vsize, err := unix.Lgetxattr(from, n, nil)
		if err != nil {
			return err
		}
		value := make([]byte, vsize)
		if vsize, err = unix.Lgetxattr(from, n, value); err != nil {
			return err
		}
		if err := unix.Fsetxattr(int(f.Fd()), n, value[:vsize], 0); err != nil {
			return err
		}
	}
	return nil
}
