package diskfmt

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// writer is one of the exported writers and how qemu names its output.
type writer struct {
	name string
	qfmt string
	want Format
	fn   func(io.Writer, Disk, WriteOptions) (int64, error)
}

var writers = []writer{
	{"raw", "raw", Raw, WriteRaw},
	{"fixed vhd", "vpc", VHDFixed, WriteFixedVHD},
	{"dynamic vhd", "vpc", VHDDynamic, WriteDynamicVHD},
	{"qcow2", "qcow2", QCOW2, WriteQCOW2},
	{"vhdx", "vhdx", VHDX, WriteVHDX},
	{"vmdk", "vmdk", VMDK, func(w io.Writer, d Disk, opt WriteOptions) (int64, error) {
		return WriteStreamVMDK(w, d, VMDKOptions{WriteOptions: opt})
	}},
}

// writeFile runs a writer into a new file and returns its path.
func writeImage(t *testing.T, wr writer, d Disk, opt WriteOptions, path string) string {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	n, err := wr.fn(f, d, opt)
	if err != nil {
		t.Fatalf("%s: %v", wr.name, err)
	}
	st, _ := f.Stat()
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if n != st.Size() {
		t.Fatalf("%s returned %d but wrote a file of %d bytes", wr.name, n, st.Size())
	}
	return path
}

func TestWritersAgainstQemu(t *testing.T) {
	needQemu(t)
	dir := t.TempDir()
	sources := []struct {
		name   string
		size   int64
		writes []qemuWrite
	}{
		{"scattered", 9<<20 + 512, scattered(9<<20 + 512)},
		{"empty", 3 << 20, nil},
		{"full", 1 << 20, []qemuWrite{{0, 1 << 20, 0x5a}}},
	}
	for _, src := range sources {
		rawPath := filepath.Join(dir, src.name+".raw")
		makeQemuImage(t, rawPath, "raw", "", src.size, src.writes)
		d := openFile(t, rawPath)
		for _, wr := range writers {
			t.Run(src.name+"/"+wr.name, func(t *testing.T) {
				opt := WriteOptions{UniqueID: [16]byte{1, 2, 3}, Timestamp: 7}
				out := writeImage(t, wr, d, opt, filepath.Join(dir, src.name+"-"+wr.qfmt+"-"+wr.name))
				run(t, "qemu-img", "compare", "-q", "-f", wr.qfmt, "-F", "raw", out, rawPath)
				if got := qemuVirtualSize(t, wr.qfmt, out); got != src.size {
					t.Errorf("qemu-img sees %d bytes, want %d", got, src.size)
				}
				if wr.qfmt == "qcow2" || wr.qfmt == "vhdx" || wr.qfmt == "vmdk" {
					run(t, "qemu-img", "check", "-q", "-f", wr.qfmt, out)
				}
				back := openFile(t, out)
				if back.Format() != wr.want || back.VirtualSize() != src.size {
					t.Fatalf("reopened as %s of %d", back.Format(), back.VirtualSize())
				}
				want, _ := os.ReadFile(rawPath)
				got := readAll(t, back)
				if !bytes.Equal(got, want) {
					t.Fatal("content differs after a round trip")
				}
				checkExtents(t, back, got)
				again := writeImage(t, wr, d, opt, out+".again")
				if a, b := mustRead(t, out), mustRead(t, again); !bytes.Equal(a, b) {
					t.Error("writing twice gave different bytes")
				}
			})
		}
	}
}

// TestSparseWritersAgainstQemuLarge writes a sparse disk past a VHDX sector
// bitmap block (4 GiB of payload) and across VMDK grain tables (32 MiB
// each); qemu-img compares it with the source without reading it whole.
func TestSparseWritersAgainstQemuLarge(t *testing.T) {
	needQemu(t)
	if testing.Short() {
		t.Skip("writes 4 GiB sparse files")
	}
	dir := t.TempDir()
	const size = 4<<30 + 3<<20 + 512
	rawPath := filepath.Join(dir, "large.raw")
	makeQemuImage(t, rawPath, "raw", "", size, []qemuWrite{{32<<20 - 700, 1400, 0x44}, {4<<30 - 512, 2<<20 + 1024, 0x55}, {size - 512, 512, 0x66}})
	d := openFile(t, rawPath)
	for _, wr := range writers {
		if wr.qfmt != "vhdx" && wr.qfmt != "vmdk" {
			continue
		}
		t.Run(wr.name, func(t *testing.T) {
			out := writeImage(t, wr, d, WriteOptions{}, filepath.Join(dir, "large."+wr.qfmt))
			run(t, "qemu-img", "check", "-q", "-f", wr.qfmt, out)
			run(t, "qemu-img", "compare", "-q", "-f", wr.qfmt, "-F", "raw", out, rawPath)
			if got := qemuVirtualSize(t, wr.qfmt, out); got != size {
				t.Errorf("qemu-img sees %d bytes, want %d", got, size)
			}
		})
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestWritersDependOnContentOnly writes one content from two differently
// allocated sources and expects identical images.
func TestWritersDependOnContentOnly(t *testing.T) {
	data := make([]byte, 5<<20)
	copy(data[3<<20:], "hello")
	flat, err := openBytes(data, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var q bytes.Buffer
	if _, err := WriteQCOW2(&q, flat, WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	sparse, err := openBytes(q.Bytes(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(sparse.Extents()) != 1 || sparse.Extents()[0] != (Extent{3 << 20, 64 << 10}) {
		t.Errorf("qcow2 extents %v, want the one cluster holding data", sparse.Extents())
	}
	for _, wr := range writers {
		var a, b bytes.Buffer
		if _, err := wr.fn(&a, flat, WriteOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := wr.fn(&b, sparse, WriteOptions{}); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a.Bytes(), b.Bytes()) {
			t.Errorf("%s: output depends on the source's allocation", wr.name)
		}
	}
}

func TestWriteSparse(t *testing.T) {
	dir := t.TempDir()
	data := make([]byte, 8<<20)
	copy(data[5<<20:], "data")
	d, err := openBytes(data, Options{})
	if err != nil {
		t.Fatal(err)
	}
	holes := fsHasHoles(t, dir)
	for _, wr := range writers[:2] {
		path := writeImage(t, wr, d, WriteOptions{Sparse: true}, filepath.Join(dir, wr.qfmt))
		back := openFile(t, path)
		if !bytes.Equal(readAll(t, back), data) {
			t.Errorf("%s: content differs", wr.name)
		}
		if ext := back.Extents(); holes && (len(ext) != 1 || ext[0].Length > 64<<10) {
			t.Errorf("%s: sparse output has extents %v", wr.name, ext)
		}
	}
	var buf bytes.Buffer
	if _, err := WriteRaw(&buf, d, WriteOptions{Sparse: true}); !errors.Is(err, errNotSeekable) {
		t.Errorf("sparse write to a buffer: %v", err)
	}
}

func TestWriteDynamicVHDLayout(t *testing.T) {
	data := make([]byte, 5<<20+512)
	data[len(data)-1] = 1
	d, err := openBytes(data, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := WriteDynamicVHD(&buf, d, WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	// footer, header, one sector of BAT, one block with its bitmap, footer
	if want := 512 + 1024 + 512 + 512 + 2<<20 + 512; buf.Len() != want {
		t.Errorf("dynamic vhd of one allocated block is %d bytes, want %d", buf.Len(), want)
	}
	back, err := openBytes(buf.Bytes(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if ext := back.Extents(); fmt.Sprint(ext) != "[{4194304 1049088}]" {
		t.Errorf("extents %v", ext)
	}
}
