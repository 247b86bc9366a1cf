package diskfmt

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"unicode/utf16"
)

// Layout of the VHDX files WriteVHDX writes, as qemu-img and Hyper-V lay
// out a new dynamic VHDX: file identifier, two headers, two region tables,
// an empty log of 1 MiB at 1 MiB, the metadata region at 2 MiB, the BAT at
// 3 MiB, then the payload blocks, each 1 MiB-aligned.
const (
	wxBlock      = 2 << 20 // payload block size, as WriteDynamicVHD's blocks
	wxLogOff     = 1 << 20
	wxLogLen     = 1 << 20
	wxMetaOff    = 2 << 20
	wxMetaLen    = 1 << 20
	wxBATOff     = 3 << 20
	wxLogical    = sectorSize
	wxPhysical   = 4096
	wxChunkRatio = (1 << 23) * wxLogical / wxBlock // payload blocks per sector bitmap block

	metaFlagVirtualDisk = 2
	metaFlagRequired    = 4
)

// vhdxLayout says where WriteVHDX puts each payload block.
type vhdxLayout struct {
	blocks     int64 // payload blocks of the virtual disk
	batEntries int64 // payload entries interleaved with sector bitmap entries
	batLen     int64 // bytes, 1 MiB-aligned
	dataStart  int64
}

func newVHDXLayout(size int64) vhdxLayout {
	l := vhdxLayout{blocks: unitsOf(size, wxBlock)}
	l.batEntries = l.blocks + (l.blocks-1)/wxChunkRatio
	l.batLen = unitsOf(l.batEntries*8, 1<<20) << 20
	l.dataStart = wxBATOff + l.batLen
	return l
}

// WriteVHDX writes d as a dynamic VHDX (version 1, 2 MiB blocks, 512-byte
// logical and 4096-byte physical sectors) and returns the number of bytes
// written. Only blocks holding non-zero data are allocated (fully present);
// the others are left "not present", which reads as zeros on a disk without
// a parent. d is read twice (once to find the blocks). The GUIDs the format
// wants are derived from opt.UniqueID, so the output depends only on the
// disk and opt.
func WriteVHDX(w io.Writer, d Disk, opt WriteOptions) (int64, error) {
	d = withProgress(d, opt.Progress)
	size := d.VirtualSize()
	if size > vhdxMaxSize {
		return 0, fmt.Errorf("%w: a vhdx holds at most 64 TiB", ErrTooLarge)
	}
	set, _, err := nonZeroUnits(d, wxBlock)
	if err != nil {
		return 0, err
	}
	l := newVHDXLayout(size)
	c := &countingWriter{w: w}
	c.Write(vhdxFileIdentifier())
	c.pad(vhdxHeader1Off)
	for seq := range uint64(2) {
		c.Write(vhdxHeaderBlock(opt.UniqueID, seq))
		c.pad(vhdxHeaderSize)
		c.Write(zeros[:vhdxHeader2Off-vhdxHeader1Off-vhdxHeaderSize])
	}
	rt := vhdxRegionTable(l)
	c.Write(rt)
	c.Write(rt)
	c.pad(wxLogOff) // the log: empty, as the headers' zero log GUID says
	writeZeros(c, wxLogLen)
	c.Write(vhdxMetadata(size, opt.UniqueID))
	l.writeBAT(c, set)
	buf := make([]byte, wxBlock)
	for b := int64(0); b < l.blocks && c.err == nil; b++ {
		if set.has(b) {
			if err := writeUnit(c, d, buf, b); err != nil {
				return c.n, err
			}
		}
	}
	return c.n, c.err
}

// vhdxFileIdentifier is the signature and the creator, UTF-16.
func vhdxFileIdentifier() []byte {
	b := make([]byte, 8+512)
	copy(b, "vhdxfile")
	for i, r := range utf16.Encode([]rune("Hangar")) {
		binary.LittleEndian.PutUint16(b[8+2*i:], r)
	}
	return b
}

// vhdxGUIDFrom derives a GUID (version 4 bits set) from the disk's identity.
func vhdxGUIDFrom(id [16]byte, what string) [16]byte {
	sum := sha256.Sum256(append(id[:], what...))
	var g [16]byte
	copy(g[:], sum[:16])
	g[7] = g[7]&0x0f | 0x40 // version 4, in the on-disk (little-endian) third group
	g[8] = g[8]&0x3f | 0x80
	return g
}

// vhdxHeaderBlock is one 4 KiB header with sequence number seq.
func vhdxHeaderBlock(id [16]byte, seq uint64) []byte {
	le := binary.LittleEndian
	h := make([]byte, vhdxHeaderSize)
	copy(h, "head")
	le.PutUint64(h[vxhSequence:], seq)
	fw, dw := vhdxGUIDFrom(id, "file write"), vhdxGUIDFrom(id, "data write")
	copy(h[16:], fw[:])
	copy(h[32:], dw[:])
	// Log GUID (48) stays zero: nothing to replay.
	le.PutUint16(h[64:], 0) // log version
	le.PutUint16(h[vxhVersion:], 1)
	le.PutUint32(h[68:], wxLogLen)
	le.PutUint64(h[72:], wxLogOff)
	le.PutUint32(h[4:], crc32.Checksum(h, castagnoli))
	return h
}

// vhdxRegionTable lists the BAT and metadata regions (both required).
func vhdxRegionTable(l vhdxLayout) []byte {
	le := binary.LittleEndian
	b := make([]byte, vhdxRegionSize)
	copy(b, "regi")
	le.PutUint32(b[8:], 2)
	for i, r := range []struct {
		id       [16]byte
		off, len int64
	}{{vhdxRegionBAT, wxBATOff, l.batLen}, {vhdxRegionMetadata, wxMetaOff, wxMetaLen}} {
		e := b[16+32*i:]
		copy(e, r.id[:])
		le.PutUint64(e[16:], uint64(r.off))
		le.PutUint32(e[24:], uint32(r.len))
		le.PutUint32(e[28:], 1) // required
	}
	le.PutUint32(b[4:], crc32.Checksum(b, castagnoli))
	return b
}

// vhdxMetadata is the metadata region: the table, then its five items.
func vhdxMetadata(size int64, id [16]byte) []byte {
	le := binary.LittleEndian
	b := make([]byte, wxMetaLen)
	copy(b, "metadata")
	diskID := vhdxGUIDFrom(id, "virtual disk id")
	items := []struct {
		id    [16]byte
		flags uint32
		data  []byte
	}{
		{vhdxFileParameters, metaFlagRequired, le.AppendUint32(le.AppendUint32(nil, wxBlock), 0)},
		{vhdxVirtualSize, metaFlagVirtualDisk | metaFlagRequired, le.AppendUint64(nil, uint64(size))},
		{vhdxVirtualDiskID, metaFlagVirtualDisk | metaFlagRequired, diskID[:]},
		{vhdxLogicalSector, metaFlagVirtualDisk | metaFlagRequired, le.AppendUint32(nil, wxLogical)},
		{vhdxPhysicalSector, metaFlagVirtualDisk | metaFlagRequired, le.AppendUint32(nil, wxPhysical)},
	}
	le.PutUint16(b[10:], uint16(len(items)))
	at := vhdxMetaTableLen // items follow the 64 KiB table
	for i, it := range items {
		e := b[32+32*i:]
		copy(e, it.id[:])
		le.PutUint32(e[16:], uint32(at))
		le.PutUint32(e[20:], uint32(len(it.data)))
		le.PutUint32(e[24:], it.flags)
		at += copy(b[at:], it.data)
	}
	return b
}

// writeBAT writes the BAT: payload block b's entry is at b + b/chunkRatio,
// a sector bitmap entry (not present) after every chunkRatio payload entries.
func (l vhdxLayout) writeBAT(c *countingWriter, set bitset) {
	buf := make([]byte, 0, 64<<10)
	next := l.dataStart
	for i := range l.batEntries {
		var e uint64 // not present
		if b := i - i/(wxChunkRatio+1); (i+1)%(wxChunkRatio+1) != 0 && set.has(b) {
			e = uint64(next>>20)<<20 | batFullyPresent
			next += wxBlock
		}
		buf = binary.LittleEndian.AppendUint64(buf, e)
		if len(buf) == cap(buf) {
			c.Write(buf)
			buf = buf[:0]
		}
	}
	c.Write(buf)
	c.pad(1 << 20)
}
