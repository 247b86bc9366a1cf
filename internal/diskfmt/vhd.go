package diskfmt

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
)

// VHD footer layout (Virtual Hard Disk Image Format Specification 1.0,
// "Hard Disk Footer Format"); all integers big-endian.
const (
	footerSize = 512

	ftCookie       = 0  // [8]byte "conectix"
	ftFeatures     = 8  // uint32, 0x00000002 (reserved bit always set)
	ftVersion      = 12 // uint32, 0x00010000
	ftDataOffset   = 16 // uint64, fixed: all ones; dynamic: dynamic header offset
	ftTimestamp    = 24 // uint32, seconds since 2000-01-01 00:00:00 UTC
	ftCreatorApp   = 28 // [4]byte
	ftCreatorVer   = 32 // uint32
	ftCreatorOS    = 36 // uint32
	ftOriginalSize = 40 // uint64
	ftCurrentSize  = 48 // uint64, the virtual size in bytes
	ftGeometry     = 56 // uint16 cylinders, uint8 heads, uint8 sectors per track
	ftDiskType     = 60 // uint32
	ftChecksum     = 64 // uint32
	ftUniqueID     = 68 // [16]byte
	ftSavedState   = 84 // uint8

	diskTypeFixed   = 2
	diskTypeDynamic = 3
	diskTypeDiff    = 4

	vhdVersion    = 0x00010000
	noDataOffset  = math.MaxUint64
	vhdFeatures   = 0x00000002
	creatorOSWin  = 0x5769326B // "Wi2k"
	vhdCreatorVer = 0x000A0000
)

// vhdFooter is the normalized view of a footer that passed checkFooter.
type vhdFooter struct {
	off         int64 // where it is in the file
	dataOffset  uint64
	currentSize int64
	diskType    uint32
	uniqueID    [16]byte
}

// vhdChecksum is the one's complement of the byte sum of b, skipping the
// four checksum bytes at skip. The dynamic header uses the same rule.
func vhdChecksum(b []byte, skip int) uint32 {
	var sum uint32
	for i, c := range b {
		if i < skip || i >= skip+4 {
			sum += uint32(c)
		}
	}
	return ^sum
}

// readFooter reads and checks the 512-byte footer at off. It checks what
// every VHD footer must satisfy; the caller checks the disk type and data
// offset it expects.
func readFooter(r io.ReaderAt, f Format, off int64, opt Options) (*vhdFooter, error) {
	b := make([]byte, footerSize)
	if err := readFull(r, b, off); err != nil {
		return nil, err
	}
	return parseFooter(b, f, off, opt)
}

func parseFooter(b []byte, f Format, off int64, opt Options) (*vhdFooter, error) {
	be := binary.BigEndian
	if !bytes.Equal(b[ftCookie:ftCookie+8], vhdCookie) {
		return nil, errorf(f, off, "footer", "cookie %q is not %q: the footer is missing, so the file is truncated or not a vhd",
			b[ftCookie:ftCookie+8], vhdCookie)
	}
	if got, want := be.Uint32(b[ftChecksum:]), vhdChecksum(b, ftChecksum); got != want {
		return nil, errorf(f, off, "footer", "checksum %#x does not match computed %#x: the footer is corrupt", got, want)
	}
	if v := be.Uint32(b[ftVersion:]); v>>16 != 1 {
		return nil, errorf(f, off, "footer", "file format version %#08x is not 1.x", v)
	}
	ft := &vhdFooter{
		off:        off,
		dataOffset: be.Uint64(b[ftDataOffset:]),
		diskType:   be.Uint32(b[ftDiskType:]),
	}
	copy(ft.uniqueID[:], b[ftUniqueID:])
	switch ft.diskType {
	case diskTypeFixed, diskTypeDynamic, diskTypeDiff:
	default:
		return nil, errorf(f, off, "footer", "disk type %d is not 2 (fixed), 3 (dynamic) or 4 (differencing)", ft.diskType)
	}
	cur := be.Uint64(b[ftCurrentSize:])
	if cur > math.MaxInt64 {
		return nil, &FormatError{Format: f, Offset: off, Field: "footer", Err: ErrTooLarge,
			Msg: fmt.Sprintf("current size %d bytes is above the limit of %s", cur, sizeString(opt.maxVirtualSize()))}
	}
	ft.currentSize = int64(cur)
	if err := opt.checkVirtualSize(f, off, "footer", ft.currentSize); err != nil {
		return nil, err
	}
	return ft, nil
}

// openFixedVHD opens a fixed VHD: the disk's bytes followed by the footer.
func openFixedVHD(r io.ReaderAt, size int64, opt Options) (Disk, error) {
	off := size - footerSize
	ft, err := readFooter(r, VHDFixed, off, opt)
	if err != nil {
		return nil, err
	}
	if ft.diskType != diskTypeFixed {
		return nil, errorf(VHDFixed, off, "footer", "disk type %d found in a footer at the end of the file only; "+
			"a dynamic or differencing vhd also has a copy at offset 0", ft.diskType)
	}
	if ft.dataOffset != noDataOffset {
		return nil, errorf(VHDFixed, off, "footer", "data offset %#x is not 0xffffffffffffffff as a fixed disk needs", ft.dataOffset)
	}
	if ft.currentSize != off {
		return nil, errorf(VHDFixed, off, "footer", "current size says the disk holds %s but the file holds %s of data "+
			"before the footer: the file was truncated or padded, or the footer is wrong",
			sizeString(ft.currentSize), sizeString(off))
	}
	exts := fileExtents(r, ft.currentSize)
	return &disk{format: VHDFixed, size: ft.currentSize, extents: exts, spans: &extentReader{r: r, extents: exts}}, nil
}

// openDiffVHD checks a differencing disk's footers and refuses it: its
// parent is named by a path inside the file, which is never followed.
func openDiffVHD(r io.ReaderAt, size int64, opt Options) (Disk, error) {
	if _, _, err := readDynamicFooters(r, VHDDiff, size, opt); err != nil {
		return nil, err
	}
	return nil, &FormatError{Format: VHDDiff, Err: ErrUnsupported,
		Msg: "this is a differencing disk, which only holds changes to a parent disk; differencing disks need " +
			"their parent chosen explicitly, so merge it into its parent first (for example with " +
			"qemu-img convert -f vpc -O vpc -o subformat=fixed) and upload the result"}
}

// VHDFooter returns a fixed-disk footer for virtualSize bytes. The timestamp
// (seconds since 2000-01-01 UTC) and unique id are parameters so that exports
// are deterministic. The CHS geometry is computed by the specification's
// algorithm; the current size is written exactly, never rounded to the
// geometry. virtualSize should be a positive multiple of 512.
//
// The creator application is "win " (what Hyper-V writes): QEMU releases
// such as 7.2 take the size from the CHS geometry unless the creator is one
// they know to write the exact size, and "win " is the one every reader knows.
func VHDFooter(virtualSize int64, uniqueID [16]byte, timestamp uint32) [512]byte {
	var b [footerSize]byte
	be := binary.BigEndian
	copy(b[ftCookie:], vhdCookie)
	be.PutUint32(b[ftFeatures:], vhdFeatures)
	be.PutUint32(b[ftVersion:], vhdVersion)
	be.PutUint64(b[ftDataOffset:], noDataOffset)
	be.PutUint32(b[ftTimestamp:], timestamp)
	copy(b[ftCreatorApp:], "win ")
	be.PutUint32(b[ftCreatorVer:], vhdCreatorVer)
	be.PutUint32(b[ftCreatorOS:], creatorOSWin)
	be.PutUint64(b[ftOriginalSize:], uint64(virtualSize))
	be.PutUint64(b[ftCurrentSize:], uint64(virtualSize))
	c, h, s := chsGeometry(virtualSize / sectorSize)
	be.PutUint16(b[ftGeometry:], c)
	b[ftGeometry+2], b[ftGeometry+3] = h, s
	be.PutUint32(b[ftDiskType:], diskTypeFixed)
	copy(b[ftUniqueID:], uniqueID[:])
	be.PutUint32(b[ftChecksum:], vhdChecksum(b[:], ftChecksum))
	return b
}

// chsGeometry is the specification's "CHS Calculation" (appendix), which
// rounds down: the geometry may describe fewer sectors than the disk has.
func chsGeometry(totalSectors int64) (cylinders uint16, heads, sectorsPerTrack uint8) {
	totalSectors = max(0, min(totalSectors, 65535*16*255))
	var cylTimesHeads int64
	if totalSectors >= 65535*16*63 {
		sectorsPerTrack, heads = 255, 16
		cylTimesHeads = totalSectors / 255
	} else {
		sectorsPerTrack = 17
		cylTimesHeads = totalSectors / 17
		h := max((cylTimesHeads+1023)/1024, 4)
		if cylTimesHeads >= h*1024 || h > 16 {
			sectorsPerTrack, h = 31, 16
			cylTimesHeads = totalSectors / 31
		}
		if cylTimesHeads >= h*1024 {
			sectorsPerTrack, h = 63, 16
			cylTimesHeads = totalSectors / 63
		}
		heads = uint8(h)
	}
	return uint16(cylTimesHeads / int64(heads)), heads, sectorsPerTrack
}

// Azure managed-disk upload limits for the virtual size of a fixed VHD.
const (
	mib          = 1 << 20
	azureMinSize = 20 * mib
	azureMaxSize = 32 << 40
)

// AzureReadyProblem reports whether an image of format f and this virtual
// size is accepted by Azure (a fixed VHD of a whole number of MiB, from
// 20 MiB to 32 TiB). It returns "" when it is, and otherwise says why not and
// how to fix it.
func AzureReadyProblem(f Format, virtualSize int64) string {
	if f != VHDFixed {
		return fmt.Sprintf("azure accepts only fixed vhd images, not %s; export the disk as a fixed vhd", f)
	}
	switch {
	case virtualSize < azureMinSize:
		return fmt.Sprintf("unsupported virtual size of %d bytes: azure needs at least 20 MiB (%d bytes); "+
			"grow the disk to at least %d bytes", virtualSize, azureMinSize, azureMinSize)
	case virtualSize > azureMaxSize:
		return fmt.Sprintf("unsupported virtual size of %d bytes: azure accepts at most 32 TiB (%d bytes); "+
			"shrink the disk's partitions and file systems, then the disk, to at most %d bytes",
			virtualSize, int64(azureMaxSize), int64(azureMaxSize))
	case virtualSize%mib != 0:
		up := (virtualSize/mib + 1) * mib
		return fmt.Sprintf("unsupported virtual size of %d bytes: the size must be a whole number of MiB; "+
			"resize the disk to %d bytes (%d MiB) before export", virtualSize, up, up/mib)
	}
	return ""
}
