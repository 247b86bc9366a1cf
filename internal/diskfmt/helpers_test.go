package diskfmt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"testing"
)

// dynSpec describes a dynamic VHD for buildDynamicVHD.
type dynSpec struct {
	size       int64          // virtual size
	blockSize  int64          // 0 = 512 KiB
	maxEntries int64          // 0 = just enough
	blocks     map[int64]byte // allocated block index -> fill byte
	diskType   uint32         // 0 = dynamic
}

// Offsets of the structures buildDynamicVHD lays out.
const (
	testHeaderOff = 512
	testBATOff    = 1536
)

// buildDynamicVHD lays out a dynamic VHD as the specification draws it:
// footer copy, dynamic header, BAT (padded to a sector), blocks in index
// order (bitmap, then data), footer.
func buildDynamicVHD(s dynSpec) []byte {
	if s.blockSize == 0 {
		s.blockSize = 512 << 10
	}
	if s.maxEntries == 0 {
		s.maxEntries = (s.size + s.blockSize - 1) / s.blockSize
	}
	if s.diskType == 0 {
		s.diskType = diskTypeDynamic
	}
	be := binary.BigEndian
	batLen := (s.maxEntries*4 + 511) / 512 * 512
	bitmap := (s.blockSize/512/8 + 511) / 512 * 512
	out := make([]byte, testBATOff+batLen)

	ft := VHDFooter(s.size, [16]byte{1, 2, 3}, 1000)
	be.PutUint64(ft[ftDataOffset:], testHeaderOff)
	be.PutUint32(ft[ftDiskType:], s.diskType)
	fixChecksum(ft[:], ftChecksum)
	copy(out, ft[:])

	h := out[testHeaderOff : testHeaderOff+dynHeaderSize]
	copy(h, dynCookie)
	be.PutUint64(h[dhDataOffset:], noDataOffset)
	be.PutUint64(h[dhTableOffset:], testBATOff)
	be.PutUint32(h[dhVersion:], vhdVersion)
	be.PutUint32(h[dhMaxEntries:], uint32(s.maxEntries))
	be.PutUint32(h[dhBlockSize:], uint32(s.blockSize))
	fixChecksum(h, dhChecksum)

	bat := out[testBATOff:]
	for i := range bat {
		bat[i] = 0xFF
	}
	for i := int64(0); i < s.maxEntries; i++ {
		fill, ok := s.blocks[i]
		if !ok {
			continue
		}
		be.PutUint32(bat[4*i:], uint32(len(out)/512))
		blk := make([]byte, bitmap+s.blockSize)
		for j := range blk[:bitmap] {
			blk[j] = 0xFF
		}
		for j := range blk[bitmap:] {
			blk[bitmap+int64(j)] = fill
		}
		out = append(out, blk...)
		bat = out[testBATOff:]
	}
	return append(out, ft[:]...)
}

// fixChecksum recomputes the VHD checksum of b stored at off.
func fixChecksum(b []byte, off int) {
	binary.BigEndian.PutUint32(b[off:], vhdChecksum(b, off))
}

// fixedVHD appends a footer to data.
func fixedVHD(data []byte) []byte {
	ft := VHDFooter(int64(len(data)), [16]byte{9}, 42)
	return append(bytes.Clone(data), ft[:]...)
}

// openBytes opens an in-memory image.
func openBytes(b []byte, opt Options) (Disk, error) {
	return Open(bytes.NewReader(b), int64(len(b)), opt)
}

// readAll reads the whole virtual disk in odd-sized pieces, so that reads
// straddle blocks and extents.
func readAll(t testing.TB, d Disk) []byte {
	t.Helper()
	out := make([]byte, d.VirtualSize())
	const piece = 300_007
	for off := int64(0); off < d.VirtualSize(); off += piece {
		end := min(off+piece, d.VirtualSize())
		n, err := d.ReadAt(out[off:end], off)
		if n != int(end-off) || (err != nil && !(err == io.EOF && end == d.VirtualSize())) {
			t.Fatalf("ReadAt(%d bytes at %d) = %d, %v", end-off, off, n, err)
		}
	}
	return out
}

// checkExtents checks the Extents invariants and, when data is not nil, that
// every non-zero byte of data lies inside an extent.
func checkExtents(t testing.TB, d Disk, data []byte) {
	t.Helper()
	exts := d.Extents()
	var prevEnd int64 = -1
	for i, e := range exts {
		if e.Length <= 0 || e.Offset < 0 || e.Offset+e.Length > d.VirtualSize() {
			t.Fatalf("extent %d %+v out of range [0, %d)", i, e, d.VirtualSize())
		}
		if e.Offset <= prevEnd {
			t.Fatalf("extent %d %+v overlaps, touches or precedes the previous one ending at %d", i, e, prevEnd)
		}
		prevEnd = e.Offset + e.Length
	}
	if data == nil {
		return
	}
	var pos int64
	for _, e := range append(exts, Extent{int64(len(data)), 0}) {
		if i := bytes.IndexFunc(data[pos:e.Offset], func(r rune) bool { return r != 0 }); i >= 0 {
			t.Fatalf("non-zero byte at virtual offset %d lies outside the extents %v", pos+int64(i), exts)
		}
		pos = e.Offset + e.Length
	}
}

// wantFormatError checks that err is a *FormatError wrapping sentinel.
func wantFormatError(t testing.TB, err, sentinel error) *FormatError {
	t.Helper()
	var fe *FormatError
	if !errors.As(err, &fe) {
		t.Fatalf("error %v (%T) is not a *FormatError", err, err)
	}
	if !errors.Is(err, sentinel) {
		t.Fatalf("error %q wraps %v, want %v", err, fe.Err, sentinel)
	}
	return fe
}

// buildCompactVHDX lays out a small VHDX with no data blocks: file
// identifier, two headers, two region tables, the metadata region at
// 320 KiB and the BAT after it, holding states for the payload blocks.
func buildCompactVHDX(size int64, blockSize uint32, states []uint64) []byte {
	le := binary.LittleEndian
	const metaOff, metaLen, batOff = vhdxHeaderArea, 68 << 10, vhdxHeaderArea + 68<<10
	batLen := (len(states)*8 + 4095) / 4096 * 4096
	b := make([]byte, batOff+batLen)
	copy(b, "vhdxfile")
	for i, off := range []int{vhdxHeader1Off, vhdxHeader2Off} {
		h := b[off : off+vhdxHeaderSize]
		copy(h, "head")
		le.PutUint64(h[vxhSequence:], uint64(i+1))
		le.PutUint16(h[vxhVersion:], 1)
		le.PutUint32(h[4:], crc32.Checksum(h, castagnoli))
	}
	for _, off := range []int{vhdxRegion1Off, vhdxRegion2Off} {
		r := b[off : off+vhdxRegionSize]
		copy(r, "regi")
		le.PutUint32(r[8:], 2)
		for i, reg := range []struct {
			id       [16]byte
			off, len int
		}{{vhdxRegionBAT, batOff, batLen}, {vhdxRegionMetadata, metaOff, metaLen}} {
			e := r[16+32*i:]
			copy(e, reg.id[:])
			le.PutUint64(e[16:], uint64(reg.off))
			le.PutUint32(e[24:], uint32(reg.len))
			le.PutUint32(e[28:], 1)
		}
		le.PutUint32(r[4:], crc32.Checksum(r, castagnoli))
	}
	m := b[metaOff : metaOff+metaLen]
	copy(m, "metadata")
	items := []struct {
		id    [16]byte
		value []byte
	}{
		{vhdxFileParameters, le.AppendUint32(le.AppendUint32(nil, blockSize), 0)},
		{vhdxVirtualSize, le.AppendUint64(nil, uint64(size))},
		{vhdxLogicalSector, le.AppendUint32(nil, 512)},
		{vhdxPhysicalSector, le.AppendUint32(nil, 4096)},
	}
	le.PutUint16(m[10:], uint16(len(items)))
	at := vhdxMetaTableLen
	for i, it := range items {
		e := m[32+32*i:]
		copy(e, it.id[:])
		le.PutUint32(e[16:], uint32(at))
		le.PutUint32(e[20:], uint32(len(it.value)))
		le.PutUint32(e[24:], 4)
		at += copy(m[at:], it.value)
	}
	for i, s := range states {
		le.PutUint64(b[batOff+8*i:], s)
	}
	return b
}
