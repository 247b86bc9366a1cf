package diskfmt

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"fmt"
	"io"
	"runtime"
	"sync"
)

// Parameters of the streamOptimized VMDK files WriteStreamVMDK writes, as
// VMware's own tools write them: 64 KiB grains, 512 entries per grain table,
// the descriptor in sectors 1 to 20, the first grain at 64 KiB.
const (
	wkGrain      = 64 << 10
	wkGrainSects = wkGrain / sectorSize
	wkGTEs       = vmdkMaxGTEs
	wkDescSects  = 20
	wkOverhead   = wkGrainSects // sectors before the first grain
	wkBatch      = 64           // grains read and compressed at a time

	vmdkMarkerGT = 1
	vmdkMarkerGD = 2
)

// VMDKOptions tune WriteStreamVMDK.
type VMDKOptions struct {
	WriteOptions
	// ExtentName is the file name the descriptor gives the extent (the VMDK's
	// own name); "disk.vmdk" when empty.
	ExtentName string
}

// WriteStreamVMDK writes d as a streamOptimized VMDK (version 3, deflate
// compressed 64 KiB grains with markers, the grain directory at the end, as
// VMware's OVA disks are) and returns the number of bytes written. It reads d
// once, in order, and compresses grains on several cores; only grains holding
// non-zero data are written, so the output depends only on the disk's
// content and opt. Memory: a batch of grains and the grain directory (4
// bytes per 32 MiB of virtual disk).
func WriteStreamVMDK(w io.Writer, d Disk, opt VMDKOptions) (int64, error) {
	d = withProgress(d, opt.Progress)
	size := d.VirtualSize()
	sectors := size / sectorSize
	grains := unitsOf(size, wkGrain)
	tables := unitsOf(grains, wkGTEs)
	if tables > 1<<31 || unitsOf(size, sectorSize) > 1<<40 {
		return 0, fmt.Errorf("%w: too large for a vmdk", ErrTooLarge)
	}
	c := &countingWriter{w: w}
	hdr := vmdkHeader(sectors, vmdkGDAtEnd)
	c.Write(hdr)
	desc := vmdkDescriptor(sectors, opt)
	if len(desc) > wkDescSects*sectorSize {
		return 0, fmt.Errorf("diskfmt: vmdk descriptor of %d bytes is too long", len(desc))
	}
	c.Write(desc)
	c.pad(wkOverhead * sectorSize)

	gd := make([]uint32, tables)
	gt := make([]uint32, wkGTEs)
	z := newGrainCompressor()
	exts := d.Extents()
	for t := int64(0); t < tables && c.err == nil; t++ {
		clear(gt)
		used := false
		first, last := t*wkGTEs, min((t+1)*wkGTEs, grains)
		for g := first; g < last && c.err == nil; g += wkBatch {
			if !touches(exts, g*wkGrain, min(g+wkBatch, last)*wkGrain) {
				continue // nothing stored there: zeros, not read
			}
			batch, err := z.compress(d, g, min(g+wkBatch, last))
			if err != nil {
				return c.n, err
			}
			for i, data := range batch {
				if data == nil {
					continue
				}
				gt[g+int64(i)-first] = uint32(c.n / sectorSize)
				used = true
				var m [vmdkMarkerSize]byte
				binary.LittleEndian.PutUint64(m[0:], uint64((g+int64(i))*wkGrainSects))
				binary.LittleEndian.PutUint32(m[8:], uint32(len(data)))
				c.Write(m[:])
				c.Write(data)
				c.pad(sectorSize)
			}
		}
		if used {
			c.Write(vmdkMarker(unitsOf(wkGTEs*4, sectorSize), vmdkMarkerGT))
			gd[t] = uint32(c.n / sectorSize)
			writeUint32s(c, gt)
		}
	}
	c.Write(vmdkMarker(unitsOf(tables*4, sectorSize), vmdkMarkerGD))
	gdSector := c.n / sectorSize
	writeUint32s(c, gd)
	c.pad(sectorSize)
	c.Write(vmdkMarker(1, vmdkMarkerFooter))
	c.Write(vmdkHeader(sectors, uint64(gdSector)))
	c.Write(vmdkMarker(0, vmdkMarkerEOS))
	return c.n, c.err
}

// touches reports whether any extent overlaps [from, to).
func touches(exts []Extent, from, to int64) bool {
	i := extentAfter(exts, from)
	return i < len(exts) && exts[i].Offset < to
}

// vmdkHeader is the sparse extent header, with the grain directory at gd
// (vmdkGDAtEnd in the header at the start of a stream).
func vmdkHeader(sectors int64, gd uint64) []byte {
	le := binary.LittleEndian
	h := make([]byte, sectorSize)
	copy(h, "KDMV")
	le.PutUint32(h[vkVersion:], 3)
	le.PutUint32(h[vkFlags:], vmdkFlagNLTest|vmdkFlagCompressed|vmdkFlagMarkers)
	le.PutUint64(h[vkCapacity:], uint64(sectors))
	le.PutUint64(h[vkGrainSize:], wkGrainSects)
	le.PutUint64(h[vkDescOffset:], 1)
	le.PutUint64(h[vkDescSize:], wkDescSects)
	le.PutUint32(h[vkGTEsPerGT:], wkGTEs)
	le.PutUint64(h[vkGDOffset:], gd)
	le.PutUint64(h[64:], wkOverhead)
	copy(h[vkLineChecks:], "\n \r\n")
	le.PutUint16(h[vkCompressAlgo:], 1) // deflate
	return h
}

// vmdkMarker is a metadata marker: the size in sectors of what follows, and
// its type.
func vmdkMarker(sectors int64, typ uint32) []byte {
	m := make([]byte, sectorSize)
	binary.LittleEndian.PutUint64(m, uint64(sectors))
	binary.LittleEndian.PutUint32(m[12:], typ)
	return m
}

// writeUint32s writes a table, padded to a sector.
func writeUint32s(c *countingWriter, t []uint32) {
	buf := make([]byte, 0, 64<<10)
	for _, v := range t {
		buf = binary.LittleEndian.AppendUint32(buf, v)
		if len(buf) == cap(buf) {
			c.Write(buf)
			buf = buf[:0]
		}
	}
	c.Write(buf)
	c.pad(sectorSize)
}

// vmdkDescriptor is the embedded descriptor. The content ID is derived from
// the disk's identity; the geometry is the usual 16 heads, 63 sectors.
func vmdkDescriptor(sectors int64, opt VMDKOptions) []byte {
	name := opt.ExtentName
	if name == "" {
		name = "disk.vmdk"
	}
	cid := binary.BigEndian.Uint32(opt.UniqueID[:4])
	if cid == 0xffffffff {
		cid-- // ffffffff means "no parent"
	}
	cyl := min(sectors/(16*63), 16383)
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Disk DescriptorFile\nversion=1\nCID=%08x\nparentCID=ffffffff\ncreateType=\"streamOptimized\"\n\n", cid)
	fmt.Fprintf(&b, "# Extent description\nRW %d SPARSE %q\n\n", sectors, name)
	fmt.Fprintf(&b, "# The Disk Data Base\n#DDB\n\nddb.virtualHWVersion = \"4\"\nddb.adapterType = \"ide\"\n")
	fmt.Fprintf(&b, "ddb.geometry.cylinders = \"%d\"\nddb.geometry.heads = \"16\"\nddb.geometry.sectors = \"63\"\n", cyl)
	return b.Bytes()
}

// grainCompressor reads and deflates batches of grains on several cores.
type grainCompressor struct {
	raw     [][]byte
	out     []bytes.Buffer
	zw      []*zlib.Writer
	workers int
}

func newGrainCompressor() *grainCompressor {
	z := &grainCompressor{raw: make([][]byte, wkBatch), out: make([]bytes.Buffer, wkBatch), zw: make([]*zlib.Writer, wkBatch)}
	for i := range z.raw {
		z.raw[i] = make([]byte, wkGrain)
	}
	z.workers = min(runtime.GOMAXPROCS(0), 4)
	return z
}

// compress returns grains [from, to) deflated, nil for grains of zeros. The
// slices are valid until the next call.
func (z *grainCompressor) compress(d Disk, from, to int64) ([][]byte, error) {
	n := int(to - from)
	size := d.VirtualSize()
	res := make([][]byte, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	next := make(chan int)
	for range z.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				errs[i] = z.one(d, size, from+int64(i), i, res)
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return res, nil
}

// one reads grain g into slot i and deflates it, unless it is all zeros.
func (z *grainCompressor) one(d Disk, size, g int64, i int, res [][]byte) error {
	buf := z.raw[i]
	clear(buf)
	off := g * wkGrain
	p := buf[:min(wkGrain, size-off)]
	if k, err := d.ReadAt(p, off); k < len(p) {
		return fmt.Errorf("diskfmt: reading virtual offset %d: %w", off+int64(k), err)
	}
	if allZero(p) {
		return nil
	}
	out := &z.out[i]
	out.Reset()
	if z.zw[i] == nil {
		z.zw[i], _ = zlib.NewWriterLevel(out, zlib.DefaultCompression)
	} else {
		z.zw[i].Reset(out)
	}
	z.zw[i].Write(buf)
	if err := z.zw[i].Close(); err != nil {
		return err
	}
	res[i] = out.Bytes()
	return nil
}
