package diskfmt

import (
	"errors"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// cloneExtents copies the extents of a file-backed disk (raw, fixed VHD: the file's
// bytes are the disk's at the same offsets) in [from, to) into dst at its current
// offset, with copy_file_range(2), when both files are on one file system with
// reflinks (XFS, btrfs): the file system then shares the blocks instead of copying
// them, and converting a raw disk to a fixed VHD takes moments. Elsewhere (ext4,
// for one) the kernel's copy measured no faster than copyVirtual's, and slower on a
// cold cache, so ok is false and the caller copies through memory. Allocated zeros
// of the source stay allocated in a clone. ok is also false, with nothing written,
// when the kernel refuses the first copy.
func cloneExtents(dst, src *os.File, exts []Extent, from, to int64, opt WriteOptions) (n int64, ok bool, err error) {
	if !reflinkable(dst, src) {
		return 0, false, nil
	}
	return copyFileRanges(dst, src, exts, from, to, opt)
}

// copyFileRanges is cloneExtents without the check of the file system.
func copyFileRanges(dst, src *os.File, exts []Extent, from, to int64, opt WriteOptions) (n int64, ok bool, err error) {
	base, err := dst.Seek(0, io.SeekCurrent)
	if err != nil {
		return 0, false, nil
	}
	first := true
	for _, e := range exts {
		start, end := max(e.Offset, from), min(e.Offset+e.Length, to)
		for roff, woff := start, base+start-from; roff < end; {
			k, err := unix.CopyFileRange(int(src.Fd()), &roff, int(dst.Fd()), &woff, int(min(end-roff, 1<<30)), 0)
			if err != nil && first && unsupported(err) {
				return 0, false, nil
			}
			if err != nil {
				return 0, true, &os.PathError{Op: "copy_file_range", Path: src.Name(), Err: err}
			}
			if k == 0 {
				return 0, true, io.ErrUnexpectedEOF
			}
			first = false
			if opt.Progress != nil {
				opt.Progress(int64(k))
			}
		}
	}
	// Like the copy through memory, leave dst positioned after the copied range.
	if _, err := dst.Seek(base+to-from, io.SeekStart); err != nil {
		return 0, true, err
	}
	return to - from, true, nil
}

// Magic numbers of the file systems whose copy_file_range shares blocks (statfs(2)).
const (
	xfsMagic   = 0x58465342
	btrfsMagic = 0x9123683e
)

// reflinkable reports whether dst and src are on one file system that shares blocks.
func reflinkable(dst, src *os.File) bool {
	var a, b unix.Stat_t
	var fs unix.Statfs_t
	if unix.Fstat(int(dst.Fd()), &a) != nil || unix.Fstat(int(src.Fd()), &b) != nil || a.Dev != b.Dev {
		return false
	}
	if unix.Fstatfs(int(dst.Fd()), &fs) != nil {
		return false
	}
	return fs.Type == xfsMagic || fs.Type == btrfsMagic
}

func unsupported(err error) bool {
	return errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EXDEV) || errors.Is(err, unix.EINVAL) ||
		errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EBADF)
}
