package diskfmt

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// WriteOptions tune the writers.
type WriteOptions struct {
	// Sparse makes WriteRaw and WriteFixedVHD seek over runs of zeros
	// instead of writing them, leaving holes. The writer must then be an
	// *os.File or otherwise implement io.WriteSeeker and Truncate(int64).
	Sparse bool
	// UniqueID and Timestamp (seconds since 2000-01-01 UTC) go into VHD
	// footers, so that exporting one disk twice gives the same bytes.
	// Derive them from the disk's identity.
	UniqueID  [16]byte
	Timestamp uint32
}

// sparseWriter is what Sparse needs of the writer.
type sparseWriter interface {
	io.WriteSeeker
	Truncate(size int64) error
}

// copyChunk is how much of the virtual disk is read at a time; holeChunk is
// the smallest run of zeros that Sparse leaves as a hole.
const (
	copyChunk = 1 << 20
	holeChunk = 64 << 10
)

var errNotSeekable = errors.New("diskfmt: sparse output needs an *os.File (io.WriteSeeker with Truncate)")

// WriteRaw writes the virtual disk of d to w as a raw image and returns the
// number of bytes of the image (the virtual size).
func WriteRaw(w io.Writer, d Disk, opt WriteOptions) (int64, error) {
	if !opt.Sparse {
		return copyVirtual(w, d, 0, d.VirtualSize(), nil)
	}
	sw, ok := w.(sparseWriter)
	if !ok {
		return 0, errNotSeekable
	}
	base, err := sw.Seek(0, io.SeekCurrent)
	if err != nil {
		return 0, err
	}
	n, err := copyVirtual(w, d, 0, d.VirtualSize(), sw)
	if err != nil {
		return n, err
	}
	// Seeking past the last written byte does not extend the file.
	if err := sw.Truncate(base + n); err != nil {
		return n, err
	}
	_, err = sw.Seek(base+n, io.SeekStart)
	return n, err
}

// WriteFixedVHD writes d as a fixed VHD (the disk's bytes, then a footer
// from VHDFooter) and returns the number of bytes written. Its output is
// what Azure accepts when AzureReadyProblem(VHDFixed, size) is "".
func WriteFixedVHD(w io.Writer, d Disk, opt WriteOptions) (int64, error) {
	var sw sparseWriter
	if opt.Sparse {
		var ok bool
		if sw, ok = w.(sparseWriter); !ok {
			return 0, errNotSeekable
		}
	}
	n, err := copyVirtual(w, d, 0, d.VirtualSize(), sw)
	if err != nil {
		return n, err
	}
	ft := VHDFooter(d.VirtualSize(), opt.UniqueID, opt.Timestamp)
	k, err := w.Write(ft[:])
	return n + int64(k), err
}

// copyVirtual copies [from, to) of the virtual disk to w. With sw, runs of
// zeros of holeChunk bytes are skipped by seeking.
func copyVirtual(w io.Writer, d Disk, from, to int64, sw sparseWriter) (int64, error) {
	buf := make([]byte, copyChunk)
	var written int64
	for off := from; off < to; {
		p := buf[:min(int64(len(buf)), to-off)]
		if n, err := d.ReadAt(p, off); n < len(p) {
			return written, fmt.Errorf("diskfmt: reading virtual offset %d: %w", off+int64(n), err)
		}
		for len(p) > 0 {
			q := p[:min(len(p), holeChunk)]
			if sw != nil && allZero(q) {
				if _, err := sw.Seek(int64(len(q)), io.SeekCurrent); err != nil {
					return written, err
				}
			} else if _, err := w.Write(q); err != nil {
				return written, err
			}
			written += int64(len(q))
			off += int64(len(q))
			p = p[len(q):]
		}
	}
	return written, nil
}

var zeros = make([]byte, holeChunk)

// allZero reports whether p holds only zeros.
func allZero(p []byte) bool {
	for len(p) > 0 {
		n := min(len(p), len(zeros))
		if !bytes.Equal(p[:n], zeros[:n]) {
			return false
		}
		p = p[n:]
	}
	return true
}

// bitset is a set of unit numbers.
type bitset []uint64

func newBitset(n int64) bitset       { return make(bitset, (n+63)/64) }
func (b bitset) has(i int64) bool    { return b[i/64]&(1<<(i%64)) != 0 }
func (b bitset) set(i int64)         { b[i/64] |= 1 << (i % 64) }
func unitsOf(size, unit int64) int64 { return (size + unit - 1) / unit }

// nonZeroUnits reads every unit of unit bytes that the extents of d touch
// and returns the set of units holding a non-zero byte, and their number.
// Writers allocate exactly these, so the output depends only on the
// disk's content, not on how the source happened to be allocated.
func nonZeroUnits(d Disk, unit int64) (bitset, int64, error) {
	size := d.VirtualSize()
	set := newBitset(unitsOf(size, unit))
	buf := make([]byte, unit)
	var count int64
	next := int64(0) // first unit not yet looked at
	for _, e := range d.Extents() {
		for u := max(next, e.Offset/unit); u*unit < e.Offset+e.Length; u++ {
			p := buf[:min(unit, size-u*unit)]
			if n, err := d.ReadAt(p, u*unit); n < len(p) {
				return nil, 0, fmt.Errorf("diskfmt: reading virtual offset %d: %w", u*unit+int64(n), err)
			}
			if !allZero(p) {
				set.set(u)
				count++
			}
			next = u + 1
		}
	}
	return set, count, nil
}
