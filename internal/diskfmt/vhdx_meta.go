package diskfmt

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// vhdxMeta holds the metadata items the reader needs.
type vhdxMeta struct {
	blockSize, flags uint32
	size             uint64
	logicalSector    uint32
	seen             map[[16]byte]bool
}

// readMetadata reads the metadata table and the items it points at.
func (x *vhdx) readMetadata(reg vhdxRegion, opt Options) error {
	le := binary.LittleEndian
	if reg.length < vhdxMetaTableLen {
		return vhdxError(reg.off, "metadata region", "%d bytes is shorter than the %d-byte metadata table",
			reg.length, vhdxMetaTableLen)
	}
	t := make([]byte, vhdxMetaTableLen)
	if err := readFull(x.r, t, reg.off); err != nil {
		return err
	}
	n := int64(le.Uint16(t[10:]))
	if !bytes.HasPrefix(t, []byte("metadata")) {
		return vhdxError(reg.off, "metadata table", "signature %q is not \"metadata\"", t[:8])
	}
	if n > vhdxMaxEntries {
		return vhdxError(reg.off, "metadata table", "%d entries is above %d", n, vhdxMaxEntries)
	}
	m := &vhdxMeta{seen: map[[16]byte]bool{}}
	for i := range n {
		if err := x.readMetadataItem(reg, t[32+32*i:64+32*i], reg.off+32+32*i, m); err != nil {
			return err
		}
	}
	return x.checkMetadata(reg.off, m, opt)
}

// readMetadataItem reads one metadata table entry e found at off.
func (x *vhdx) readMetadataItem(reg vhdxRegion, e []byte, off int64, m *vhdxMeta) error {
	le := binary.LittleEndian
	var id [16]byte
	copy(id[:], e)
	itemOff, n, flags := int64(le.Uint32(e[16:])), int64(le.Uint32(e[20:])), le.Uint32(e[24:])
	field := "metadata entry " + guidString(id)
	if m.seen[id] {
		return vhdxError(off, field, "the item appears twice")
	}
	m.seen[id] = true
	if n > 0 && (itemOff < vhdxMetaTableLen || itemOff > reg.length || n > reg.length-itemOff) {
		return vhdxError(off, field, "item of %d bytes at offset %d is not inside the metadata region of %d bytes",
			n, itemOff, reg.length)
	}
	var dst []byte
	var b [8]byte
	switch id {
	case vhdxFileParameters:
		dst = b[:8]
	case vhdxVirtualSize:
		dst = b[:8]
	case vhdxLogicalSector, vhdxPhysicalSector:
		dst = b[:4]
	case vhdxVirtualDiskID:
		return nil
	case vhdxParentLocator:
		return vhdxRefuse(off, field, "this is a differencing disk with a parent locator; parents are never "+
			"followed, so merge it into its parent first")
	default:
		if flags&4 != 0 {
			return vhdxRefuse(off, field, "unknown required metadata item")
		}
		return nil
	}
	if n < int64(len(dst)) {
		return vhdxError(off, field, "item is %d bytes, shorter than %d", n, len(dst))
	}
	if err := readFull(x.r, dst, reg.off+itemOff); err != nil {
		return err
	}
	switch id {
	case vhdxFileParameters:
		m.blockSize, m.flags = le.Uint32(dst), le.Uint32(dst[4:])
	case vhdxVirtualSize:
		m.size = le.Uint64(dst)
	case vhdxLogicalSector:
		m.logicalSector = le.Uint32(dst)
	}
	return nil
}

// checkMetadata checks the items' values and sets up x.
func (x *vhdx) checkMetadata(off int64, m *vhdxMeta, opt Options) error {
	for _, id := range [][16]byte{vhdxFileParameters, vhdxVirtualSize, vhdxLogicalSector} {
		if !m.seen[id] {
			return vhdxError(off, "metadata table", "required item %s is missing", guidString(id))
		}
	}
	bs := int64(m.blockSize)
	switch {
	case m.flags&2 != 0:
		return vhdxRefuse(off, "file parameters", "this is a differencing disk (has parent); parents are never "+
			"followed, so merge it into its parent first")
	case bs < vhdxMinBlock || bs > vhdxMaxBlock || bs&(bs-1) != 0:
		return vhdxError(off, "file parameters", "block size %d is not a power of two from 1 MiB to 256 MiB", bs)
	case m.logicalSector != 512 && m.logicalSector != 4096:
		return vhdxError(off, "logical sector size", "%d is not 512 or 4096", m.logicalSector)
	}
	x.size = int64(min(m.size, 1<<62))
	if err := opt.checkVirtualSize(VHDX, off, "virtual disk size", x.size); err != nil {
		return err
	}
	if x.size > vhdxMaxSize || x.size%int64(m.logicalSector) != 0 {
		return vhdxError(off, "virtual disk size", "%d bytes is above 64 TiB or not a whole number of %d-byte "+
			"logical sectors", x.size, m.logicalSector)
	}
	x.blockSize = bs
	x.chunkRatio = (1 << 23) * int64(m.logicalSector) / bs
	return nil
}

// readBAT reads the BAT, checks every payload block entry and returns the
// allocated extents. Sector bitmap entries, which only differencing disks
// use, are skipped.
func (x *vhdx) readBAT(reg vhdxRegion) ([]Extent, error) {
	blocks := (x.size + x.blockSize - 1) / x.blockSize
	total := blocks + (blocks-1)/x.chunkRatio
	if total*8 > reg.length {
		return nil, vhdxError(reg.off, "bat region", "%d entries need %d bytes but the region is %d bytes",
			total, total*8, reg.length)
	}
	var err error
	if x.bat, err = readTable[uint64](x.r, reg.off, total, binary.LittleEndian); err != nil {
		return nil, err
	}
	x.batOff = reg.off
	var exts extentList
	for i := range blocks {
		off, err := x.blockOffset(i)
		if err != nil {
			return nil, err
		}
		if off != 0 {
			exts.add(i*x.blockSize, min(x.blockSize, x.size-i*x.blockSize))
		}
	}
	return exts.exts, nil
}

// blockOffset returns the file offset of payload block i, 0 when it reads
// as zeros, after checking the entry.
func (x *vhdx) blockOffset(i int64) (int64, error) {
	k := i + i/x.chunkRatio
	e := x.bat[k]
	field := fmt.Sprintf("bat entry %d", k)
	switch e & 7 {
	case batNotPresent, batUndefined, batZero, batUnmapped:
		return 0, nil
	case batFullyPresent:
	case batPartlyPresent:
		return 0, vhdxError(x.batOff+8*k, field, "block state partially present belongs to differencing disks")
	default:
		return 0, vhdxError(x.batOff+8*k, field, "block state %d is not defined", e&7)
	}
	off := e >> 20 << 20
	need := min(x.blockSize, x.size-i*x.blockSize)
	if off < vhdxMinBlock || off > uint64(x.fileSize-need) {
		return 0, vhdxError(x.batOff+8*k, field, "block at offset %d is not inside the file of %d bytes", off, x.fileSize)
	}
	return int64(off), nil
}

// readSpan reads from one payload block.
func (x *vhdx) readSpan(p []byte, off int64) (int, error) {
	i, within := off/x.blockSize, off%x.blockSize
	n := int(min(int64(len(p)), x.blockSize-within))
	host, err := x.blockOffset(i)
	if err != nil {
		return 0, err
	}
	if host == 0 {
		clear(p[:n])
		return n, nil
	}
	if err := readData(x.r, p[:n], host+within, off); err != nil {
		return 0, err
	}
	return n, nil
}
