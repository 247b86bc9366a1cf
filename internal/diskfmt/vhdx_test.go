package diskfmt

import (
	"encoding/binary"
	"hash/crc32"
	"path/filepath"
	"strconv"
	"testing"
)

func TestVHDXAgainstQemu(t *testing.T) {
	needQemu(t)
	const size = 9<<20 + 512
	runQemuCases(t, []qemuCase{
		{name: "dynamic 1 MiB blocks", qfmt: "vhdx", opts: "block_size=1M", size: size, want: VHDX, writes: true, gran: 1 << 20},
		{name: "dynamic default blocks", qfmt: "vhdx", size: size, want: VHDX, writes: true, gran: 8 << 20},
		{name: "converted", qfmt: "vhdx", opts: "block_size=1M", convert: true, size: size, want: VHDX, writes: true, gran: 1 << 20},
		{name: "empty", qfmt: "vhdx", size: size, want: VHDX, gran: 1 << 20},
		{name: "fixed", qfmt: "vhdx", opts: "subformat=fixed,block_size=1M", size: size, want: VHDX, writes: true, gran: -1},
		{name: "zeroed", qfmt: "vhdx", opts: "block_size=1M", size: size, want: VHDX, writes: true,
			more: []string{"write -z -q 0 1048576"}, gran: 1 << 20},
		{name: "unaligned size", qfmt: "vhdx", opts: "block_size=1M", size: 5<<20 + 1536, want: VHDX, writes: true, gran: 1 << 20},
	})
}

// vhdxBase makes a 3 MiB vhdx with 1 MiB blocks with qemu, data in two
// blocks, and returns its bytes with the offsets of its BAT and metadata.
func vhdxBase(t *testing.T) (b []byte, bat, meta int) {
	t.Helper()
	needQemu(t)
	dir := t.TempDir()
	src, out := filepath.Join(dir, "src.raw"), filepath.Join(dir, "out.vhdx")
	makeQemuImage(t, src, "raw", "", 3<<20, []qemuWrite{{1000, 3000, 0xab}, {2 << 20, 4096, 0xcd}})
	run(t, "qemu-img", "convert", "-f", "raw", "-O", "vhdx", "-o", "block_size=1M", src, out)
	b = mustRead(t, out)
	le := binary.LittleEndian
	for i := range int(le.Uint32(b[vhdxRegion1Off+8:])) {
		e := b[vhdxRegion1Off+16+32*i:]
		switch [16]byte(e[:16]) {
		case vhdxRegionBAT:
			bat = int(le.Uint64(e[16:]))
		case vhdxRegionMetadata:
			meta = int(le.Uint64(e[16:]))
		}
	}
	return b, bat, meta
}

// fixVHDXChecksum recomputes the CRC-32C of the structure s.
func fixVHDXChecksum(s []byte) {
	clear(s[4:8])
	binary.LittleEndian.PutUint32(s[4:], crc32.Checksum(s, castagnoli))
}

// vhdxItem returns the offset in b of the value of metadata item id.
func vhdxItem(b []byte, meta int, id [16]byte) int {
	le := binary.LittleEndian
	for i := range int(le.Uint16(b[meta+10:])) {
		e := b[meta+32+32*i:]
		if [16]byte(e[:16]) == id {
			return meta + int(le.Uint32(e[16:]))
		}
	}
	panic("no such item")
}

func vhdxHostiles(t *testing.T) []hostile {
	base, bat, meta := vhdxBase(t)
	le := binary.LittleEndian
	headers := func(f func(h []byte)) []byte { // change both headers alike
		return patch(base, func(b []byte) {
			for _, off := range []int{vhdxHeader1Off, vhdxHeader2Off} {
				f(b[off : off+vhdxHeaderSize])
				fixVHDXChecksum(b[off : off+vhdxHeaderSize])
			}
		})
	}
	regions := func(f func(r []byte)) []byte {
		return patch(base, func(b []byte) {
			for _, off := range []int{vhdxRegion1Off, vhdxRegion2Off} {
				f(b[off : off+vhdxRegionSize])
				fixVHDXChecksum(b[off : off+vhdxRegionSize])
			}
		})
	}
	item := func(id [16]byte, f func(v []byte)) []byte {
		return patch(base, func(b []byte) { f(b[vhdxItem(b, meta, id):]) })
	}
	entry := func(i int, f func(e []byte)) []byte { // metadata table entry i
		return patch(base, func(b []byte) { f(b[meta+32+32*i:]) })
	}
	u64 := func(off int, v uint64) []byte { return patch(base, func(b []byte) { le.PutUint64(b[off:], v) }) }
	hs := []hostile{
		{"both headers corrupt", patch(base, func(b []byte) { b[vhdxHeader1Off+100]++; b[vhdxHeader2Off+100]++ }),
			ErrFormat, "neither header is valid"},
		{"header version", headers(func(h []byte) { le.PutUint16(h[vxhVersion:], 2) }), ErrFormat, "version 2 is not 1"},
		{"log to replay", headers(func(h []byte) { h[vxhLogGUID] = 1 }), ErrUnsupported, "log must be replayed"},
		{"both region tables corrupt", patch(base, func(b []byte) { b[vhdxRegion1Off+100]++; b[vhdxRegion2Off+100]++ }),
			ErrFormat, "neither region table"},
		{"unknown required region", regions(func(r []byte) {
			n := le.Uint32(r[8:])
			e := r[16+32*n:]
			copy(e, "unknown region!!")
			le.PutUint64(e[16:], 1<<20)
			le.PutUint32(e[28:], 1)
			le.PutUint32(r[8:], n+1)
		}), ErrUnsupported, "unknown required region"},
		{"region outside", regions(func(r []byte) { le.PutUint64(r[16+16:], 1<<40) }), ErrFormat, "not inside the file"},
		{"region in headers", regions(func(r []byte) { le.PutUint64(r[16+16:], 4096) }), ErrFormat, "not inside the file"},
		{"metadata signature", patch(base, func(b []byte) { b[meta] = 'X' }), ErrFormat, "signature"},
		{"metadata entries", patch(base, func(b []byte) { le.PutUint16(b[meta+10:], 5000) }), ErrFormat, "5000 entries"},
		{"block size 3 MiB", item(vhdxFileParameters, func(v []byte) { le.PutUint32(v, 3<<20) }), ErrFormat, "block size"},
		{"block size 512 KiB", item(vhdxFileParameters, func(v []byte) { le.PutUint32(v, 512<<10) }), ErrFormat, "block size"},
		{"has parent", item(vhdxFileParameters, func(v []byte) { le.PutUint32(v[4:], 2) }), ErrUnsupported, "differencing"},
		{"logical sector", item(vhdxLogicalSector, func(v []byte) { le.PutUint32(v, 1024) }), ErrFormat, "1024 is not 512 or 4096"},
		{"absurd size", item(vhdxVirtualSize, func(v []byte) { le.PutUint64(v, 1<<63) }), ErrTooLarge, "above the limit"},
		{"size zero", item(vhdxVirtualSize, func(v []byte) { le.PutUint64(v, 0) }), ErrFormat, "at least one"},
		{"size above bat", item(vhdxVirtualSize, func(v []byte) { le.PutUint64(v, 1<<40) }), ErrFormat, "bat region"},
		{"size not logical sectors", patch(base, func(b []byte) {
			le.PutUint32(b[vhdxItem(b, meta, vhdxLogicalSector):], 4096)
			le.PutUint64(b[vhdxItem(b, meta, vhdxVirtualSize):], 3<<20+512)
		}), ErrFormat, "logical sectors"},
		{"parent locator", entry(0, func(e []byte) { copy(e, vhdxParentLocator[:]) }), ErrUnsupported, "parent locator"},
		{"unknown required item", entry(0, func(e []byte) { copy(e, "unknown item!!!!"); le.PutUint32(e[24:], 4) }),
			ErrUnsupported, "unknown required metadata item"},
		{"missing item", entry(0, func(e []byte) { copy(e, "unknown item!!!!"); le.PutUint32(e[24:], 0) }),
			ErrFormat, "is missing"},
		{"item outside", entry(0, func(e []byte) { le.PutUint32(e[16:], 1<<30) }), ErrFormat, "not inside the metadata region"},
		{"item in table", entry(0, func(e []byte) { le.PutUint32(e[16:], 100) }), ErrFormat, "not inside the metadata region"},
		{"duplicate item", entry(1, func(e []byte) { copy(e, base[meta+32:meta+48]) }), ErrFormat, "twice"},
		{"bat partly present", u64(bat, 7), ErrFormat, "partially present"},
		{"bat state 4", u64(bat, 4), ErrFormat, "state 4"},
		{"bat outside", u64(bat, 1<<40|batFullyPresent), ErrFormat, "not inside the file"},
		{"bat at zero", u64(bat, batFullyPresent), ErrFormat, "not inside the file"},
		{"bat at end", u64(bat, uint64(len(base))|batFullyPresent), ErrFormat, "not inside the file"},
	}
	for _, cut := range []int{8, 1000, vhdxHeader1Off, vhdxHeader2Off + 10, vhdxRegion1Off, vhdxHeaderArea - 1,
		bat + 8, meta + 100, len(base) - 1} {
		hs = append(hs, hostile{name: "truncated at " + strconv.Itoa(cut), data: base[:cut], sentinel: ErrFormat})
	}
	return hs
}

func TestHostileVHDX(t *testing.T) {
	testHostiles(t, vhdxHostiles(t))
}

func TestVHDXUsesTheOtherCopy(t *testing.T) {
	base, _, _ := vhdxBase(t)
	for name, b := range map[string][]byte{
		"header 1 corrupt":       patch(base, func(b []byte) { b[vhdxHeader1Off+100]++ }),
		"header 2 corrupt":       patch(base, func(b []byte) { b[vhdxHeader2Off+100]++ }),
		"region table 1 corrupt": patch(base, func(b []byte) { b[vhdxRegion1Off+100]++ }),
	} {
		d, err := openBytes(b, Options{})
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		checkExtents(t, d, readAll(t, d))
	}
}

func TestGUIDString(t *testing.T) {
	const s = "2DC27766-F623-4200-9D64-115E9BFD4A08"
	if got := guidString(vhdxGUID(s)); got != s {
		t.Errorf("guidString(vhdxGUID(%s)) = %s", s, got)
	}
}

func TestCompactVHDX(t *testing.T) {
	// 3 MiB in 1 MiB blocks: not present, zero, unmapped.
	b := buildCompactVHDX(3<<20, 1<<20, []uint64{batNotPresent, batZero, batUnmapped})
	d, err := openBytes(b, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Format() != VHDX || d.VirtualSize() != 3<<20 || len(d.Extents()) != 0 {
		t.Fatalf("opened %s of %d with extents %v", d.Format(), d.VirtualSize(), d.Extents())
	}
	if !allZero(readAll(t, d)) {
		t.Error("an image without blocks reads non-zero")
	}
}
