package diskfmt

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"fmt"
	"io"
)

// vmdkMaxGDBytes bounds the grain directory, like qemu's bound on the
// qcow2 L1 table: 32 MiB is 4 TiB in standard 64 KiB grains with 512
// entries a table.
const vmdkMaxGDBytes = 32 << 20

// grainKind is what a grain table entry maps a grain to.
type grainKind int

const (
	grainUnallocated grainKind = iota
	grainZero
	grainData
	grainCompressed
)

// grains is the number of grains of the virtual disk.
func (v *vmdk) grains() int64 { return (v.size + v.grain - 1) / v.grain }

// scanTables reads the grain directory and every grain table once, checks
// every entry and returns the allocated extents.
func (v *vmdk) scanTables(hdr []byte, hdrOff int64) ([]Extent, error) {
	le := binary.LittleEndian
	perGT := v.gtes * v.grain
	n := (v.size + perGT - 1) / perGT
	gdSector := le.Uint64(hdr[vkGDOffset:])
	switch {
	case n*4 > vmdkMaxGDBytes:
		return nil, vmdkError(hdrOff, "header", "the grain directory needs %d entries, above the limit of %s",
			n, sizeString(vmdkMaxGDBytes))
	case gdSector == 0 || gdSector > uint64(v.fileSize/sectorSize) || int64(gdSector)*sectorSize+n*4 > v.fileSize:
		return nil, vmdkError(hdrOff, "header", "a grain directory of %d entries at sector %d is not inside the file "+
			"of %d bytes", n, gdSector, v.fileSize)
	}
	var err error
	if v.gd, err = readTable[uint32](v.r, int64(gdSector)*sectorSize, n, le); err != nil {
		return nil, err
	}
	var exts extentList
	buf := make([]byte, v.gtes*4)
	grains := v.grains()
	for i := range n {
		gt, err := v.gtOffset(i, int64(gdSector)*sectorSize)
		if err != nil {
			return nil, err
		}
		if gt == 0 {
			continue
		}
		if err := readFull(v.r, buf, gt); err != nil {
			return nil, err
		}
		for j := range min(v.gtes, grains-i*v.gtes) {
			g := i*v.gtes + j
			kind, _, err := v.classify(le.Uint32(buf[4*j:]), g, gt+4*j)
			if err != nil {
				return nil, err
			}
			if kind == grainData || kind == grainCompressed {
				exts.add(g*v.grain, min(v.grain, v.size-g*v.grain))
			}
		}
	}
	return exts.exts, nil
}

// gtOffset returns the file offset of grain table i (0 when not allocated)
// after checking that the table lies inside the file. gdOff locates the
// directory for error messages.
func (v *vmdk) gtOffset(i, gdOff int64) (int64, error) {
	off := int64(v.gd[i]) * sectorSize
	if off == 0 {
		return 0, nil
	}
	if off > v.fileSize-v.gtes*4 {
		return 0, vmdkError(gdOff+4*i, fmt.Sprintf("grain directory entry %d", i), "grain table at offset %d "+
			"runs past the end of the file at %d", off, v.fileSize)
	}
	return off, nil
}

// classify checks grain table entry e of grain g, found at entryOff.
func (v *vmdk) classify(e uint32, g, entryOff int64) (grainKind, int64, error) {
	switch {
	case e == 0:
		return grainUnallocated, 0, nil
	case e == 1 && v.flags&vmdkFlagZeroGrain != 0:
		return grainZero, 0, nil
	}
	host := int64(e) * sectorSize
	need := int64(vmdkMarkerSize)
	kind := grainCompressed
	if !v.compressed {
		need, kind = min(v.grain, v.size-g*v.grain), grainData
	}
	if host > v.fileSize-need {
		return 0, 0, vmdkError(entryOff, fmt.Sprintf("grain table entry for virtual offset %d", g*v.grain),
			"grain at offset %d runs past the end of the file at %d", host, v.fileSize)
	}
	return kind, host, nil
}

// readSpan reads from one grain.
func (v *vmdk) readSpan(p []byte, off int64) (int, error) {
	g := off / v.grain
	within := off % v.grain
	n := int(min(int64(len(p)), v.grain-within))
	kind, host, err := v.grainAt(g)
	if err != nil {
		return 0, err
	}
	switch kind {
	case grainData:
		if err := readData(v.r, p[:n], host+within, off); err != nil {
			return 0, err
		}
	case grainCompressed:
		data, err := v.inflated.get(host, func() ([]byte, error) { return v.inflate(host, g) })
		if err != nil {
			return 0, err
		}
		copy(p[:n], data[within:])
	default:
		clear(p[:n])
	}
	return n, nil
}

// grainAt looks grain g up in the directory and its grain table.
func (v *vmdk) grainAt(g int64) (grainKind, int64, error) {
	i := g / v.gtes
	gt, err := v.gtOffset(i, 0)
	if err != nil || gt == 0 {
		return grainUnallocated, 0, err
	}
	table, err := v.gts.get(gt, func() ([]byte, error) {
		b := make([]byte, v.gtes*4)
		return b, readFull(v.r, b, gt)
	})
	if err != nil {
		return 0, 0, err
	}
	j := g % v.gtes
	return v.classify(binary.LittleEndian.Uint32(table[4*j:]), g, gt+4*j)
}

// inflate reads the marker and zlib data of the compressed grain g at host
// and decompresses it. Input and output are bounded by twice and once the
// grain size.
func (v *vmdk) inflate(host, g int64) ([]byte, error) {
	le := binary.LittleEndian
	var m [vmdkMarkerSize]byte
	if err := readFull(v.r, m[:], host); err != nil {
		return nil, err
	}
	lba, n := le.Uint64(m[:]), int64(le.Uint32(m[8:]))
	field := fmt.Sprintf("grain marker for virtual offset %d", g*v.grain)
	if want := uint64(g * v.grain / sectorSize); lba != want {
		return nil, vmdkError(host, field, "the marker is for sector %d, not %d", lba, want)
	}
	if n > 2*v.grain || n > v.fileSize-host-vmdkMarkerSize {
		return nil, vmdkError(host, field, "%d bytes of compressed data do not fit in the file or exceed twice the grain", n)
	}
	in := make([]byte, n)
	if err := readFull(v.r, in, host+vmdkMarkerSize); err != nil {
		return nil, err
	}
	out := make([]byte, v.grain)
	zr, err := zlib.NewReader(bytes.NewReader(in))
	k := 0
	if err == nil {
		k, err = io.ReadFull(zr, out)
	}
	if need := min(v.grain, v.size-g*v.grain); int64(k) < need {
		return nil, vmdkError(host, field, "zlib data gives %d of %d bytes: %v", k, need, err)
	}
	return out, nil
}
