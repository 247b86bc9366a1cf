package diskfmt

import (
	"bytes"
	"encoding/binary"
	"path/filepath"
	"strconv"
	"testing"
)

func TestVMDKAgainstQemu(t *testing.T) {
	needQemu(t)
	const size = 9<<20 + 512
	runQemuCases(t, []qemuCase{
		{name: "monolithicSparse direct", qfmt: "vmdk", opts: "subformat=monolithicSparse", size: size, want: VMDK,
			writes: true, gran: 64 << 10},
		{name: "monolithicSparse converted", qfmt: "vmdk", opts: "subformat=monolithicSparse", convert: true, size: size,
			want: VMDK, writes: true, gran: 64 << 10},
		{name: "monolithicSparse zeroed grains", qfmt: "vmdk", opts: "subformat=monolithicSparse,zeroed_grain=on",
			size: size, want: VMDK, writes: true, more: []string{"write -z -q 0 65536"}, gran: 64 << 10},
		{name: "monolithicSparse empty", qfmt: "vmdk", opts: "subformat=monolithicSparse", size: size, want: VMDK, gran: 64 << 10},
		{name: "streamOptimized", qfmt: "vmdk", opts: "subformat=streamOptimized", convert: true, size: size,
			want: VMDK, writes: true, gran: 64 << 10},
		{name: "streamOptimized unaligned", qfmt: "vmdk", opts: "subformat=streamOptimized", convert: true,
			size: 5<<20 + 1536, want: VMDK, writes: true, gran: 64 << 10},
		{name: "streamOptimized empty", qfmt: "vmdk", opts: "subformat=streamOptimized", convert: true, size: size,
			want: VMDK, gran: 64 << 10},
	})
}

// vmdkBase makes a 3 MiB vmdk of subformat with qemu, with data in two
// grains, and returns its bytes.
func vmdkBase(t *testing.T, subformat string) []byte {
	t.Helper()
	needQemu(t)
	dir := t.TempDir()
	src, out := filepath.Join(dir, "src.raw"), filepath.Join(dir, "out.vmdk")
	makeQemuImage(t, src, "raw", "", 3<<20, []qemuWrite{{1000, 3000, 0xab}, {2 << 20, 4096, 0xcd}})
	run(t, "qemu-img", "convert", "-f", "raw", "-O", "vmdk", "-o", "subformat="+subformat, src, out)
	return mustRead(t, out)
}

// withDescriptor replaces the embedded descriptor's text.
func withDescriptor(b []byte, text string) []byte {
	le := binary.LittleEndian
	off := int(le.Uint64(b[vkDescOffset:])) * 512
	n := int(le.Uint64(b[vkDescSize:])) * 512
	return patch(b, func(c []byte) {
		clear(c[off : off+n])
		copy(c[off:off+n], text)
	})
}

func vmdkHostiles(t *testing.T) []hostile {
	base := vmdkBase(t, "monolithicSparse")
	le := binary.LittleEndian
	u32 := func(off int, v uint32) []byte { return patch(base, func(b []byte) { le.PutUint32(b[off:], v) }) }
	u64 := func(off int, v uint64) []byte { return patch(base, func(b []byte) { le.PutUint64(b[off:], v) }) }
	gd := int(le.Uint64(base[vkGDOffset:])) * 512
	gt := int(le.Uint32(base[gd:])) * 512
	desc := func(createType, extents string) []byte {
		return withDescriptor(base, "# Disk DescriptorFile\nversion=1\nCID=1234\nparentCID=ffffffff\n"+
			"createType=\""+createType+"\"\n"+extents+"\n")
	}
	own := `RW 6144 SPARSE "disk.vmdk"`
	hs := []hostile{
		{"version 4", u32(vkVersion, 4), ErrUnsupported, "version 4"},
		{"text-mode transfer", patch(base, func(b []byte) { b[vkLineChecks+2] = '\n' }), ErrFormat, "text-mode transfer"},
		{"absurd capacity", u64(vkCapacity, 1<<60), ErrTooLarge, "above the limit"},
		{"capacity zero", u64(vkCapacity, 0), ErrFormat, "at least one"},
		{"grain 3", u64(vkGrainSize, 3), ErrFormat, "grain size 3"},
		{"grain 4", u64(vkGrainSize, 4), ErrFormat, "grain size 4"},
		{"grain 4096", u64(vkGrainSize, 4096), ErrFormat, "grain size 4096"},
		{"gtes 0", u32(vkGTEsPerGT, 0), ErrFormat, "grain table entries"},
		{"gtes 1024", u32(vkGTEsPerGT, 1024), ErrFormat, "grain table entries"},
		{"compressed without markers", u32(vkFlags, vmdkFlagCompressed|1), ErrUnsupported, "compressed grains"},
		{"unknown algorithm", patch(base, func(b []byte) { le.PutUint16(b[vkCompressAlgo:], 2) }), ErrUnsupported, "algorithm 2"},
		{"no descriptor", u64(vkDescOffset, 0), ErrUnsupported, "no embedded descriptor"},
		{"descriptor outside", u64(vkDescOffset, 1<<40), ErrFormat, "not inside the file"},
		{"descriptor huge", u64(vkDescSize, 1<<30), ErrFormat, "not inside the file"},
		{"flat create type", desc("monolithicFlat", `RW 6144 FLAT "/etc/passwd" 0`), ErrUnsupported, "monolithicFlat"},
		{"split create type", desc("twoGbMaxExtentSparse", `RW 6144 SPARSE "disk-s001.vmdk"`), ErrUnsupported, "twoGbMaxExtentSparse"},
		{"flat extent", desc("monolithicSparse", `RW 6144 FLAT "/etc/passwd" 0`), ErrUnsupported, "never read"},
		{"two extents", desc("monolithicSparse", own+"\n"+own), ErrUnsupported, "2 extents"},
		{"no extent", desc("monolithicSparse", ""), ErrUnsupported, "0 extents"},
		{"extent size", desc("monolithicSparse", `RW 6000 SPARSE "disk.vmdk"`), ErrFormat, "does not match"},
		{"parent cid", withDescriptor(base, "createType=\"monolithicSparse\"\nparentCID=12345678\n"+own), ErrUnsupported, "delta disk"},
		{"parent hint", withDescriptor(base, "createType=\"monolithicSparse\"\nparentFileNameHint=\"/etc/shadow\"\n"+own),
			ErrUnsupported, "parent file"},
		{"gd outside", u64(vkGDOffset, 1<<40), ErrFormat, "grain directory"},
		{"gd zero", u64(vkGDOffset, 0), ErrFormat, "grain directory"},
		{"gd entry outside", u32(gd, 1<<30), ErrFormat, "grain directory entry 0"},
		{"gt entry outside", u32(gt+4*0, 1<<30), ErrFormat, "grain table entry for virtual offset 0"},
		{"gt entry at end", u32(gt+4*32, uint32(len(base)/512)), ErrFormat, "grain table entry for virtual offset 2097152"},
		{"descriptor file", []byte("# Disk DescriptorFile\ncreateType=\"monolithicFlat\"\nRW 6144 FLAT \"/etc/passwd\" 0\n"),
			ErrUnsupported, "descriptor file"},
	}
	for _, cut := range []int{4, 100, 511, 512, 1024, gd, gd + 2, gt, gt + 100, len(base) - 1} {
		hs = append(hs, hostile{name: "truncated at " + strconv.Itoa(cut), data: base[:cut], sentinel: ErrFormat})
	}
	return hs
}

func TestHostileVMDK(t *testing.T) {
	testHostiles(t, vmdkHostiles(t))
}

// gdAtEnd turns qemu's streamOptimized output into the layout VMware
// writes: the header says the grain directory is at the end, and a footer
// (a copy of the header that says where it is) precedes the end-of-stream
// marker.
func gdAtEnd(b []byte) []byte {
	le := binary.LittleEndian
	footer := bytes.Clone(b[:512])
	out := patch(b[:len(b)-512], func(c []byte) { le.PutUint64(c[vkGDOffset:], vmdkGDAtEnd) })
	marker := make([]byte, 512)
	le.PutUint64(marker, 1)
	le.PutUint32(marker[12:], vmdkMarkerFooter)
	return append(append(append(out, marker...), footer...), make([]byte, 512)...)
}

func TestVMDKStreamOptimizedFooter(t *testing.T) {
	base := vmdkBase(t, "streamOptimized")
	want, err := openBytes(base, Options{})
	if err != nil {
		t.Fatal(err)
	}
	img := gdAtEnd(base)
	path := filepath.Join(t.TempDir(), "footer.vmdk")
	writeFile(t, path, img)
	d := openFile(t, path)
	if !bytes.Equal(readAll(t, d), readAll(t, want)) {
		t.Fatal("content differs from the image without a footer")
	}
	raw := path + ".raw"
	run(t, "qemu-img", "convert", "-f", "vmdk", "-O", "raw", path, raw)
	if !bytes.Equal(readAll(t, d), mustRead(t, raw)) {
		t.Fatal("content differs from qemu's reading")
	}
	le := binary.LittleEndian
	testHostiles(t, []hostile{
		{"footer missing", img[:len(img)-1024], ErrFormat, "footer marker"},
		{"footer without gd", patch(img, func(b []byte) { le.PutUint64(b[len(b)-1024+vkGDOffset:], vmdkGDAtEnd) }),
			ErrFormat, "does not say where"},
		{"footer bad marker", patch(img, func(b []byte) { b[len(b)-1536+12] = 9 }), ErrFormat, "footer marker"},
	})
}

func TestVMDKBadCompressedGrains(t *testing.T) {
	base := vmdkBase(t, "streamOptimized")
	le := binary.LittleEndian
	gd := int(le.Uint64(base[vkGDOffset:])) * 512
	gt := int(le.Uint32(base[gd:])) * 512
	grain := int(le.Uint32(base[gt:])) * 512
	for name, b := range map[string][]byte{
		"wrong lba":   patch(base, func(b []byte) { le.PutUint64(b[grain:], 77) }),
		"huge size":   patch(base, func(b []byte) { le.PutUint32(b[grain+8:], 1<<30) }),
		"bad zlib":    patch(base, func(b []byte) { copy(b[grain+12:], "not zlib at all") }),
		"short grain": patch(base, func(b []byte) { le.PutUint32(b[grain+8:], 4) }),
	} {
		d, err := openBytes(b, Options{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		_, err = d.ReadAt(make([]byte, 512), 0)
		wantFormatError(t, err, ErrFormat)
		t.Logf("%s: %v", name, err)
	}
}
