package diskfmt

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
)

var updateTestdata = flag.Bool("update-testdata", false, "regenerate the seed images in testdata/ (needs qemu-img)")

// testdataImage is a seed image in testdata/ and how it is made.
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
	{"qcow2-header.bin", "", func(t *testing.T, path string) {
		writeFile(t, path, append([]byte("QFI\xfb\x00\x00\x00\x03"), make([]byte, 504)...))
	}},
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
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		d, err := openBytes(b, Options{})
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

// FuzzOpen opens arbitrary bytes: Open must return a Disk or a *FormatError
// wrapping a sentinel, never panic, and any Disk must keep its invariants and
// read without error.
//
// The seed with an allocated dynamic VHD block is over 512 KiB, which makes
// minimizing new inputs slow; run with a short minimize time:
//
//	go test ./internal/diskfmt/ -run '^$' -fuzz FuzzOpen -fuzztime 30s -fuzzminimizetime 2s
func FuzzOpen(f *testing.F) {
	for _, img := range testdataImages {
		b, err := os.ReadFile(filepath.Join("testdata", img.name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
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
		if err := readThrough(d); err != nil {
			t.Fatal(err)
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
