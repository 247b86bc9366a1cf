package diskfmt

import (
	"bytes"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// benchSparseFile writes a sparse raw file of size bytes with n extents of
// extent bytes of pseudo-random data, evenly spread, and opens it.
func benchSparseFile(b *testing.B, size, extent int64, n int) Disk {
	b.Helper()
	path := filepath.Join(b.TempDir(), "in.raw")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, extent)
	for i := range n {
		for j := 0; j+8 <= len(buf); j += 8 {
			binary.LittleEndian.PutUint64(buf[j:], rng.Uint64())
		}
		if _, err := f.WriteAt(buf, int64(i)*(size/int64(n))); err != nil {
			b.Fatal(err)
		}
	}
	return openFile(b, path)
}

// BenchmarkWriteFixedVHDSparse converts a 256 MiB raw file holding 64 MiB of
// data (warm in the page cache) to a sparse fixed VHD file, as `hangar disk
// convert --format vhd` does, without the final fsync. Bytes are the data.
func BenchmarkWriteFixedVHDSparse(b *testing.B) {
	d := benchSparseFile(b, 256<<20, 4<<20, 16)
	out := filepath.Join(b.TempDir(), "out.vhd")
	b.SetBytes(64 << 20)
	for b.Loop() {
		f, err := os.Create(out)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := WriteFixedVHD(f, d, WriteOptions{Sparse: true}); err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
}

// BenchmarkWriteRawStream writes the same disk as a stream (holes as zeros) to
// io.Discard: the cost of walking extents and holes without a file. Bytes are
// the virtual size.
func BenchmarkWriteRawStream(b *testing.B) {
	d := benchSparseFile(b, 256<<20, 4<<20, 16)
	b.SetBytes(256 << 20)
	for b.Loop() {
		if _, err := WriteRaw(io.Discard, d, WriteOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkQCOW2Compressed reads a qcow2 image whose 64 KiB clusters are all
// compressed, deflate or zstd, cluster by cluster. Bytes are the virtual size.
func BenchmarkQCOW2Compressed(b *testing.B) {
	needQemu(b)
	dir := b.TempDir()
	src := filepath.Join(dir, "src.raw")
	// Compressible but not trivial: text-like runs.
	text := []byte("hangar stores disks as content-addressed chunks; ")
	data := bytes.Repeat(text, (16<<20)/len(text)+1)[:16<<20]
	for i := 0; i < len(data); i += 4096 {
		data[i] = byte(i >> 12)
	}
	if err := os.WriteFile(src, data, 0o644); err != nil {
		b.Fatal(err)
	}
	for _, typ := range []string{"zlib", "zstd"} {
		b.Run(typ, func(b *testing.B) {
			img := filepath.Join(dir, typ+".qcow2")
			run(b, "qemu-img", "convert", "-f", "raw", "-O", "qcow2", "-c", "-o", "compression_type="+typ, src, img)
			d := openFile(b, img)
			buf := make([]byte, 64<<10)
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				for off := int64(0); off < d.VirtualSize(); off += int64(len(buf)) {
					if _, err := d.ReadAt(buf, off); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
