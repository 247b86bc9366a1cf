package appliance

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/hangarvm/hangar/internal/generalize"
)

// QEMU locks bytes 100 to 299 of the image files it opens (one byte per
// permission it holds or refuses to share), with shared open-file-description
// locks. An exclusive lock over that range therefore fails while a VM uses the
// image, and, held, keeps a VM from starting on it.
const qemuLockStart, qemuLockLen = 100, 200

// lockImage refuses an image a running VM (or anything else) holds a lock on;
// with hold (f open for writing), it also keeps an exclusive lock on QEMU's bytes
// until f is closed.
func lockImage(f *os.File, hold bool) error {
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: 0, Start: qemuLockStart, Len: qemuLockLen}
	if hold {
		err := unix.FcntlFlock(f.Fd(), unix.F_OFD_SETLK, &lk)
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EACCES) {
			return fmt.Errorf("%w: another process (a running VM?) has it open and locked: stop the VM first", generalize.ErrInUse)
		}
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOLCK) || errors.Is(err, unix.EOPNOTSUPP) {
			return nil // a file system without locks: nothing to check against
		}
		return err
	}
	if err := unix.FcntlFlock(f.Fd(), unix.F_OFD_GETLK, &lk); err != nil {
		return nil // cannot tell: a dry run only reads
	}
	if lk.Type != unix.F_UNLCK {
		return fmt.Errorf("%w: another process (a running VM?) has it open and locked: stop the VM first", generalize.ErrInUse)
	}
	return nil
}

// cloneFile makes dst a reflink copy of src.
func cloneFile(dst, src *os.File) error {
	return unix.IoctlFileClone(int(dst.Fd()), int(src.Fd()))
}
