package diskfmt

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
)

// openRaw opens a raw image: the file is the disk.
func openRaw(r io.ReaderAt, size int64, opt Options) (Disk, error) {
	if size == 0 {
		return nil, &FormatError{Format: Raw, Msg: "the file is empty; a disk image holds at least one 512-byte sector", Err: ErrFormat}
	}
	if rem := size % sectorSize; rem != 0 {
		return nil, &FormatError{Format: Raw, Err: ErrFormat,
			Msg: fmt.Sprintf("file size %d bytes is not a whole number of 512-byte sectors and no known "+
				"format was detected; if it is a raw disk, pad it with zeros to %d bytes", size, size-rem+sectorSize)}
	}
	if max := opt.maxVirtualSize(); size > max {
		return nil, &FormatError{Format: Raw, Err: ErrTooLarge,
			Msg: fmt.Sprintf("the disk is %s, above the limit of %s", sizeString(size), sizeString(max))}
	}
	exts := fileExtents(r, size)
	return &disk{format: Raw, size: size, extents: exts, spans: &extentReader{r: r, extents: exts}}, nil
}

// fileExtents returns the allocated ranges of the first limit bytes of r.
// For an *os.File on a system and file system that report holes
// (SEEK_DATA/SEEK_HOLE), holes are left out; otherwise the whole range is
// one extent. The file offset is restored afterwards.
func fileExtents(r io.ReaderAt, limit int64) []Extent {
	whole := []Extent{{0, limit}}
	f, ok := r.(*os.File)
	if !ok || !holesSupported || limit <= 0 {
		return whole
	}
	cur, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return whole
	}
	defer f.Seek(cur, io.SeekStart) //nolint:errcheck // best effort, reads use ReadAt
	var exts extentList
	for off := int64(0); off < limit; {
		data, err := f.Seek(off, seekData)
		if errors.Is(err, syscall.ENXIO) {
			break // no data after off
		}
		if err != nil || data < off {
			return whole
		}
		if data >= limit {
			break
		}
		hole, err := f.Seek(data, seekHole)
		if err != nil || hole <= data {
			return whole
		}
		hole = min(hole, limit)
		exts.add(data, hole-data)
		off = hole
	}
	return exts.exts
}
