package diskfmt

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
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

// file returns the file of a disk whose bytes are the file's at the same offsets
// (raw and fixed VHD read from an *os.File).
func (d *disk) file() (*os.File, bool) {
	if d.format != Raw && d.format != VHDFixed {
		return nil, false
	}
	er, ok := d.spans.(*extentReader)
	if !ok {
		return nil, false
	}
	f, ok := er.r.(*os.File)
	return f, ok
}

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
		pos := off + int64(n)
		i := extentAfter(d.extents, pos)
		if i == len(d.extents) || d.extents[i].Offset > pos {
			// A hole: zeros, without touching the file.
			k := len(p) - n
			if i < len(d.extents) {
				k = int(min(int64(k), d.extents[i].Offset-pos))
			}
			clear(p[n : n+k])
			n += k
			continue
		}
		end := min(len(p), n+int(min(int64(len(p)-n), d.extents[i].Offset+d.extents[i].Length-pos)))
		k, err := d.spans.readSpan(p[n:end], pos)
		n += k
		if err != nil {
			return n, err
		}
		if k <= 0 {
			return n, fmt.Errorf("diskfmt: internal error: no progress reading %s at %d", d.format, pos)
		}
	}
	return n, atEnd
}

// extentAfter returns the index of the first extent that ends after off.
func extentAfter(exts []Extent, off int64) int {
	i, _ := slices.BinarySearchFunc(exts, off, func(x Extent, t int64) int {
		if x.Offset+x.Length <= t {
			return -1
		}
		return 1
	})
	return i
}

// readData reads file bytes that the virtual disk maps at virtual offset voff.
func readData(r io.ReaderAt, p []byte, fileOff, voff int64) error {
	if err := readFull(r, p, fileOff); err != nil {
		return fmt.Errorf("reading virtual offset %d: %w", voff, err)
	}
	return nil
}

// maxExtents bounds an extent list (16 bytes an extent). A more
// fragmented image gets coarser extents: gaps are filled in, which keeps
// the list a correct superset of the allocated ranges.
const maxExtents = 1 << 21

// extentList builds a sorted extent list from ranges added in order of
// offset, merging ranges that touch, overlap or lie closer than gap.
type extentList struct {
	exts []Extent
	gap  int64
}

func (l *extentList) add(off, n int64) {
	if n <= 0 {
		return
	}
	if k := len(l.exts) - 1; k >= 0 && l.exts[k].Offset+l.exts[k].Length+l.gap >= off {
		l.exts[k].Length = max(l.exts[k].Length, off+n-l.exts[k].Offset)
		return
	}
	l.exts = append(l.exts, Extent{off, n})
	for len(l.exts) > maxExtents {
		l.coarsen()
	}
}

// coarsen doubles the gap that is filled in and re-merges the list.
func (l *extentList) coarsen() {
	l.gap = max(2*l.gap, 1<<20)
	old := l.exts
	l.exts = old[:0]
	for _, e := range old {
		l.add(e.Offset, e.Length)
	}
}

// readTable reads n big- or little-endian entries of type T at off through a
// section reader, in pieces of tableChunk entries. Callers check first that
// the table lies inside the file and that n is bounded, so the slice
// allocated here is bounded by both.
func readTable[T uint32 | uint64](r io.ReaderAt, off, n int64, order binary.ByteOrder) ([]T, error) {
	const tableChunk = 16 << 10
	width := int64(4)
	if _, ok := any(T(0)).(uint64); ok {
		width = 8
	}
	sr := io.NewSectionReader(r, off, n*width)
	buf := make([]byte, width*min(n, tableChunk))
	table := make([]T, 0, n)
	for int64(len(table)) < n {
		p := buf[:width*min(n-int64(len(table)), tableChunk)]
		if _, err := io.ReadFull(sr, p); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, fmt.Errorf("diskfmt: reading table at offset %d: %w", off+width*int64(len(table)), err)
		}
		for i := int64(0); i < int64(len(p)); i += width {
			if width == 4 {
				table = append(table, T(order.Uint32(p[i:])))
			} else {
				table = append(table, T(order.Uint64(p[i:])))
			}
		}
	}
	return table, nil
}

// extentReader serves a disk whose allocated extents are stored at the same
// offsets in the file (raw, fixed VHD): bytes outside the extents are zeros.
type extentReader struct {
	r       io.ReaderAt
	extents []Extent
}

func (e *extentReader) readSpan(p []byte, off int64) (int, error) {
	i := extentAfter(e.extents, off)
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
