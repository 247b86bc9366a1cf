package diskfmt

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// VMDK sparse extent header (VMware Virtual Disk Format 1.1, "Hosted
// Sparse Extent Header"); little-endian, sizes and offsets in sectors.
const (
	vkVersion      = 4  // uint32: 1 to 3
	vkFlags        = 8  // uint32
	vkCapacity     = 12 // uint64
	vkGrainSize    = 20 // uint64
	vkDescOffset   = 28 // uint64
	vkDescSize     = 36 // uint64
	vkGTEsPerGT    = 44 // uint32
	vkGDOffset     = 56 // uint64
	vkLineChecks   = 73 // 4 bytes: '\n', ' ', '\r', '\n'
	vkCompressAlgo = 77 // uint16

	vmdkFlagNLTest     = 1 << 0
	vmdkFlagZeroGrain  = 1 << 2
	vmdkFlagCompressed = 1 << 16
	vmdkFlagMarkers    = 1 << 17

	vmdkGDAtEnd       = 0xFFFFFFFFFFFFFFFF
	vmdkMarkerEOS     = 0
	vmdkMarkerFooter  = 3
	vmdkMaxDescriptor = 1 << 20
	vmdkMinGrain      = 8    // sectors (4 KiB)
	vmdkMaxGrain      = 2048 // sectors (1 MiB); VMware and qemu write 128
	vmdkMaxGTEs       = 512  // entries per grain table, as the specification fixes
	vmdkMarkerSize    = 12   // uint64 lba, uint32 size, then the deflated grain
)

// vmdk serves reads of a monolithicSparse or streamOptimized VMDK.
type vmdk struct {
	r          io.ReaderAt
	fileSize   int64
	size       int64
	grain      int64 // bytes
	gtes       int64 // entries per grain table
	flags      uint32
	compressed bool
	gd         []uint32
	gts        tableCache
	inflated   clusterCache
}

func vmdkError(off int64, field, format string, args ...any) error {
	return errorf(VMDK, off, field, format, args...)
}

func vmdkRefuse(off int64, field, format string, args ...any) error {
	return &FormatError{Format: VMDK, Offset: off, Field: field, Err: ErrUnsupported, Msg: fmt.Sprintf(format, args...)}
}

// openVMDK opens a monolithicSparse or streamOptimized VMDK, checking the
// header, the embedded descriptor, the grain directory and every grain
// table before returning.
func openVMDK(r io.ReaderAt, size int64, opt Options) (Disk, error) {
	v := &vmdk{r: r, fileSize: size}
	hdr, hdrOff, err := v.readHeader()
	if err != nil {
		return nil, err
	}
	if err := v.checkHeader(hdr, hdrOff, opt); err != nil {
		return nil, err
	}
	if err := v.checkDescriptor(hdr); err != nil {
		return nil, err
	}
	exts, err := v.scanTables(hdr, hdrOff)
	if err != nil {
		return nil, err
	}
	return &disk{format: VMDK, size: v.size, extents: exts, spans: v}, nil
}

// readHeader reads the header at offset 0 and, when it says the grain
// directory is at the end (streamOptimized), the footer that replaces it.
func (v *vmdk) readHeader() ([]byte, int64, error) {
	hdr := make([]byte, min(v.fileSize, sectorSize))
	if err := readFull(v.r, hdr, 0); err != nil {
		return nil, 0, err
	}
	if !bytes.HasPrefix(hdr, vmdkMagic) {
		return nil, 0, vmdkRefuse(0, "descriptor", "this is a vmdk descriptor file, which only names the files "+
			"holding the disk; those are never opened, so upload a single monolithicSparse or streamOptimized vmdk")
	}
	if len(hdr) < sectorSize {
		return nil, 0, vmdkError(0, "header", "the file is %d bytes, shorter than a vmdk header (512 bytes)", v.fileSize)
	}
	if binary.LittleEndian.Uint64(hdr[vkGDOffset:]) != vmdkGDAtEnd {
		return hdr, 0, nil
	}
	// Footer marker, footer (a copy of the header), end-of-stream marker.
	off := v.fileSize - 3*sectorSize
	if off < sectorSize {
		return nil, 0, vmdkError(0, "header", "the grain directory is at the end, but the file is too short for a footer")
	}
	tail := make([]byte, 3*sectorSize)
	if err := readFull(v.r, tail, off); err != nil {
		return nil, 0, err
	}
	le := binary.LittleEndian
	footer, eos := tail[sectorSize:2*sectorSize], tail[2*sectorSize:]
	if le.Uint32(tail[8:]) != 0 || le.Uint32(tail[12:]) != vmdkMarkerFooter || !bytes.HasPrefix(footer, vmdkMagic) ||
		le.Uint64(eos) != 0 || le.Uint32(eos[8:]) != 0 || le.Uint32(eos[12:]) != vmdkMarkerEOS {
		return nil, 0, vmdkError(off, "footer", "the header says the grain directory is at the end, but the file does "+
			"not end with a footer marker, footer and end-of-stream marker: it is truncated")
	}
	if le.Uint64(footer[vkGDOffset:]) == vmdkGDAtEnd {
		return nil, 0, vmdkError(off+sectorSize, "footer", "the footer does not say where the grain directory is")
	}
	return footer, off + sectorSize, nil
}

// checkHeader checks the header fields.
func (v *vmdk) checkHeader(hdr []byte, off int64, opt Options) error {
	le := binary.LittleEndian
	if ver := le.Uint32(hdr[vkVersion:]); ver < 1 || ver > 3 {
		return vmdkRefuse(off, "header", "sparse extent version %d is not 1, 2 or 3", ver)
	}
	v.flags = le.Uint32(hdr[vkFlags:])
	if v.flags&vmdkFlagNLTest != 0 && !bytes.Equal(hdr[vkLineChecks:vkLineChecks+4], []byte("\n \r\n")) {
		return vmdkError(off, "header", "the end-of-line check bytes are %q, not %q: the file was corrupted by a "+
			"text-mode transfer; copy it again in binary mode", hdr[vkLineChecks:vkLineChecks+4], "\n \r\n")
	}
	capacity := le.Uint64(hdr[vkCapacity:])
	v.size = int64(min(capacity, 1<<53) * sectorSize) // larger is refused as too large
	if err := opt.checkVirtualSize(VMDK, off, "header", v.size); err != nil {
		return err
	}
	grain := le.Uint64(hdr[vkGrainSize:])
	if grain < vmdkMinGrain || grain > vmdkMaxGrain || grain&(grain-1) != 0 {
		return vmdkError(off, "header", "grain size %d sectors is not a power of two from %d to %d",
			grain, vmdkMinGrain, vmdkMaxGrain)
	}
	v.grain = int64(grain) * sectorSize
	v.gtes = int64(le.Uint32(hdr[vkGTEsPerGT:]))
	if v.gtes < 1 || v.gtes > vmdkMaxGTEs {
		return vmdkError(off, "header", "%d grain table entries per grain table is not from 1 to %d", v.gtes, vmdkMaxGTEs)
	}
	algo := le.Uint16(hdr[vkCompressAlgo:])
	v.compressed = v.flags&vmdkFlagCompressed != 0
	switch {
	case v.compressed && (algo != 1 || v.flags&vmdkFlagMarkers == 0):
		return vmdkRefuse(off, "header", "compressed grains are only read with compression algorithm 1 (deflate) "+
			"and grain markers; this header has algorithm %d and markers flag %v", algo, v.flags&vmdkFlagMarkers != 0)
	case !v.compressed && algo != 0:
		return vmdkRefuse(off, "header", "compression algorithm %d without the compressed-grains flag", algo)
	}
	return nil
}

// checkDescriptor reads the embedded descriptor and accepts only a
// monolithicSparse or streamOptimized disk made of this one file: a
// descriptor naming other files (flat extents, parents) would make a reader
// open host files.
func (v *vmdk) checkDescriptor(hdr []byte) error {
	le := binary.LittleEndian
	off, n := le.Uint64(hdr[vkDescOffset:]), le.Uint64(hdr[vkDescSize:])
	if off == 0 || n == 0 {
		return vmdkRefuse(0, "header", "the sparse extent has no embedded descriptor: it is one piece of a disk split "+
			"over several files; convert the disk to a single monolithicSparse or streamOptimized vmdk")
	}
	if n > vmdkMaxDescriptor/sectorSize || off > uint64(v.fileSize)/sectorSize ||
		int64(off+n)*sectorSize > v.fileSize {
		return vmdkError(vkDescOffset, "descriptor", "a descriptor of %d sectors at sector %d is not inside the file "+
			"or is above %s", n, off, sizeString(vmdkMaxDescriptor))
	}
	b := make([]byte, n*sectorSize)
	if err := readFull(v.r, b, int64(off)*sectorSize); err != nil {
		return err
	}
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return v.parseDescriptor(string(b), int64(off)*sectorSize)
}

// parseDescriptor checks the descriptor's create type, parent and extents.
func (v *vmdk) parseDescriptor(text string, off int64) error {
	var createType string
	var extents []string
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, val, isKV := strings.Cut(line, "=")
		key, val = strings.TrimSpace(key), strings.Trim(strings.TrimSpace(val), `"`)
		switch {
		case isKV && strings.EqualFold(key, "createType"):
			createType = val
		case isKV && strings.EqualFold(key, "parentCID") && !strings.EqualFold(val, "ffffffff"):
			return vmdkRefuse(off, "descriptor", "parentCID %s: this is a delta disk of a parent, which is never "+
				"followed; convert the chain to a single disk first", val)
		case isKV && strings.EqualFold(key, "parentFileNameHint"):
			return vmdkRefuse(off, "descriptor", "the descriptor names a parent file, which is never followed; "+
				"convert the chain to a single disk first")
		case !isKV && (strings.HasPrefix(line, "RW ") || strings.HasPrefix(line, "RDONLY ") || strings.HasPrefix(line, "NOACCESS ")):
			extents = append(extents, line)
		}
	}
	if createType != "monolithicSparse" && createType != "streamOptimized" {
		return vmdkRefuse(off, "descriptor", "create type %q is not accepted: only monolithicSparse and "+
			"streamOptimized vmdk files hold the whole disk; convert it with qemu-img convert -f vmdk -O vmdk "+
			"-o subformat=streamOptimized on a trusted machine", createType)
	}
	if len(extents) != 1 {
		return vmdkRefuse(off, "descriptor", "the descriptor lists %d extents; a single-file vmdk has exactly one", len(extents))
	}
	f := strings.Fields(extents[0])
	if len(f) < 4 || f[2] != "SPARSE" {
		return vmdkRefuse(off, "descriptor", "extent %q is not the file's own sparse extent; extents in other files "+
			"are never read", extents[0])
	}
	if sectors, err := strconv.ParseInt(f[1], 10, 64); err != nil || sectors*sectorSize != v.size {
		return vmdkError(off, "descriptor", "extent of %s sectors does not match the header's capacity of %d sectors",
			f[1], v.size/sectorSize)
	}
	return nil
}
