package diskfmt

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestQCOW2AgainstQemu(t *testing.T) {
	needQemu(t)
	const size = 9<<20 + 512
	zero := []string{"write -z -q 1536 1024", "write -z -q 2097152 65536"}
	runQemuCases(t, []qemuCase{
		{name: "v3 direct", qfmt: "qcow2", size: size, want: QCOW2, writes: true, gran: 64 << 10},
		{name: "v2 direct", qfmt: "qcow2", opts: "compat=0.10", size: size, want: QCOW2, writes: true, gran: 64 << 10},
		{name: "v3 zero clusters", qfmt: "qcow2", size: size, want: QCOW2, writes: true, more: zero, gran: 64 << 10},
		{name: "v3 empty", qfmt: "qcow2", size: size, want: QCOW2, gran: 64 << 10},
		{name: "v3 converted", qfmt: "qcow2", convert: true, size: size, want: QCOW2, writes: true, gran: 64 << 10},
		{name: "v2 converted", qfmt: "qcow2", opts: "compat=0.10", convert: true, size: size, want: QCOW2, writes: true, gran: 64 << 10},
		{name: "zlib compressed", qfmt: "qcow2", convert: true, args: []string{"-c"}, size: size, want: QCOW2, writes: true, gran: 64 << 10},
		{name: "compressed 512-byte clusters", qfmt: "qcow2", opts: "cluster_size=512", convert: true, args: []string{"-c"},
			size: size, want: QCOW2, writes: true, gran: 512},
		{name: "512-byte clusters", qfmt: "qcow2", opts: "cluster_size=512", size: size, want: QCOW2, writes: true, gran: 512},
		{name: "2 MiB clusters", qfmt: "qcow2", opts: "cluster_size=2M", size: size, want: QCOW2, writes: true, gran: 2 << 20},
		{name: "compressed 2 MiB clusters", qfmt: "qcow2", opts: "cluster_size=2M", convert: true, args: []string{"-c"},
			size: size, want: QCOW2, writes: true, gran: 2 << 20},
		{name: "zstd type, nothing compressed", qfmt: "qcow2", opts: "compression_type=zstd", size: size, want: QCOW2,
			writes: true, gran: 64 << 10},
		{name: "unaligned size", qfmt: "qcow2", size: 5<<20 + 3*512, want: QCOW2, writes: true, gran: 64 << 10},
		{name: "compressed unaligned size", qfmt: "qcow2", convert: true, args: []string{"-c"}, size: 5<<20 + 3*512,
			want: QCOW2, writes: true, gran: 64 << 10},
		{name: "preallocated metadata", qfmt: "qcow2", opts: "preallocation=metadata", size: size, want: QCOW2,
			writes: true, gran: -1}, // every cluster is allocated, as qemu says
	})
}

// TestQCOW2Refusals makes images qemu can make that must be refused.
func TestQCOW2Refusals(t *testing.T) {
	needQemu(t)
	dir := t.TempDir()
	base := filepath.Join(dir, "base.qcow2")
	run(t, "qemu-img", "create", "-q", "-f", "qcow2", base, "4M")
	tests := []struct {
		name   string
		create func(path string)
		msg    string
	}{
		{"backing file", func(p string) {
			run(t, "qemu-img", "create", "-q", "-f", "qcow2", "-b", base, "-F", "qcow2", p)
		}, "backing file"},
		{"external data file", func(p string) {
			run(t, "qemu-img", "create", "-q", "-f", "qcow2", "-o", "data_file="+p+".data", p, "4M")
		}, "external data file"},
		{"encrypted", func(p string) {
			run(t, "qemu-img", "create", "-q", "--object", "secret,id=sec0,data=123456", "-f", "qcow2",
				"-o", "encrypt.format=aes,encrypt.key-secret=sec0", p, "4M")
		}, "encrypt"},
		{"zstd compressed", func(p string) {
			src := p + ".raw"
			makeQemuImage(t, src, "raw", "", 4<<20, []qemuWrite{{0, 65536, 0xab}})
			run(t, "qemu-img", "convert", "-f", "raw", "-O", "qcow2", "-c", "-o", "compression_type=zstd", src, p)
		}, "zstd"},
		{"extended l2", func(p string) {
			run(t, "qemu-img", "create", "-q", "-f", "qcow2", "-o", "extended_l2=on", p, "4M")
		}, "extended L2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "-")+".qcow2")
			tt.create(path)
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			st, _ := f.Stat()
			_, err = Open(f, st.Size(), Options{})
			wantFormatError(t, err, ErrUnsupported)
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not say %q", err, tt.msg)
			}
			t.Log(err)
		})
	}
}

// qcowBase is a small qcow2 image written by WriteQCOW2 and its layout.
func qcowBase(t testing.TB) ([]byte, *qcowLayout) {
	data := make([]byte, 3<<20)
	for _, c := range []int{0, 5, 40} {
		copy(data[c*wqCluster+100:], "cluster data")
	}
	d, err := openBytes(data, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := WriteQCOW2(&buf, d, WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	set, count, _ := nonZeroUnits(d, wqCluster)
	return buf.Bytes(), newQCOWLayout(d.VirtualSize(), set, count)
}

func qcowHostiles(t testing.TB) []hostile {
	base, l := qcowBase(t)
	be := binary.BigEndian
	p := func(f func(b []byte)) []byte { return patch(base, f) }
	u32 := func(off int, v uint32) []byte { return p(func(b []byte) { be.PutUint32(b[off:], v) }) }
	u64 := func(off int, v uint64) []byte { return p(func(b []byte) { be.PutUint64(b[off:], v) }) }
	l1 := int(l.l1Start * wqCluster)
	l2 := int(l.l2Start * wqCluster)
	ext := func(typ, n uint32) []byte {
		return p(func(b []byte) { be.PutUint32(b[qcowV3HeaderLen:], typ); be.PutUint32(b[qcowV3HeaderLen+4:], n) })
	}
	hs := []hostile{
		{"version 4", u32(qhVersion, 4), ErrUnsupported, "version 4"},
		{"cluster bits 8", u32(qhClusterBits, 8), ErrFormat, "cluster bits 8"},
		{"cluster bits 22", u32(qhClusterBits, 22), ErrFormat, "cluster bits 22"},
		{"backing file", u64(qhBackingOffset, 4096), ErrUnsupported, "backing file"},
		{"backing file size", u32(qhBackingSize, 10), ErrUnsupported, "backing file"},
		{"encrypted", u32(qhCryptMethod, 1), ErrUnsupported, "encrypted"},
		{"absurd size", u64(qhSize, 1<<62), ErrTooLarge, "above the limit"},
		{"size 2^64-1", u64(qhSize, 1<<64-1), ErrTooLarge, "above the limit"},
		{"size zero", u64(qhSize, 0), ErrFormat, "at least one"},
		{"size not sectors", u64(qhSize, 3<<20-1), ErrFormat, "whole number"},
		{"header length short", u32(qhHeaderLength, 96), ErrFormat, "header length"},
		{"header length odd", u32(qhHeaderLength, 105), ErrFormat, "header length"},
		{"header length huge", u32(qhHeaderLength, 1<<30), ErrFormat, "header length"},
		{"unknown incompatible", u64(qhIncompatible, 1<<10), ErrUnsupported, "unknown feature bits 0x400"},
		{"corrupt bit", u64(qhIncompatible, qcowIncCorrupt), ErrFormat, "marked the image corrupt"},
		{"data file bit", u64(qhIncompatible, qcowIncDataFile), ErrUnsupported, "external data file"},
		{"compression bit without field", u64(qhIncompatible, qcowIncCompression), ErrFormat, "compression type"},
		{"refcount order", u32(qhRefcountOrder, 7), ErrFormat, "refcount order"},
		{"l1 size zero", u32(qhL1Size, 0), ErrFormat, "0 entries cover 0 bytes"},
		{"l1 size absurd", u32(qhL1Size, 0xFFFFFFFF), ErrFormat, "above qemu's limit"},
		{"l1 size past end", u32(qhL1Size, 1<<20), ErrFormat, "runs past the end"},
		{"l1 offset unaligned", u64(qhL1Offset, uint64(l1+8)), ErrFormat, "not aligned"},
		{"l1 offset outside", u64(qhL1Offset, 1<<40), ErrFormat, "runs past the end"},
		{"l1 offset wraps", u64(qhL1Offset, 1<<64-wqCluster), ErrFormat, "runs past the end"},
		{"l1 entry outside", u64(l1, 1<<40), ErrFormat, "l1 entry 0"},
		{"l1 entry unaligned", u64(l1, uint64(l2+512)), ErrFormat, "l1 entry 0"},
		{"l2 entry outside", u64(l2+8*5, 1<<40|qcowCopied), ErrFormat, "l2 entry for virtual offset 327680"},
		{"l2 entry unaligned", u64(l2, uint64(l2+512)), ErrFormat, "not a cluster-aligned"},
		{"l2 entry at end", u64(l2, uint64(len(base))), ErrFormat, "not a cluster-aligned"},
		{"compressed entry outside", u64(l2, qcowCompressed|uint64(len(base))), ErrFormat, "past the end of the file"},
		{"refcount table outside", u64(qhRefcountOffset, 1<<40), ErrFormat, "refcount table"},
		{"refcount table too long", u32(qhRefcountClus, 1<<20), ErrFormat, "refcount table"},
		{"extension too long", ext(0x12345678, 1<<20), ErrFormat, "runs past the first cluster"},
		{"data file extension", ext(qcowExtDataFile, 8), ErrUnsupported, "external data file"},
		{"crypto extension", ext(qcowExtCrypto, 8), ErrUnsupported, "encryption header"},
	}
	for _, cut := range []int{4, 50, 72, 103, 104, wqCluster - 1, wqCluster, l1, l1 + 8, l2, l2 + 100,
		int(l.dataStart * wqCluster), len(base) - 1} {
		hs = append(hs, hostile{name: "truncated at " + strconv.Itoa(cut), data: base[:cut], sentinel: ErrFormat})
	}
	return hs
}

func TestHostileQCOW2(t *testing.T) {
	testHostiles(t, qcowHostiles(t))
}

func TestQCOW2Acceptable(t *testing.T) {
	base, l := qcowBase(t)
	be := binary.BigEndian
	for name, b := range map[string][]byte{
		"as written":   base,
		"dirty":        patch(base, func(b []byte) { be.PutUint64(b[qhIncompatible:], qcowIncDirty) }),
		"version 2":    patch(base, func(b []byte) { be.PutUint32(b[qhVersion:], 2) }),
		"zero cluster": patch(base, func(b []byte) { be.PutUint64(b[l.l2Start*wqCluster:], qcowZeroFlag) }),
		"unknown ext":  patch(base, func(b []byte) { be.PutUint32(b[qcowV3HeaderLen:], 0x12345678) }),
	} {
		d, err := openBytes(b, Options{})
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		got := readAll(t, d)
		checkExtents(t, d, got)
		if zero := name == "zero cluster"; bytes.Contains(got[:wqCluster], []byte("cluster data")) == zero {
			t.Errorf("%s: first cluster reads %q", name, got[100:112])
		}
	}
}

func TestQCOW2BadCompressedData(t *testing.T) {
	base, l := qcowBase(t)
	// Point cluster 0 at "compressed" bytes that are not deflate data: the
	// header cluster. Open cannot see it; the read must fail cleanly.
	b := patch(base, func(b []byte) {
		binary.BigEndian.PutUint64(b[l.l2Start*wqCluster:], qcowCompressed|1<<(62-8)*3|0)
	})
	d, err := openBytes(b, Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = d.ReadAt(make([]byte, 4096), 0)
	wantFormatError(t, err, ErrFormat)
	t.Log(err)
}
