package diskfmt

import (
	"fmt"
	"io"
)

// Resize returns d with a new virtual size. Growing adds zeros at the end; shrinking
// is refused when allocated data lies beyond the new end, because that would cut
// data off (shrink the partitions and file systems first).
func Resize(d Disk, size int64) (Disk, error) {
	if size <= 0 || size%sectorSize != 0 {
		return nil, fmt.Errorf("new virtual size %d is not a positive multiple of %d bytes", size, sectorSize)
	}
	if size == d.VirtualSize() {
		return d, nil
	}
	for _, e := range d.Extents() {
		if e.Offset+e.Length > size {
			return nil, fmt.Errorf("cannot shrink to %d bytes: data is allocated up to byte %d; shrink the partitions and file systems first", size, e.Offset+e.Length)
		}
	}
	return &resized{Disk: d, size: size}, nil
}

type resized struct {
	Disk
	size int64
}

func (r *resized) VirtualSize() int64 { return r.size }

func (r *resized) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errNegativeOffset
	}
	if off >= r.size {
		return 0, io.EOF
	}
	var atEnd error
	if int64(len(p)) > r.size-off {
		p, atEnd = p[:r.size-off], io.EOF
	}
	n := 0
	if inner := r.Disk.VirtualSize(); off < inner {
		k, err := r.Disk.ReadAt(p[:min(int64(len(p)), inner-off)], off)
		n = k
		if err != nil && err != io.EOF {
			return n, err
		}
	}
	clear(p[n:])
	return len(p), atEnd
}
