package diskfmt

import (
	"encoding/binary"
	"fmt"
	"io"
)

// qcow2 header layout (QEMU docs/interop/qcow2.txt); big-endian.
const (
	qhVersion        = 4  // uint32: 2 or 3
	qhBackingOffset  = 8  // uint64
	qhBackingSize    = 16 // uint32
	qhClusterBits    = 20 // uint32
	qhSize           = 24 // uint64: virtual size in bytes
	qhCryptMethod    = 32 // uint32
	qhL1Size         = 36 // uint32: entries
	qhL1Offset       = 40 // uint64
	qhRefcountOffset = 48 // uint64
	qhRefcountClus   = 56 // uint32
	qhNbSnapshots    = 60 // uint32
	qhSnapshotsOff   = 64 // uint64
	qhIncompatible   = 72 // uint64 (v3)
	qhRefcountOrder  = 96 // uint32 (v3)
	qhHeaderLength   = 100
	qhCompression    = 104 // uint8, when the header is longer than 104 bytes

	qcowV2HeaderLen = 72
	qcowV3HeaderLen = 104

	qcowIncDirty       = 1 << 0 // refcounts may be stale: harmless for reading
	qcowIncCorrupt     = 1 << 1
	qcowIncDataFile    = 1 << 2
	qcowIncCompression = 1 << 3
	qcowIncExtendedL2  = 1 << 4
	qcowIncKnown       = 1<<5 - 1

	qcowOffsetMask = 0x00fffffffffffe00 // host offset bits of L1 and standard L2 entries
	qcowCompressed = 1 << 62
	qcowZeroFlag   = 1 << 0

	// qemu refuses L1 tables above 32 MiB (QCOW_MAX_L1_SIZE); so does this.
	qcowMaxL1Bytes = 32 << 20

	qcowExtEnd      = 0
	qcowExtCrypto   = 0x0537be77
	qcowExtDataFile = 0x44415441
)

// qcow2 serves reads of a qcow2 image through its L1 and L2 tables.
type qcow2 struct {
	r           io.ReaderAt
	fileSize    int64
	size        int64
	clusterBits uint
	clusterSize int64
	l2Entries   int64 // entries per L2 table
	v3          bool
	zstd        bool // compression type is zstd
	l1          []uint64
	l1Off       int64
	csizeShift  uint
	csizeMask   uint64
	coffMask    uint64
	l2s         tableCache
	inflated    clusterCache
}

// qcowError builds a *FormatError for qcow2 wrapping ErrFormat.
func qcowError(off int64, field, format string, args ...any) error {
	return errorf(QCOW2, off, field, format, args...)
}

// qcowRefuse builds a *FormatError for qcow2 wrapping ErrUnsupported.
func qcowRefuse(off int64, field, format string, args ...any) error {
	return &FormatError{Format: QCOW2, Offset: off, Field: field, Err: ErrUnsupported, Msg: fmt.Sprintf(format, args...)}
}

// openQCOW2 opens a qcow2 image, checking the header, its extensions, the
// L1 table and every L2 table before returning.
func openQCOW2(r io.ReaderAt, size int64, opt Options) (Disk, error) {
	q := &qcow2{r: r, fileSize: size}
	hdr, err := q.readHeader(opt)
	if err != nil {
		return nil, err
	}
	if err := q.readL1(hdr); err != nil {
		return nil, err
	}
	exts, err := q.scanL2()
	if err != nil {
		return nil, err
	}
	return &disk{format: QCOW2, size: q.size, extents: exts, spans: q}, nil
}

// readHeader reads the first cluster (header and extensions) and checks it.
func (q *qcow2) readHeader(opt Options) ([]byte, error) {
	be := binary.BigEndian
	if q.fileSize < qcowV2HeaderLen {
		return nil, qcowError(0, "header", "the file is %d bytes, shorter than a qcow2 header (%d bytes)", q.fileSize, qcowV2HeaderLen)
	}
	first := make([]byte, qcowV2HeaderLen)
	if err := readFull(q.r, first, 0); err != nil {
		return nil, err
	}
	version := be.Uint32(first[qhVersion:])
	if version != 2 && version != 3 {
		return nil, qcowRefuse(0, "header", "version %d is not 2 or 3", version)
	}
	q.v3 = version == 3
	cb := be.Uint32(first[qhClusterBits:])
	if cb < 9 || cb > 21 {
		return nil, qcowError(0, "header", "cluster bits %d is not from 9 to 21 (512 bytes to 2 MiB clusters)", cb)
	}
	q.clusterBits, q.clusterSize = uint(cb), int64(1)<<cb
	q.l2Entries = q.clusterSize / 8
	q.csizeShift = 62 - (q.clusterBits - 8)
	q.csizeMask = 1<<(q.clusterBits-8) - 1
	q.coffMask = 1<<q.csizeShift - 1
	// The header and its extensions live in the first cluster.
	hdr := make([]byte, min(q.clusterSize, q.fileSize))
	if err := readFull(q.r, hdr, 0); err != nil {
		return nil, err
	}
	if err := q.checkHeader(hdr, opt); err != nil {
		return nil, err
	}
	return hdr, nil
}

// checkHeader checks the header fields that make an image unreadable or
// unacceptable.
func (q *qcow2) checkHeader(hdr []byte, opt Options) error {
	be := binary.BigEndian
	if be.Uint64(hdr[qhBackingOffset:]) != 0 || be.Uint32(hdr[qhBackingSize:]) != 0 {
		return qcowRefuse(qhBackingOffset, "header", "the image has a backing file and only holds changes to it; "+
			"backing files are never followed, so upload a standalone image "+
			"(qemu-img convert -f qcow2 -O qcow2 flattens the chain)")
	}
	if m := be.Uint32(hdr[qhCryptMethod:]); m != 0 {
		return qcowRefuse(qhCryptMethod, "header", "the image is encrypted (method %d); upload an unencrypted image", m)
	}
	vsize := be.Uint64(hdr[qhSize:])
	if vsize > 1<<62 {
		vsize = 1 << 62 // refused as too large
	}
	q.size = int64(vsize)
	if err := opt.checkVirtualSize(QCOW2, qhSize, "header", q.size); err != nil {
		return err
	}
	extStart := int64(qcowV2HeaderLen)
	if q.v3 {
		n, err := q.checkV3Header(hdr)
		if err != nil {
			return err
		}
		extStart = n
	}
	return q.checkExtensions(hdr, extStart)
}

// checkV3Header checks the version 3 fields and returns the header length.
func (q *qcow2) checkV3Header(hdr []byte) (int64, error) {
	be := binary.BigEndian
	if len(hdr) < qcowV3HeaderLen {
		return 0, qcowError(0, "header", "a version 3 header is %d bytes but the file is %d", qcowV3HeaderLen, len(hdr))
	}
	hlen := int64(be.Uint32(hdr[qhHeaderLength:]))
	if hlen < qcowV3HeaderLen || hlen > int64(len(hdr)) || hlen%8 != 0 {
		return 0, qcowError(qhHeaderLength, "header length", "%d is not a multiple of 8 from %d to %d",
			hlen, qcowV3HeaderLen, len(hdr))
	}
	if o := be.Uint32(hdr[qhRefcountOrder:]); o > 6 {
		return 0, qcowError(qhRefcountOrder, "refcount order", "%d is above 6", o)
	}
	inc := be.Uint64(hdr[qhIncompatible:])
	switch {
	case inc&^qcowIncKnown != 0:
		return 0, qcowRefuse(qhIncompatible, "incompatible features", "unknown feature bits %#x; "+
			"the image needs a newer reader", inc&^qcowIncKnown)
	case inc&qcowIncCorrupt != 0:
		return 0, qcowError(qhIncompatible, "incompatible features", "qemu marked the image corrupt; "+
			"repair it with qemu-img check -f qcow2 -r all and upload it again")
	case inc&qcowIncDataFile != 0:
		return 0, qcowRefuse(qhIncompatible, "incompatible features", "the image keeps its data in an external "+
			"data file, which is never followed; convert it with qemu-img convert -f qcow2 -O qcow2 first")
	case inc&qcowIncExtendedL2 != 0:
		return 0, qcowRefuse(qhIncompatible, "incompatible features", "the image uses extended L2 entries "+
			"(subclusters); convert it with qemu-img convert -f qcow2 -O qcow2 first")
	}
	if inc&qcowIncCompression != 0 {
		if hlen <= qhCompression {
			return 0, qcowError(qhIncompatible, "incompatible features", "the compression type bit is set "+
				"but the %d-byte header has no compression type field", hlen)
		}
		switch t := hdr[qhCompression]; t {
		case 0:
		case 1:
			q.zstd = true // compressed clusters hold zstd frames
		default:
			return 0, qcowRefuse(qhCompression, "compression type", "unknown compression type %d", t)
		}
	}
	return hlen, nil
}

// checkExtensions walks the header extensions that follow the header in
// the first cluster and refuses those that name other files or keys.
func (q *qcow2) checkExtensions(hdr []byte, off int64) error {
	be := binary.BigEndian
	end := int64(len(hdr))
	for off+8 <= end {
		typ, n := be.Uint32(hdr[off:]), int64(be.Uint32(hdr[off+4:]))
		switch typ {
		case qcowExtEnd:
			return nil
		case qcowExtDataFile:
			return qcowRefuse(off, "header extension", "the image names an external data file, which is never followed")
		case qcowExtCrypto:
			return qcowRefuse(off, "header extension", "the image has an encryption header; upload an unencrypted image")
		}
		if n > end-off-8 {
			return qcowError(off, "header extension", "extension %#x of %d bytes runs past the first cluster", typ, n)
		}
		off += 8 + (n+7)/8*8
	}
	return nil
}

// readL1 checks and reads the L1 table entries the virtual size needs.
func (q *qcow2) readL1(hdr []byte) error {
	be := binary.BigEndian
	perL2 := q.l2Entries * q.clusterSize
	need := (q.size + perL2 - 1) / perL2
	l1Size := int64(be.Uint32(hdr[qhL1Size:]))
	l1Off := be.Uint64(hdr[qhL1Offset:])
	switch {
	case l1Size < need:
		return qcowError(qhL1Size, "l1 size", "%d entries cover %s but the virtual size is %s",
			l1Size, sizeString(l1Size*perL2), sizeString(q.size))
	case l1Size*8 > qcowMaxL1Bytes:
		return qcowError(qhL1Size, "l1 size", "%d entries make an l1 table of %s, above qemu's limit of %s; "+
			"convert the image with a larger cluster size", l1Size, sizeString(l1Size*8), sizeString(qcowMaxL1Bytes))
	case l1Off%uint64(q.clusterSize) != 0:
		return qcowError(qhL1Offset, "l1 table offset", "%d is not aligned to a %d-byte cluster", l1Off, q.clusterSize)
	case l1Off > uint64(q.fileSize) || l1Size*8 > q.fileSize-int64(l1Off):
		return qcowError(qhL1Offset, "l1 table offset", "an l1 table of %d entries at offset %d runs past the end of "+
			"the file at %d", l1Size, l1Off, q.fileSize)
	}
	if err := q.checkRefcountTable(hdr); err != nil {
		return err
	}
	var err error
	q.l1Off = int64(l1Off)
	q.l1, err = readTable[uint64](q.r, q.l1Off, need, be)
	return err
}

// checkRefcountTable checks that the refcount table lies inside the file.
// Refcounts are not needed for reading and are not checked further.
func (q *qcow2) checkRefcountTable(hdr []byte) error {
	be := binary.BigEndian
	off := be.Uint64(hdr[qhRefcountOffset:])
	n := int64(be.Uint32(hdr[qhRefcountClus:]))
	if off%uint64(q.clusterSize) != 0 || off > uint64(q.fileSize) || n > (q.fileSize-int64(off))/q.clusterSize {
		return qcowError(qhRefcountOffset, "refcount table offset", "a refcount table of %d clusters at offset %d "+
			"is not cluster-aligned inside the file of %d bytes", n, off, q.fileSize)
	}
	return nil
}
