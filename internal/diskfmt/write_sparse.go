package diskfmt

import (
	"encoding/binary"
	"fmt"
	"io"
)

// countingWriter counts the bytes written and keeps the first error.
type countingWriter struct {
	w   io.Writer
	n   int64
	err error
}

func (c *countingWriter) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.w.Write(p)
	c.n += int64(n)
	c.err = err
	return n, err
}

// pad writes zeros up to the next multiple of unit.
func (c *countingWriter) pad(unit int64) {
	for c.err == nil && c.n%unit != 0 {
		c.Write(zeros[:min(int64(len(zeros)), unit-c.n%unit)])
	}
}

// writeUnit writes unit u of unit bytes of the virtual disk, padded with
// zeros past the end of the disk.
func writeUnit(c *countingWriter, d Disk, buf []byte, u int64) error {
	off := u * int64(len(buf))
	clear(buf)
	p := buf[:min(int64(len(buf)), d.VirtualSize()-off)]
	if n, err := d.ReadAt(p, off); n < len(p) {
		return fmt.Errorf("diskfmt: reading virtual offset %d: %w", off+int64(n), err)
	}
	_, err := c.Write(buf)
	return err
}

// dynamicVHDBlock is the block size WriteDynamicVHD uses, the
// specification's default.
const dynamicVHDBlock = 2 << 20

// WriteDynamicVHD writes d as a dynamic VHD with 2 MiB blocks and returns
// the number of bytes written. Only blocks holding non-zero data are
// allocated; d is read twice (once to find them). Laid out as footer copy,
// dynamic header, BAT, blocks (bitmap of all ones, then data), footer.
func WriteDynamicVHD(w io.Writer, d Disk, opt WriteOptions) (int64, error) {
	d = withProgress(d, opt.Progress)
	const bs = dynamicVHDBlock
	size := d.VirtualSize()
	blocks := unitsOf(size, bs)
	set, count, err := nonZeroUnits(d, bs)
	if err != nil {
		return 0, err
	}
	batLen := unitsOf(blocks*4, sectorSize) * sectorSize
	dataStart := int64(footerSize+dynHeaderSize) + batLen
	if end := dataStart + count*(sectorSize+bs); end/sectorSize > 1<<32-1 {
		return 0, fmt.Errorf("%w: a dynamic vhd addresses at most 2 TiB of blocks; export a fixed vhd or qcow2", ErrTooLarge)
	}
	be := binary.BigEndian
	ft := VHDFooter(size, opt.UniqueID, opt.Timestamp)
	be.PutUint64(ft[ftDataOffset:], footerSize)
	be.PutUint32(ft[ftDiskType:], diskTypeDynamic)
	be.PutUint32(ft[ftChecksum:], vhdChecksum(ft[:], ftChecksum))

	hdr := make([]byte, dynHeaderSize)
	copy(hdr, dynCookie)
	be.PutUint64(hdr[dhDataOffset:], noDataOffset)
	be.PutUint64(hdr[dhTableOffset:], footerSize+dynHeaderSize)
	be.PutUint32(hdr[dhVersion:], vhdVersion)
	be.PutUint32(hdr[dhMaxEntries:], uint32(blocks))
	be.PutUint32(hdr[dhBlockSize:], bs)
	be.PutUint32(hdr[dhChecksum:], vhdChecksum(hdr, dhChecksum))

	bat := make([]byte, batLen)
	for i := range bat {
		bat[i] = 0xFF
	}
	next := dataStart
	for b := range blocks {
		if set.has(b) {
			be.PutUint32(bat[4*b:], uint32(next/sectorSize))
			next += sectorSize + bs
		}
	}
	c := &countingWriter{w: w}
	c.Write(ft[:])
	c.Write(hdr)
	c.Write(bat)
	bitmap := make([]byte, sectorSize)
	for i := range bitmap {
		bitmap[i] = 0xFF
	}
	buf := make([]byte, bs)
	for b := int64(0); b < blocks && c.err == nil; b++ {
		if set.has(b) {
			c.Write(bitmap)
			if err := writeUnit(c, d, buf, b); err != nil {
				return c.n, err
			}
		}
	}
	c.Write(ft[:])
	return c.n, c.err
}
