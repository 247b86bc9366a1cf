package diskfmt

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
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
	// Durable says the caller will fsync the output file: its writeback to disk is
	// then started as the copy goes, so that the fsync has little left to wait for.
	// Without it the copy leaves its output to the page cache, as cp does.
	Durable bool
	// Progress, when set, is told of the bytes of the disk's data read (or copied
	// by the kernel) as the copy goes.
	Progress func(n int64)
}

// progressDisk tells fn of the bytes read through it.
type progressDisk struct {
	Disk
	fn func(n int64)
}

func (p progressDisk) ReadAt(b []byte, off int64) (int, error) {
	n, err := p.Disk.ReadAt(b, off)
	p.fn(int64(n))
	return n, err
}

func withProgress(d Disk, fn func(int64)) Disk {
	if fn == nil {
		return d
	}
	return progressDisk{d, fn}
}

// sparseWriter is what Sparse needs of the writer.
type sparseWriter interface {
	io.WriteSeeker
	Truncate(size int64) error
}

// copyChunk is how much of an extent is read at a time; holeChunk is the
// smallest run of zeros that Sparse leaves as a hole, and the size of every
// write of data (on Linux, 64 KiB writes measured faster than larger ones).
// copyReaders chunks are read at once: a cold disk serves several requests
// faster than one, and compressed formats decompress on several cores.
const (
	copyChunk   = 4 << 20
	holeChunk   = 64 << 10
	copyReaders = 4
)

var errNotSeekable = errors.New("diskfmt: sparse output needs an *os.File (io.WriteSeeker with Truncate)")

// WriteRaw writes the virtual disk of d to w as a raw image and returns the
// number of bytes of the image (the virtual size).
func WriteRaw(w io.Writer, d Disk, opt WriteOptions) (int64, error) {
	if !opt.Sparse {
		return copyVirtual(w, d, 0, d.VirtualSize(), nil, opt)
	}
	sw, ok := w.(sparseWriter)
	if !ok {
		return 0, errNotSeekable
	}
	base, err := sw.Seek(0, io.SeekCurrent)
	if err != nil {
		return 0, err
	}
	n, err := copyVirtual(w, d, 0, d.VirtualSize(), sw, opt)
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
	n, err := copyVirtual(w, d, 0, d.VirtualSize(), sw, opt)
	if err != nil {
		return n, err
	}
	ft := VHDFooter(d.VirtualSize(), opt.UniqueID, opt.Timestamp)
	k, err := w.Write(ft[:])
	return n + int64(k), err
}

// span is a piece of the virtual disk on its way from the reader to the
// writer of copyVirtual: n bytes at off, held in buf, or a hole (buf nil)
// that reads as zeros.
type span struct {
	off int64
	n   int64
	buf []byte
	err error
}

// copyVirtual copies [from, to) of the virtual disk to w. Only d's extents
// are read, copyChunk bytes at a time by copyReaders goroutines, while the
// writer writes the chunks in order as they arrive, so reading and writing
// overlap. Between extents nothing is read: the writer seeks over the hole
// with sw, or writes zeros without sw. Within extents, with sw, runs of zeros
// of holeChunk bytes are skipped by seeking too, so the output's holes depend
// only on the content. When opt.Durable and w is a file, its writeback to disk is
// started as the copy goes, so that the caller's final fsync has little left to do.
// A file-backed disk (raw, fixed VHD) going to a sparse file is copied by the
// kernel instead, where it can (cloneExtents).
func copyVirtual(w io.Writer, d Disk, from, to int64, sw sparseWriter, opt WriteOptions) (int64, error) {
	if fd, ok := d.(*disk); ok && sw != nil {
		src, srcOK := fd.file()
		dst, dstOK := sw.(*os.File)
		if srcOK && dstOK {
			if n, done, err := cloneExtents(dst, src, fd.extents, from, to, opt); done {
				return n, err
			}
		}
	}
	order := make(chan chan span, 2*copyReaders)
	stop := make(chan struct{})
	defer close(stop)
	free := make(chan []byte, copyReaders+2)
	for range cap(free) {
		free <- nil // allocated on first use
	}
	go readSpans(d, from, to, order, free, stop)

	wb := &writeback{}
	if opt.Durable {
		wb = startWriteback(w)
	}
	defer wb.stop()
	var written int64
	pending := int64(0) // bytes skipped by seeking and not yet sought over
	for slot := range order {
		s := <-slot
		if s.err != nil {
			return written, s.err
		}
		if s.buf == nil { // a hole
			if sw != nil {
				pending += s.n
			} else if err := writeZeros(w, s.n); err != nil {
				return written, err
			}
			written += s.n
			continue
		}
		if opt.Progress != nil {
			opt.Progress(s.n)
		}
		p := s.buf[:s.n]
		for len(p) > 0 {
			q := p[:min(len(p), holeChunk)]
			if sw != nil && allZero(q) {
				pending += int64(len(q))
			} else {
				if pending > 0 {
					if _, err := sw.Seek(pending, io.SeekCurrent); err != nil {
						return written, err
					}
					pending = 0
				}
				if _, err := w.Write(q); err != nil {
					return written, err
				}
				wb.wrote(len(q))
			}
			written += int64(len(q))
			p = p[len(q):]
		}
		free <- s.buf
	}
	if pending > 0 {
		if _, err := sw.Seek(pending, io.SeekCurrent); err != nil {
			return written, err
		}
	}
	return written, nil
}

// readSpans cuts [from, to) of d into spans, in order: the extents' bytes
// in pieces of copyChunk bytes, the gaps between them as holes. For each it
// sends order a slot that receives the span once read; copyReaders
// goroutines read the pieces into buffers taken from free. A reader takes a
// buffer before it takes a piece, so the oldest piece never waits for a
// buffer held by a younger one. It stops early when stop is closed.
func readSpans(d Disk, from, to int64, order chan<- chan span, free chan []byte, stop <-chan struct{}) {
	type piece struct {
		off, n int64
		slot   chan span
	}
	pieces := make(chan piece)
	var readers sync.WaitGroup
	for range copyReaders {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				var buf []byte
				select {
				case buf = <-free:
				case <-stop:
					return
				}
				pc, ok := <-pieces
				if !ok {
					free <- buf
					return
				}
				if buf == nil {
					buf = make([]byte, copyChunk)
				}
				s := span{off: pc.off, n: pc.n, buf: buf}
				if k, err := d.ReadAt(buf[:pc.n], pc.off); int64(k) < pc.n {
					s.err = fmt.Errorf("diskfmt: reading virtual offset %d: %w", pc.off+int64(k), err)
				}
				pc.slot <- s // never blocks: the slot holds one span
			}
		}()
	}
	defer func() {
		close(pieces)
		readers.Wait()
		close(order)
	}()
	send := func(s span, read bool) bool {
		slot := make(chan span, 1)
		if !read {
			slot <- s
		}
		select {
		case order <- slot:
		case <-stop:
			return false
		}
		if read {
			select {
			case pieces <- piece{s.off, s.n, slot}:
			case <-stop:
				return false
			}
		}
		return true
	}
	pos := from
	exts := d.Extents()
	for i := extentAfter(exts, from); pos < to; i++ {
		data := to // where the next extent's data starts
		if i < len(exts) {
			data = min(to, max(pos, exts[i].Offset))
		}
		if data > pos {
			if !send(span{off: pos, n: data - pos}, false) {
				return
			}
			pos = data
		}
		if i >= len(exts) {
			break
		}
		for end := min(to, exts[i].Offset+exts[i].Length); pos < end; {
			n := min(copyChunk, end-pos)
			if !send(span{off: pos, n: n}, true) {
				return
			}
			pos += n
		}
	}
}

// writeZeros writes n zero bytes to w.
func writeZeros(w io.Writer, n int64) error {
	for n > 0 {
		k := min(n, int64(len(zeros)))
		if _, err := w.Write(zeros[:k]); err != nil {
			return err
		}
		n -= k
	}
	return nil
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
