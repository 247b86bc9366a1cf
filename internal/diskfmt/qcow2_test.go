package diskfmt

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/klauspost/compress/zstd"
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
		{name: "zstd compressed", qfmt: "qcow2", opts: "compression_type=zstd", convert: true, args: []string{"-c"},
			size: size, want: QCOW2, writes: true, gran: 64 << 10},
		{name: "zstd compressed 512-byte clusters", qfmt: "qcow2", opts: "compression_type=zstd,cluster_size=512", convert: true,
			args: []string{"-c"}, size: size, want: QCOW2, writes: true, gran: 512},
		{name: "zstd compressed 2 MiB clusters", qfmt: "qcow2", opts: "compression_type=zstd,cluster_size=2M", convert: true,
			args: []string{"-c"}, size: size, want: QCOW2, writes: true, gran: 2 << 20},
		{name: "zstd compressed unaligned size", qfmt: "qcow2", opts: "compression_type=zstd", convert: true, args: []string{"-c"},
			size: 5<<20 + 3*512, want: QCOW2, writes: true, gran: 64 << 10},
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
	// header cluster (host offset 0, 4 sectors). Open cannot see it; the read
	// must fail cleanly.
	b := patch(base, func(b []byte) {
		binary.BigEndian.PutUint64(b[l.l2Start*wqCluster:], qcowCompressed|1<<(62-8)*3)
	})
	d, err := openBytes(b, Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = d.ReadAt(make([]byte, 4096), 0)
	wantFormatError(t, err, ErrFormat)
	t.Log(err)
}

// compressedClusters counts the compressed clusters of an opened qcow2 image.
func compressedClusters(t testing.TB, d Disk) int {
	q := d.(*disk).spans.(*qcow2)
	n := 0
	for c := range q.clusters() {
		e, _, err := q.l2Entry(c)
		if err != nil {
			t.Fatal(err)
		}
		if e&qcowCompressed != 0 {
			n++
		}
	}
	return n
}

// TestQCOW2ZstdClusters checks that zstd images made by qemu really hold
// zstd-compressed clusters (so the comparisons above exercise them), and
// reads one cluster by cluster and in odd pieces, in parallel, as uploads do.
func TestQCOW2ZstdClusters(t *testing.T) {
	needQemu(t)
	dir := t.TempDir()
	src, img := filepath.Join(dir, "src.raw"), filepath.Join(dir, "zstd.qcow2")
	makeQemuImage(t, src, "raw", "", 8<<20, []qemuWrite{{0, 3 << 20, 0x5a}, {5<<20 + 1000, 70000, 0xc3}})
	run(t, "qemu-img", "convert", "-f", "raw", "-O", "qcow2", "-c", "-o", "compression_type=zstd", src, img)
	d := openFile(t, img)
	if n := compressedClusters(t, d); n < 40 {
		t.Fatalf("%d compressed clusters; qemu should have compressed every written one", n)
	}
	want := mustRead(t, src)
	var wg sync.WaitGroup
	for _, piece := range []int{512, 4096, 65536 + 512, 1 << 20} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got := make([]byte, len(want))
			for off := 0; off < len(got); off += piece {
				if _, err := d.ReadAt(got[off:min(off+piece, len(got))], int64(off)); err != nil {
					t.Error(err)
					return
				}
			}
			if !bytes.Equal(got, want) {
				t.Errorf("reading in pieces of %d bytes gives other bytes than qemu", piece)
			}
		}()
	}
	wg.Wait()
}

// zstdBase is qcowBase switched to the zstd compression type (a 112-byte
// header whose compression type field says zstd), with cluster 0 made a
// compressed cluster holding payload (placed in the header cluster, past the
// header, which nothing else reads).
func zstdBase(t testing.TB, payload []byte) []byte {
	base, l := qcowBase(t)
	be := binary.BigEndian
	const at = 1024 // inside the first cluster, past the header
	if len(payload) > wqCluster-at {
		t.Fatalf("payload of %d bytes does not fit", len(payload))
	}
	return patch(base, func(b []byte) {
		be.PutUint32(b[qhHeaderLength:], qcowV3HeaderLen+8)
		be.PutUint64(b[qhIncompatible:], qcowIncCompression)
		b[qhCompression] = 1
		copy(b[at:], payload)
		sectors := uint64((at%512+len(payload)+511)/512 - 1)
		be.PutUint64(b[l.l2Start*wqCluster:], qcowCompressed|sectors<<(62-(wqClusterBits-8))|at)
	})
}

// zstdRawFrame is a zstd frame with the given window descriptor byte and
// blocks (each a 3-byte block header and its content).
func zstdRawFrame(window byte, blocks ...[]byte) []byte {
	f := []byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, window} // magic, no content size, no checksum, window
	for _, b := range blocks {
		f = append(f, b...)
	}
	return f
}

// zstdBlock is a block header (type 0 raw, 1 RLE) and its content.
func zstdBlock(last bool, typ, size int, content []byte) []byte {
	h := size<<3 | typ<<1
	if last {
		h |= 1
	}
	return append([]byte{byte(h), byte(h >> 8), byte(h >> 16)}, content...)
}

func TestQCOW2ZstdHostile(t *testing.T) {
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	full := bytes.Repeat([]byte("hangar"), wqCluster/6+1)[:wqCluster]
	good := enc.EncodeAll(full, nil)
	const window128K = 7 << 3 // windowLog 17
	sevens := bytes.Repeat([]byte{7}, wqCluster)
	tests := []struct {
		name    string
		payload []byte
		want    []byte // nil: reading must fail
	}{
		{"valid frame", good, full},
		{"valid frame, garbage after it", append(append([]byte{}, good...), "garbage that is no zstd frame"...), full},
		// An RLE bomb: two blocks of 128 KiB of one byte from a few bytes. Only
		// one cluster is ever decoded.
		{"frame larger than a cluster", zstdRawFrame(window128K,
			zstdBlock(false, 1, 128<<10, []byte{7}), zstdBlock(true, 1, 128<<10, []byte{7})), sevens},
		{"frame shorter than a cluster", enc.EncodeAll(full[:1000], nil), nil},
		{"not zstd", []byte("this is not a zstd frame at all"), nil},
		{"truncated frame", good[:len(good)/2], nil},
		{"window of 1 GiB", zstdRawFrame(20<<3, zstdBlock(true, 0, 4, []byte("abcd"))), nil},
		{"block larger than its window", zstdRawFrame(0, zstdBlock(true, 1, 128<<10, []byte{7})), nil},
		{"empty", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := openBytes(zstdBase(t, tt.payload), Options{})
			if err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, wqCluster)
			_, err = d.ReadAt(buf, 0)
			if tt.want == nil {
				wantFormatError(t, err, ErrFormat)
				t.Log(err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(buf, tt.want) {
				t.Error("cluster reads other bytes than were compressed")
			}
		})
	}
}
