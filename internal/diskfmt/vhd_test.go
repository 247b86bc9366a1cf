package diskfmt

import (
	"bytes"
	"encoding/binary"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

func TestVHDFooter(t *testing.T) {
	id := [16]byte{0xde, 0xad, 0xbe, 0xef}
	size := int64(20<<20 + 512)
	b := VHDFooter(size, id, 123456)
	if b != VHDFooter(size, id, 123456) {
		t.Fatal("footer is not deterministic")
	}
	be := binary.BigEndian
	if string(b[:8]) != "conectix" || be.Uint32(b[ftFeatures:]) != 2 || be.Uint32(b[ftVersion:]) != 0x10000 {
		t.Errorf("bad cookie, features or version: % x", b[:16])
	}
	if be.Uint64(b[ftDataOffset:]) != noDataOffset || be.Uint32(b[ftDiskType:]) != diskTypeFixed {
		t.Error("not a fixed-disk footer")
	}
	if be.Uint64(b[ftCurrentSize:]) != uint64(size) || be.Uint64(b[ftOriginalSize:]) != uint64(size) {
		t.Error("size not written exactly")
	}
	if be.Uint32(b[ftTimestamp:]) != 123456 || !bytes.Equal(b[ftUniqueID:ftUniqueID+16], id[:]) {
		t.Error("timestamp or unique id not as given")
	}
	if be.Uint32(b[ftChecksum:]) != vhdChecksum(b[:], ftChecksum) {
		t.Error("bad checksum")
	}
	ft, err := parseFooter(b[:], VHDFixed, 0, Options{})
	if err != nil || ft.currentSize != size {
		t.Fatalf("parseFooter: %+v, %v", ft, err)
	}
}

func TestCHSGeometry(t *testing.T) {
	// Values worked through the specification's algorithm independently.
	tests := []struct {
		sectors int64
		c       uint16
		h, s    uint8
	}{
		{2048, 30, 4, 17},      // 1 MiB
		{40960, 602, 4, 17},    // 20 MiB
		{81920, 963, 5, 17},    // 40 MiB: more heads
		{204800, 1003, 12, 17}, // 100 MiB
		{300000, 604, 16, 31},  // 31 sectors per track
		{600000, 595, 16, 63},  // 63 sectors per track
		{1 << 21, 2080, 16, 63},
		{65535 * 16 * 63, 16191, 16, 255},
		{127 << 21, 65278, 16, 255},
		{65535 * 16 * 255, 65535, 16, 255},
		{1 << 40, 65535, 16, 255}, // clamped to the largest geometry
	}
	for _, tt := range tests {
		c, h, s := chsGeometry(tt.sectors)
		if c != tt.c || h != tt.h || s != tt.s {
			t.Errorf("chsGeometry(%d) = %d/%d/%d, want %d/%d/%d", tt.sectors, c, h, s, tt.c, tt.h, tt.s)
		}
	}
}

func TestAzureReadyProblem(t *testing.T) {
	tests := []struct {
		f    Format
		size int64
		want string // substring; "" means ready
	}{
		{VHDFixed, 20 << 20, ""},
		{VHDFixed, 30 << 30, ""},
		{VHDFixed, 32 << 40, ""},
		{VHDDynamic, 30 << 30, "only fixed vhd"},
		{VHDX, 30 << 30, "only fixed vhd"},
		{VHDFixed, 20<<20 - 1<<20, "at least 20 MiB"},
		{VHDFixed, 0, "at least 20 MiB"},
		{VHDFixed, 32<<40 + 1<<20, "at most 32 TiB"},
		{VHDFixed, 30<<30 + 512, "resize the disk to 32213303296 bytes (30721 MiB)"},
	}
	for _, tt := range tests {
		got := AzureReadyProblem(tt.f, tt.size)
		if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
			t.Errorf("AzureReadyProblem(%s, %d) = %q, want %q", tt.f, tt.size, got, tt.want)
		}
	}
}

func TestOpenFixedVHD(t *testing.T) {
	data := make([]byte, 3<<20)
	for i := range data {
		data[i] = byte(i * 7)
	}
	d, err := openBytes(fixedVHD(data), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Format() != VHDFixed || d.VirtualSize() != int64(len(data)) {
		t.Fatalf("got %s of %d", d.Format(), d.VirtualSize())
	}
	if !bytes.Equal(readAll(t, d), data) {
		t.Error("content differs")
	}
	checkExtents(t, d, data)
}

func TestOpenDynamicVHD(t *testing.T) {
	const bs = 512 << 10
	spec := dynSpec{size: 5*bs + 3*512, blocks: map[int64]byte{0: 0x11, 2: 0x22, 3: 0x33, 5: 0x55}}
	d, err := openBytes(buildDynamicVHD(spec), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Format() != VHDDynamic || d.VirtualSize() != spec.size {
		t.Fatalf("got %s of %d", d.Format(), d.VirtualSize())
	}
	want := make([]byte, spec.size)
	for blk, fill := range spec.blocks {
		end := min((blk+1)*bs, spec.size)
		for i := blk * bs; i < end; i++ {
			want[i] = fill
		}
	}
	got := readAll(t, d)
	if !bytes.Equal(got, want) {
		t.Error("content differs")
	}
	checkExtents(t, d, got)
	wantExt := []Extent{{0, bs}, {2 * bs, 2 * bs}, {5 * bs, 3 * 512}}
	if ext := d.Extents(); len(ext) != len(wantExt) || ext[0] != wantExt[0] || ext[1] != wantExt[1] || ext[2] != wantExt[2] {
		t.Errorf("extents %v, want %v", ext, wantExt)
	}
}

// patch returns a copy of b changed by f.
func patch(b []byte, f func(b []byte)) []byte {
	c := bytes.Clone(b)
	f(c)
	return c
}

// hostile is a damaged image and what Open must say about it.
type hostile struct {
	name     string
	data     []byte
	sentinel error
	msg      string
}

func dynamicHostiles() []hostile {
	base := buildDynamicVHD(dynSpec{size: 2 << 20, blocks: map[int64]byte{0: 1, 3: 3}})
	be := binary.BigEndian
	tail := len(base) - 512
	footers := func(f func(ft []byte)) []byte { // change both footers alike
		return patch(base, func(b []byte) {
			for _, off := range []int{0, tail} {
				f(b[off : off+512])
				fixChecksum(b[off:off+512], ftChecksum)
			}
		})
	}
	header := func(f func(h []byte)) []byte {
		return patch(base, func(b []byte) {
			h := b[testHeaderOff : testHeaderOff+dynHeaderSize]
			f(h)
			fixChecksum(h, dhChecksum)
		})
	}
	entry := func(i int, v uint32) []byte {
		return patch(base, func(b []byte) { be.PutUint32(b[testBATOff+4*i:], v) })
	}
	hs := []hostile{
		{"tail footer checksum", patch(base, func(b []byte) { b[tail+100]++ }), ErrFormat, "checksum"},
		{"head footer checksum", patch(base, func(b []byte) { b[100]++ }), ErrFormat, "vhd footer at offset 0: checksum"},
		{"header checksum", patch(base, func(b []byte) { b[testHeaderOff+100]++ }), ErrFormat, "dynamic header at offset 512: checksum"},
		{"header cookie", header(func(h []byte) { h[0] = 'X' }), ErrFormat, "cookie"},
		{"header version", header(func(h []byte) { be.PutUint32(h[dhVersion:], 0x20000) }), ErrFormat, "version"},
		{"footer version", footers(func(f []byte) { be.PutUint32(f[ftVersion:], 0x30000) }), ErrFormat, "version"},
		{"footer disk type", footers(func(f []byte) { be.PutUint32(f[ftDiskType:], 9) }), ErrFormat, "disk type 9"},
		{"footers disagree", patch(base, func(b []byte) {
			be.PutUint64(b[tail+ftCurrentSize:], 1<<20)
			fixChecksum(b[tail:], ftChecksum)
		}), ErrFormat, "does not match"},
		{"absurd current size", footers(func(f []byte) { be.PutUint64(f[ftCurrentSize:], 1<<62) }), ErrTooLarge, "above the limit of 4 TiB"},
		{"current size above 2^63", footers(func(f []byte) { be.PutUint64(f[ftCurrentSize:], 1<<63+512) }), ErrTooLarge, "above the limit"},
		{"current size zero", footers(func(f []byte) { be.PutUint64(f[ftCurrentSize:], 0) }), ErrFormat, "at least one"},
		{"current size not sectors", footers(func(f []byte) { be.PutUint64(f[ftCurrentSize:], 2<<20-1) }), ErrFormat, "whole number"},
		{"data offset outside", footers(func(f []byte) { be.PutUint64(f[ftDataOffset:], 1<<40) }), ErrFormat, "data offset"},
		{"data offset zero", footers(func(f []byte) { be.PutUint64(f[ftDataOffset:], 0) }), ErrFormat, "data offset"},
		{"max table entries absurd", header(func(h []byte) { be.PutUint32(h[dhMaxEntries:], 0xFFFFFFFF) }), ErrFormat, "but the file's data ends"},
		{"max table entries too few", header(func(h []byte) { be.PutUint32(h[dhMaxEntries:], 2) }), ErrFormat, "max table entries 2 cover 1 MiB"},
		{"block size not power of two", header(func(h []byte) { be.PutUint32(h[dhBlockSize:], 3<<19) }), ErrFormat, "block size"},
		{"block size tiny", header(func(h []byte) { be.PutUint32(h[dhBlockSize:], 4096) }), ErrFormat, "block size"},
		{"block size zero", header(func(h []byte) { be.PutUint32(h[dhBlockSize:], 0) }), ErrFormat, "block size"},
		{"block size huge", header(func(h []byte) { be.PutUint32(h[dhBlockSize:], 1<<31) }), ErrFormat, "block size"},
		{"table offset outside", header(func(h []byte) { be.PutUint64(h[dhTableOffset:], 1<<62) }), ErrFormat, "but the file's data ends"},
		{"table offset wraps", header(func(h []byte) { be.PutUint64(h[dhTableOffset:], 1<<64-4) }), ErrFormat, "but the file's data ends"},
		{"table over header", header(func(h []byte) { be.PutUint64(h[dhTableOffset:], 600) }), ErrFormat, "overlaps"},
		{"bat entry outside", entry(1, 0x7FFFFFFF), ErrFormat, "bat entry 1 at offset 1540: block of 524800 bytes"},
		{"bat entry at end", entry(3, uint32(tail/512)), ErrFormat, "past the end"},
		{"bat entry max", entry(2, 0xFFFFFFFE), ErrFormat, "past the end"},
		{"bat entry on header", entry(1, 1), ErrFormat, "overlaps the dynamic header"},
		{"bat entry on table", entry(1, 3), ErrFormat, "overlaps the block allocation table"},
		{"differencing", footers(func(f []byte) { be.PutUint32(f[ftDiskType:], diskTypeDiff) }), ErrUnsupported, "parent chosen explicitly"},
	}
	// Truncation at every structure boundary, and one byte either side.
	for _, cut := range []int{0, 1, 100, 511, 512, 513, 1535, 1536, 1537, 2047, 2048, 2049,
		2560, 4096, 1 << 19, tail - 1, tail, tail + 1, len(base) - 1} {
		hs = append(hs, hostile{name: "truncated at " + strconv.Itoa(cut), data: base[:cut], sentinel: ErrFormat})
	}
	return hs
}

func fixedHostiles() []hostile {
	data := make([]byte, 1<<20)
	base := fixedVHD(data)
	be := binary.BigEndian
	tail := len(base) - 512
	footer := func(f func(ft []byte)) []byte {
		return patch(base, func(b []byte) {
			f(b[tail:])
			fixChecksum(b[tail:], ftChecksum)
		})
	}
	return []hostile{
		{"fixed checksum", patch(base, func(b []byte) { b[tail+70]++ }), ErrFormat,
			"vhd footer at offset 1048576: checksum"},
		{"fixed lying current size", footer(func(f []byte) { be.PutUint64(f[ftCurrentSize:], 10<<30) }), ErrFormat,
			"disk holds 10 GiB but the file holds 1 MiB"},
		{"fixed smaller current size", footer(func(f []byte) { be.PutUint64(f[ftCurrentSize:], 512) }), ErrFormat,
			"disk holds 512 bytes but the file holds 1 MiB"},
		{"fixed data offset", footer(func(f []byte) { be.PutUint64(f[ftDataOffset:], 512) }), ErrFormat, "data offset"},
		{"fixed version", footer(func(f []byte) { be.PutUint32(f[ftVersion:], 0) }), ErrFormat, "version"},
		{"fixed disk type", footer(func(f []byte) { be.PutUint32(f[ftDiskType:], 1) }), ErrFormat, "disk type 1"},
		{"fixed too large", footer(func(f []byte) { be.PutUint64(f[ftCurrentSize:], 5<<40) }), ErrTooLarge, "5 TiB"},
		{"fixed truncated", base[:len(base)-1], ErrFormat, "not a whole number"},
		{"fixed padded", fixedPadded(data), ErrFormat, "disk holds 1 MiB but the file holds 1049088 bytes (1.0 MiB) of data"},
	}
}

func TestHostileVHD(t *testing.T) {
	testHostiles(t, append(dynamicHostiles(), fixedHostiles()...))
}

// testHostiles opens each damaged image: each must be refused with a
// *FormatError wrapping the expected sentinel, saying what is expected,
// in lower case, without allocating much.
func testHostiles(t *testing.T, hs []hostile) {
	for _, tt := range hs {
		t.Run(tt.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			d, err := openBytes(tt.data, Options{})
			runtime.ReadMemStats(&after)
			if err == nil {
				t.Fatalf("opened as %s of %d bytes", d.Format(), d.VirtualSize())
			}
			t.Log(err)
			wantFormatError(t, err, tt.sentinel)
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not say %q", err, tt.msg)
			}
			if got := after.TotalAlloc - before.TotalAlloc; got > 1<<20+uint64(len(tt.data)) {
				t.Errorf("Open allocated %d bytes", got)
			}
			if msg := err.Error(); strings.ToLower(msg[:1]) != msg[:1] {
				t.Errorf("message %q does not start in lower case", msg)
			}
		})
	}
}

func TestDynamicVHDTooManyBlocksForMemory(t *testing.T) {
	// A header may claim a large disk; the BAT is bounded by the file and by
	// MaxVirtualSize / the minimum block size, never by the claim alone.
	img := buildDynamicVHD(dynSpec{size: 4 << 40, blocks: map[int64]byte{}})
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	d, err := openBytes(img, Options{})
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 40<<20 {
		t.Errorf("Open allocated %d bytes for a 4 TiB disk", got)
	}
	if len(d.Extents()) != 0 {
		t.Errorf("empty disk has extents %v", d.Extents())
	}
	p := make([]byte, 4096)
	if n, err := d.ReadAt(p, 4<<40-4096); n != len(p) || err != nil || !bytes.Equal(p, make([]byte, 4096)) {
		t.Fatal(err)
	}
}

// fixedPadded is a fixed VHD with a sector of zeros between its data and
// footer: the footer understates the data.
func fixedPadded(data []byte) []byte {
	ft := VHDFooter(int64(len(data)), [16]byte{}, 0)
	return append(append(bytes.Clone(data), make([]byte, 512)...), ft[:]...)
}
