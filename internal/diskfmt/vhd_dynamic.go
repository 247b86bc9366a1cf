package diskfmt

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
)

// Dynamic disk header layout (specification, "Dynamic Disk Header Format").
const (
	dynHeaderSize = 1024

	dhCookie      = 0  // [8]byte "cxsparse"
	dhDataOffset  = 8  // uint64, unused (all ones)
	dhTableOffset = 16 // uint64, file offset of the BAT
	dhVersion     = 24 // uint32, 0x00010000
	dhMaxEntries  = 28 // uint32, entries in the BAT
	dhBlockSize   = 32 // uint32, data bytes per block (bitmap excluded)
	dhChecksum    = 36 // uint32

	batUnused = 0xFFFFFFFF

	// Block sizes accepted. The specification's default, and what QEMU,
	// VirtualBox, Virtual PC and Disk2vhd write, is 2 MiB; Hyper-V also
	// offers 512 KiB. The lower bound keeps the BAT (4 bytes a block) at
	// most 32 MiB for the default 4 TiB limit, whatever the file claims;
	// the upper bound is VHDX's largest block size, far above anything
	// written in practice.
	minVHDBlockSize = 512 << 10
	maxVHDBlockSize = 256 << 20
)

var dynCookie = []byte("cxsparse")

// dynamicVHD serves reads of a dynamic disk from its block allocation table.
type dynamicVHD struct {
	r          io.ReaderAt
	size       int64
	blockSize  int64
	bitmapSize int64
	bat        []uint32 // one entry per block of the virtual disk
}

// readDynamicFooters reads both footers of a dynamic or differencing disk
// (the copy at offset 0 and the one at the end) and checks that they agree.
func readDynamicFooters(r io.ReaderAt, f Format, size int64, opt Options) (head, tail *vhdFooter, err error) {
	want := uint32(diskTypeDynamic)
	if f == VHDDiff {
		want = diskTypeDiff
	}
	if size < 2*footerSize+dynHeaderSize {
		return nil, nil, &FormatError{Format: f, Err: ErrFormat, Msg: fmt.Sprintf("a dynamic vhd holds at least "+
			"two footers and a dynamic header (%d bytes) but the file is %d bytes: it is truncated",
			2*footerSize+dynHeaderSize, size)}
	}
	if head, err = readFooter(r, f, 0, opt); err != nil {
		return nil, nil, err
	}
	b := make([]byte, footerSize)
	if err := readFull(r, b, size-footerSize); err != nil {
		return nil, nil, err
	}
	if !bytes.HasPrefix(b, vhdCookie) {
		return nil, nil, errorf(f, size-footerSize, "footer", "no footer at the end of the file, although the "+
			"copy at offset 0 is intact: the file is truncated or was not copied completely")
	}
	if tail, err = parseFooter(b, f, size-footerSize, opt); err != nil {
		return nil, nil, err
	}
	for _, ft := range []*vhdFooter{head, tail} {
		if ft.diskType != want {
			return nil, nil, errorf(f, ft.off, "footer", "disk type %d, expected %d", ft.diskType, want)
		}
	}
	mismatch := func(field string, a, b any) error {
		return errorf(f, tail.off, "footer", "%s %v does not match %v in the footer copy at offset 0: "+
			"the file is damaged or two images were joined", field, b, a)
	}
	switch {
	case head.dataOffset != tail.dataOffset:
		return nil, nil, mismatch("data offset", head.dataOffset, tail.dataOffset)
	case head.currentSize != tail.currentSize:
		return nil, nil, mismatch("current size", head.currentSize, tail.currentSize)
	case head.uniqueID != tail.uniqueID:
		return nil, nil, mismatch("unique id", fmt.Sprintf("%x", head.uniqueID), fmt.Sprintf("%x", tail.uniqueID))
	}
	return head, tail, nil
}

// openDynamicVHD opens a dynamic disk: footer copy, dynamic header, BAT,
// blocks, footer.
func openDynamicVHD(r io.ReaderAt, size int64, opt Options) (Disk, error) {
	head, tail, err := readDynamicFooters(r, VHDDynamic, size, opt)
	if err != nil {
		return nil, err
	}
	d, hdr, err := readDynamicHeader(r, head, tail.off)
	if err != nil {
		return nil, err
	}
	if d.bat, err = readTable[uint32](r, hdr.tableOffset, hdr.blocks, binary.BigEndian); err != nil {
		return nil, err
	}
	meta := [][2]int64{
		{0, footerSize},
		{hdr.off, hdr.off + dynHeaderSize},
		{hdr.tableOffset, hdr.tableEnd},
	}
	exts, err := d.checkBlocks(hdr, meta, tail.off)
	if err != nil {
		return nil, err
	}
	d.r = r
	return &disk{format: VHDDynamic, size: d.size, extents: exts, spans: d}, nil
}

// dynHeader is the normalized view of a dynamic header that passed the checks.
type dynHeader struct {
	off         int64
	tableOffset int64
	tableEnd    int64
	maxEntries  int64
	blocks      int64 // blocks of the virtual disk: BAT entries in use
}

// readDynamicHeader reads and checks the dynamic header that the footer
// points at. dataEnd is the offset of the trailing footer. It returns a
// dynamicVHD whose bat has the right length but is not yet filled.
func readDynamicHeader(r io.ReaderAt, ft *vhdFooter, dataEnd int64) (*dynamicVHD, *dynHeader, error) {
	const f = VHDDynamic
	if ft.dataOffset < footerSize || ft.dataOffset > uint64(dataEnd-dynHeaderSize) {
		return nil, nil, errorf(f, 0, "footer", "data offset %d does not point at a dynamic header inside the file "+
			"(between offset %d and %d)", ft.dataOffset, footerSize, dataEnd-dynHeaderSize)
	}
	off := int64(ft.dataOffset)
	b := make([]byte, dynHeaderSize)
	if err := readFull(r, b, off); err != nil {
		return nil, nil, err
	}
	be := binary.BigEndian
	if !bytes.Equal(b[dhCookie:dhCookie+8], dynCookie) {
		return nil, nil, errorf(f, off, "dynamic header", "cookie %q is not %q", b[dhCookie:dhCookie+8], dynCookie)
	}
	if got, want := be.Uint32(b[dhChecksum:]), vhdChecksum(b, dhChecksum); got != want {
		return nil, nil, errorf(f, off, "dynamic header", "checksum %#x does not match computed %#x: the header is corrupt", got, want)
	}
	if v := be.Uint32(b[dhVersion:]); v>>16 != 1 {
		return nil, nil, errorf(f, off, "dynamic header", "header version %#08x is not 1.x", v)
	}
	bs := int64(be.Uint32(b[dhBlockSize:]))
	if bs < minVHDBlockSize || bs > maxVHDBlockSize || bs&(bs-1) != 0 {
		return nil, nil, errorf(f, off, "dynamic header", "block size %d is not a power of two from %s to %s",
			bs, sizeString(minVHDBlockSize), sizeString(maxVHDBlockSize))
	}
	h := &dynHeader{off: off, maxEntries: int64(be.Uint32(b[dhMaxEntries:]))}
	blocks := (ft.currentSize + bs - 1) / bs
	if h.maxEntries < blocks {
		return nil, nil, errorf(f, off, "dynamic header", "max table entries %d cover %s but the current size is %s",
			h.maxEntries, sizeString(h.maxEntries*bs), sizeString(ft.currentSize))
	}
	table := be.Uint64(b[dhTableOffset:])
	tableLen := h.maxEntries * 4
	if table > uint64(dataEnd) || tableLen > dataEnd-int64(table) {
		return nil, nil, errorf(f, off, "dynamic header", "block allocation table of %d entries needs %d bytes "+
			"at offset %d, but the file's data ends at offset %d", h.maxEntries, tableLen, table, dataEnd)
	}
	if table < uint64(footerSize) || (table < uint64(off+dynHeaderSize) && uint64(off) < table+uint64(tableLen)) {
		return nil, nil, errorf(f, off, "dynamic header", "block allocation table at offset %d overlaps "+
			"the footer copy or the dynamic header", table)
	}
	h.tableOffset, h.tableEnd, h.blocks = int64(table), int64(table)+tableLen, blocks
	d := &dynamicVHD{
		size:       ft.currentSize,
		blockSize:  bs,
		bitmapSize: (bs/sectorSize/8 + sectorSize - 1) / sectorSize * sectorSize,
	}
	return d, h, nil
}

// checkBlocks checks that every allocated block (bitmap and data) lies in
// the file before the trailing footer at dataEnd and overlaps none of the
// metadata ranges, and returns the allocated extents of the virtual disk.
func (d *dynamicVHD) checkBlocks(h *dynHeader, meta [][2]int64, dataEnd int64) ([]Extent, error) {
	var exts extentList
	names := [...]string{"footer copy", "dynamic header", "block allocation table"}
	for i, e := range d.bat {
		if e == batUnused {
			continue
		}
		start := int64(e) * sectorSize
		end := start + d.bitmapSize + d.blockSize
		entryOff := h.tableOffset + 4*int64(i)
		field := fmt.Sprintf("bat entry %d", i)
		if end > dataEnd {
			return nil, errorf(VHDDynamic, entryOff, field, "block of %d bytes (bitmap and data) at offset %d "+
				"ends at %d, past the end of the data at %d: the file is truncated or the table is corrupt",
				d.bitmapSize+d.blockSize, start, end, dataEnd)
		}
		for k, m := range meta {
			if start < m[1] && m[0] < end {
				return nil, errorf(VHDDynamic, entryOff, field, "block at offset %d overlaps the %s at offset %d",
					start, names[k], m[0])
			}
		}
		voff := int64(i) * d.blockSize
		exts.add(voff, min(d.blockSize, d.size-voff))
	}
	return exts.exts, nil
}

// readSpan reads from one block. Like QEMU, it ignores the block's sector
// bitmap and reads the whole allocated block as stored: the bitmap only
// matters for differencing disks (a clear bit means "read the parent"),
// and those are refused.
func (d *dynamicVHD) readSpan(p []byte, off int64) (int, error) {
	blk, within := off/d.blockSize, off%d.blockSize
	n := int(min(int64(len(p)), d.blockSize-within))
	e := d.bat[blk]
	if e == batUnused {
		clear(p[:n])
		return n, nil
	}
	phys := int64(e)*sectorSize + d.bitmapSize + within
	if err := readData(d.r, p[:n], phys, off); err != nil {
		return 0, err
	}
	return n, nil
}
