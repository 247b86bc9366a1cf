package diskfmt

import (
	"bytes"
	"compress/gzip"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var updateTestdata = flag.Bool("update-testdata", false, "regenerate the seed images in testdata/ (needs qemu-img)")

// testdataImage is a seed image in testdata/ and how it is made. Seeds
// named *.gz are stored gzipped.
type testdataImage struct {
	name string
	want Format // what Open must make of it ("" = Open must refuse it)
	make func(t *testing.T, path string)
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

var testdataImages = []testdataImage{
	{"raw-4k.img", Raw, func(t *testing.T, path string) {
		b := make([]byte, 4096)
		copy(b[510:], "\x55\xaa")
		writeFile(t, path, b)
	}},
	{"vhd-fixed-8k.vhd", VHDFixed, func(t *testing.T, path string) {
		makeQemuImage(t, path, "vpc", "subformat=fixed,force_size", 8<<10,
			[]qemuWrite{{0, 512, 0xab}, {5000, 100, 0xcd}, {8<<10 - 512, 512, 0xef}})
	}},
	{"vhd-dynamic-empty.vhd", VHDDynamic, func(t *testing.T, path string) {
		makeQemuImage(t, path, "vpc", "subformat=dynamic,force_size", 5<<20, nil)
	}},
	{"vhd-differencing.vhd", "", func(t *testing.T, path string) {
		writeFile(t, path, buildDynamicVHD(dynSpec{size: 1 << 20, diskType: diskTypeDiff}))
	}},
	{"qcow2-v3-4k.qcow2", QCOW2, func(t *testing.T, path string) {
		qemuConvertSeed(t, path, "qcow2", "cluster_size=4096")
	}},
	{"qcow2-v2-4k.qcow2", QCOW2, func(t *testing.T, path string) {
		qemuConvertSeed(t, path, "qcow2", "cluster_size=4096,compat=0.10")
	}},
	{"qcow2-zlib-4k.qcow2", QCOW2, func(t *testing.T, path string) {
		qemuConvertSeed(t, path, "qcow2", "cluster_size=4096", "-c")
	}},
	{"qcow2-zstd-4k.qcow2", QCOW2, func(t *testing.T, path string) {
		qemuConvertSeed(t, path, "qcow2", "cluster_size=4096,compression_type=zstd", "-c")
	}},
	{"vmdk-stream.vmdk.gz", VMDK, func(t *testing.T, path string) {
		qemuConvertSeed(t, path, "vmdk", "subformat=streamOptimized")
	}},
	{"vmdk-descriptor.txt", "", func(t *testing.T, path string) {
		writeFile(t, path, []byte("# Disk DescriptorFile\nversion=1\ncreateType=\"monolithicFlat\"\n"+
			"RW 128 FLAT \"disk-flat.vmdk\" 0\n"))
	}},
	{"vhdx-compact.vhdx.gz", VHDX, func(t *testing.T, path string) {
		writeFile(t, path, buildCompactVHDX(3<<20, 1<<20, []uint64{batNotPresent, batZero, batUnmapped}))
	}},
}

// qemuConvertSeed converts a 64 KiB raw disk with a little data to qfmt.
func qemuConvertSeed(t *testing.T, path, qfmt, opts string, args ...string) {
	src := path + ".src"
	defer os.Remove(src)
	makeQemuImage(t, src, "raw", "", 64<<10, []qemuWrite{{0, 512, 0xab}, {5000, 100, 0xcd}, {60 << 10, 4096, 0xef}})
	run(t, "qemu-img", append(append([]string{"convert", "-f", "raw", "-O", qfmt, "-o", opts}, args...), src, path)...)
}

// readSeed reads a seed image, gunzipping it when its name ends in .gz.
func readSeed(t testing.TB, name string) []byte {
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(name, ".gz") {
		return b
	}
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	b, err = io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestTestdata regenerates testdata/ with -update-testdata, and otherwise
// checks that every seed opens (or is refused) as expected.
func TestTestdata(t *testing.T) {
	for _, img := range testdataImages {
		path := filepath.Join("testdata", img.name)
		if *updateTestdata {
			needQemu(t)
			if err := os.MkdirAll("testdata", 0o755); err != nil {
				t.Fatal(err)
			}
			os.Remove(path)
			img.make(t, path)
			if strings.HasSuffix(path, ".gz") { // mostly zeros: keep the repository small
				var buf bytes.Buffer
				zw := gzip.NewWriter(&buf)
				zw.Write(mustRead(t, path))
				zw.Close()
				writeFile(t, path, buf.Bytes())
			}
		}
		d, err := openBytes(readSeed(t, img.name), Options{})
		switch {
		case img.want == "" && err == nil:
			t.Errorf("%s: opened, want a refusal", img.name)
		case img.want != "" && err != nil:
			t.Errorf("%s: %v", img.name, err)
		case img.want != "" && d.Format() != img.want:
			t.Errorf("%s: opened as %s, want %s", img.name, d.Format(), img.want)
		}
	}
}

// FuzzOpen opens arbitrary bytes, reaching every parser through Detect:
// Open must return a Disk or a *FormatError wrapping a sentinel, never
// panic, and any Disk must keep its invariants and read without error other
// than a *FormatError for a bad compressed payload.
//
// The seed with an allocated dynamic VHD block is over 512 KiB, which makes
// minimizing new inputs slow; run with a short minimize time:
//
//	go test ./internal/diskfmt/ -run '^$' -fuzz FuzzOpen -fuzztime 30s -fuzzminimizetime 2s
func FuzzOpen(f *testing.F) {
	for _, img := range testdataImages {
		f.Add(readSeed(f, img.name))
	}
	f.Add(buildDynamicVHD(dynSpec{size: 3 << 19, blocks: map[int64]byte{1: 0x5a}}))
	f.Add(fixedVHD(make([]byte, 1024)))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := Open(bytes.NewReader(data), int64(len(data)), Options{MaxVirtualSize: 8 << 20})
		if err != nil {
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v (%T) is not a *FormatError", err, err)
			}
			if !errors.Is(err, ErrFormat) && !errors.Is(err, ErrUnsupported) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("error %v wraps no sentinel", err)
			}
			return
		}
		checkExtents(t, d, nil)
		// Compressed payloads are only checked when read: a bad one must
		// give a *FormatError, like a bad header.
		if err := readThrough(d); err != nil {
			var fe *FormatError
			if !errors.As(err, &fe) || !errors.Is(err, ErrFormat) && !errors.Is(err, ErrUnsupported) {
				t.Fatalf("read error %v (%T) is not a *FormatError", err, err)
			}
		}
	})
}

// readThrough reads the whole virtual disk and checks that bytes outside
// the extents are zeros.
func readThrough(d Disk) error {
	buf := make([]byte, 64<<10)
	exts := d.Extents()
	for off := int64(0); off < d.VirtualSize(); off += int64(len(buf)) {
		n, err := d.ReadAt(buf, off)
		if err != nil && err != io.EOF {
			return err
		}
		for i, c := range buf[:n] {
			if c != 0 && !inExtents(exts, off+int64(i)) {
				return fmt.Errorf("non-zero byte at %d outside the extents", off+int64(i))
			}
		}
	}
	return nil
}

func inExtents(exts []Extent, off int64) bool {
	for _, e := range exts {
		if off >= e.Offset && off < e.Offset+e.Length {
			return true
		}
	}
	return false
}
