package diskfmt

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"io"
	"strings"
)

// VHDX layout ([MS-VHDX] 2.2); little-endian; checksums are CRC-32C of the
// structure with its checksum field zeroed.
const (
	vhdxHeader1Off   = 64 << 10
	vhdxHeader2Off   = 128 << 10
	vhdxHeaderSize   = 4 << 10
	vhdxRegion1Off   = 192 << 10
	vhdxRegion2Off   = 256 << 10
	vhdxRegionSize   = 64 << 10
	vhdxHeaderArea   = 320 << 10 // file identifier, headers and region tables
	vhdxMaxEntries   = 2047      // region and metadata table entries
	vhdxMetaTableLen = 64 << 10

	vxhSequence = 8  // uint64
	vxhLogGUID  = 48 // [16]byte
	vxhVersion  = 66 // uint16: 1

	vhdxMinBlock = 1 << 20
	vhdxMaxBlock = 256 << 20
	vhdxMaxSize  = 64 << 40

	batNotPresent     = 0
	batUndefined      = 1
	batZero           = 2
	batUnmapped       = 3
	batFullyPresent   = 6
	batPartlyPresent  = 7
	vhdxFileParamsLen = 8
)

// vhdxGUID converts a GUID's text form to its on-disk form (the first
// three groups little-endian).
func vhdxGUID(s string) [16]byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, "-", ""))
	if err != nil || len(b) != 16 {
		panic("diskfmt: bad guid " + s)
	}
	var g [16]byte
	g[0], g[1], g[2], g[3] = b[3], b[2], b[1], b[0]
	g[4], g[5], g[6], g[7] = b[5], b[4], b[7], b[6]
	copy(g[8:], b[8:])
	return g
}

var (
	vhdxRegionBAT      = vhdxGUID("2DC27766-F623-4200-9D64-115E9BFD4A08")
	vhdxRegionMetadata = vhdxGUID("8B7CA206-4790-4B9A-B8FE-575F050F886E")
	vhdxFileParameters = vhdxGUID("CAA16737-FA36-4D43-B3B6-33F0AA44E76B")
	vhdxVirtualSize    = vhdxGUID("2FA54224-CD1B-4876-B211-5DBED83BF4B8")
	vhdxLogicalSector  = vhdxGUID("8141BF1D-A96F-4709-BA47-F233A8FAAB5F")
	vhdxPhysicalSector = vhdxGUID("CDA348C7-445D-4471-9CC9-E9885251C556")
	vhdxVirtualDiskID  = vhdxGUID("BECA12AB-B2E6-4523-93EF-C309E000C746")
	vhdxParentLocator  = vhdxGUID("A8D35F2D-B30B-454D-ABF7-D3D84834AB0C")

	castagnoli = crc32.MakeTable(crc32.Castagnoli)
)

// guidString renders an on-disk GUID in its text form.
func guidString(g [16]byte) string {
	return fmt.Sprintf("%08X-%04X-%04X-%X-%X", binary.LittleEndian.Uint32(g[0:]), binary.LittleEndian.Uint16(g[4:]),
		binary.LittleEndian.Uint16(g[6:]), g[8:10], g[10:])
}

// vhdxChecksumOK checks the CRC-32C stored at offset 4 of b.
func vhdxChecksumOK(b []byte) (got, want uint32, ok bool) {
	got = binary.LittleEndian.Uint32(b[4:])
	c := bytes.Clone(b)
	clear(c[4:8])
	want = crc32.Checksum(c, castagnoli)
	return got, want, got == want
}

// vhdx serves reads of a VHDX through its BAT.
type vhdx struct {
	r          io.ReaderAt
	fileSize   int64
	size       int64
	blockSize  int64
	chunkRatio int64
	bat        []uint64
	batOff     int64
}

// vhdxRegion is a region table entry.
type vhdxRegion struct{ off, length int64 }

func vhdxError(off int64, field, format string, args ...any) error {
	return errorf(VHDX, off, field, format, args...)
}

func vhdxRefuse(off int64, field, format string, args ...any) error {
	return &FormatError{Format: VHDX, Offset: off, Field: field, Err: ErrUnsupported, Msg: fmt.Sprintf(format, args...)}
}

// openVHDX opens a VHDX, checking the headers, region tables, metadata and
// BAT before returning.
func openVHDX(r io.ReaderAt, size int64, opt Options) (Disk, error) {
	x := &vhdx{r: r, fileSize: size}
	if size < vhdxHeaderArea {
		return nil, &FormatError{Format: VHDX, Err: ErrFormat, Msg: fmt.Sprintf("the file is %d bytes, shorter "+
			"than the %d bytes of vhdx headers and region tables: it is truncated", size, vhdxHeaderArea)}
	}
	if err := x.checkHeaders(); err != nil {
		return nil, err
	}
	bat, meta, err := x.readRegions()
	if err != nil {
		return nil, err
	}
	if err := x.readMetadata(meta, opt); err != nil {
		return nil, err
	}
	exts, err := x.readBAT(bat)
	if err != nil {
		return nil, err
	}
	return &disk{format: VHDX, size: x.size, extents: exts, spans: x}, nil
}

// checkHeaders picks the current header (valid, highest sequence number)
// and refuses a file whose log must be replayed.
func (x *vhdx) checkHeaders() error {
	var cur []byte
	var curOff int64
	var problems []string
	for _, off := range []int64{vhdxHeader1Off, vhdxHeader2Off} {
		b := make([]byte, vhdxHeaderSize)
		if err := readFull(x.r, b, off); err != nil {
			return err
		}
		got, want, ok := vhdxChecksumOK(b)
		switch {
		case !bytes.HasPrefix(b, []byte("head")):
			problems = append(problems, fmt.Sprintf("at %d: signature %q is not \"head\"", off, b[:4]))
		case !ok:
			problems = append(problems, fmt.Sprintf("at %d: checksum %#x does not match computed %#x", off, got, want))
		case binary.LittleEndian.Uint16(b[vxhVersion:]) != 1:
			problems = append(problems, fmt.Sprintf("at %d: version %d is not 1", off, binary.LittleEndian.Uint16(b[vxhVersion:])))
		case cur == nil || binary.LittleEndian.Uint64(b[vxhSequence:]) > binary.LittleEndian.Uint64(cur[vxhSequence:]):
			cur, curOff = b, off
		}
	}
	if cur == nil {
		return vhdxError(vhdxHeader1Off, "header", "neither header is valid (%s)", strings.Join(problems, "; "))
	}
	if log := cur[vxhLogGUID : vxhLogGUID+16]; !allZero(log) {
		return vhdxRefuse(curOff, "header", "the log GUID is not zero: the file was not closed cleanly and its log "+
			"must be replayed before the data is consistent; open it once read-write in Hyper-V (or run "+
			"qemu-img check -r all -f vhdx on it) and upload it again")
	}
	return nil
}

// readRegions reads the first valid region table and returns the BAT and
// metadata regions, refusing unknown required regions.
func (x *vhdx) readRegions() (bat, meta vhdxRegion, err error) {
	le := binary.LittleEndian
	b := make([]byte, vhdxRegionSize)
	off := int64(vhdxRegion1Off)
	for i, o := range []int64{vhdxRegion1Off, vhdxRegion2Off} {
		if err := readFull(x.r, b, o); err != nil {
			return bat, meta, err
		}
		got, want, ok := vhdxChecksumOK(b)
		if bytes.HasPrefix(b, []byte("regi")) && ok && le.Uint32(b[8:]) <= vhdxMaxEntries {
			off = o
			break
		}
		if i == 1 {
			return bat, meta, vhdxError(vhdxRegion1Off, "region table", "neither region table is valid "+
				"(second: signature %q, checksum %#x, computed %#x)", b[:4], got, want)
		}
	}
	for i := range int64(le.Uint32(b[8:])) {
		e := b[16+32*i : 16+32*(i+1)]
		var id [16]byte
		copy(id[:], e)
		reg := vhdxRegion{int64(le.Uint64(e[16:])), int64(le.Uint32(e[24:]))}
		field := fmt.Sprintf("region table entry %d", i)
		if reg.off < vhdxHeaderArea || reg.off > x.fileSize || reg.length > x.fileSize-reg.off {
			return bat, meta, vhdxError(off+16+32*i, field, "region of %d bytes at offset %d is not inside the file "+
				"after the headers", reg.length, reg.off)
		}
		switch {
		case id == vhdxRegionBAT && bat.off == 0:
			bat = reg
		case id == vhdxRegionMetadata && meta.off == 0:
			meta = reg
		case id == vhdxRegionBAT || id == vhdxRegionMetadata:
			return bat, meta, vhdxError(off+16+32*i, field, "the region appears twice")
		case le.Uint32(e[28:])&1 != 0:
			return bat, meta, vhdxRefuse(off+16+32*i, field, "unknown required region %s", guidString(id))
		}
	}
	if bat.off == 0 || meta.off == 0 {
		return bat, meta, vhdxError(off, "region table", "the BAT or metadata region is missing")
	}
	return bat, meta, nil
}
