package diskfmt

import (
	"errors"
	"fmt"
	"io"
	"slices"
)

const sectorSize = 512

// spanReader is what each format implements to serve reads: readSpan fills
// the start of p (len(p) > 0) with the virtual disk's bytes at off
// (0 <= off < virtual size, off+len(p) <= virtual size) and returns how many
// it filled, at least 1. It may stop early at the end of a run that is stored
// contiguously (or is unallocated) and is called again for the rest.
type spanReader interface {
	readSpan(p []byte, off int64) (int, error)
}

// disk holds what every opened image has and implements Disk's ReadAt on
// top of a spanReader.
type disk struct {
	format  Format
	size    int64
	extents []Extent
	spans   spanReader
}

func (d *disk) Format() Format     { return d.format }
func (d *disk) VirtualSize() int64 { return d.size }
func (d *disk) Extents() []Extent  { return slices.Clone(d.extents) }

var errNegativeOffset = errors.New("diskfmt: negative offset")

// ReadAt reads like os.File.ReadAt: it fills p unless the virtual disk ends
// first, in which case it returns the bytes up to the end and io.EOF.
func (d *disk) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errNegativeOffset
	}
	if off >= d.size {
		return 0, io.EOF
	}
	var atEnd error
	if int64(len(p)) > d.size-off {
		p, atEnd = p[:d.size-off], io.EOF
	}
	n := 0
	for n < len(p) {
		k, err := d.spans.readSpan(p[n:], off+int64(n))
		n += k
		if err != nil {
			return n, err
		}
		if k <= 0 {
			return n, fmt.Errorf("diskfmt: internal error: no progress reading %s at %d", d.format, off+int64(n))
		}
	}
	return n, atEnd
}

// readData reads file bytes that the virtual disk maps at virtual offset voff.
func readData(r io.ReaderAt, p []byte, fileOff, voff int64) error {
	if err := readFull(r, p, fileOff); err != nil {
		return fmt.Errorf("reading virtual offset %d: %w", voff, err)
	}
	return nil
}

// appendExtent adds [off, off+n) to a sorted extent list, merging it with
// the last extent when they touch or overlap. Extents must be appended in
// order of offset.
func appendExtent(exts []Extent, off, n int64) []Extent {
	if n <= 0 {
		return exts
	}
	if k := len(exts) - 1; k >= 0 && exts[k].Offset+exts[k].Length >= off {
		if end := off + n; end > exts[k].Offset+exts[k].Length {
			exts[k].Length = end - exts[k].Offset
		}
		return exts
	}
	return append(exts, Extent{off, n})
}

// extentReader serves a disk whose allocated extents are stored at the same
// offsets in the file (raw, fixed VHD): bytes outside the extents are zeros.
type extentReader struct {
	r       io.ReaderAt
	extents []Extent
}

func (e *extentReader) readSpan(p []byte, off int64) (int, error) {
	// First extent ending after off.
	i, _ := slices.BinarySearchFunc(e.extents, off, func(x Extent, t int64) int {
		if x.Offset+x.Length <= t {
			return -1
		}
		return 1
	})
	if i == len(e.extents) || e.extents[i].Offset > off {
		n := len(p)
		if i < len(e.extents) {
			n = int(min(int64(n), e.extents[i].Offset-off))
		}
		clear(p[:n])
		return n, nil
	}
	x := e.extents[i]
	n := int(min(int64(len(p)), x.Offset+x.Length-off))
	if err := readData(e.r, p[:n], off, off); err != nil {
		return 0, err
	}
	return n, nil
}
