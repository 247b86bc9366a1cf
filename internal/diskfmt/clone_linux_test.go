package diskfmt

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestCopyFileRanges covers the kernel's copy (copy_file_range) that cloneExtents
// uses on file systems with reflinks, here on whatever file system the test runs
// on: raw and fixed VHD sources, written as raw and fixed VHD, must give the disk,
// keep the source's allocation and report every byte of data as progress.
func TestCopyFileRanges(t *testing.T) {
	dir := t.TempDir()
	data := make([]byte, 12<<20)
	for _, off := range []int{0, 5 << 20, 11<<20 + 4096} {
		copy(data[off:], bytes.Repeat([]byte{byte(off>>20) + 1}, 300<<10))
	}
	for name, content := range map[string][]byte{"raw": data, "fixed vhd": fixedVHD(data)} {
		src := filepath.Join(dir, "src-"+name)
		f, err := os.Create(src)
		if err != nil {
			t.Fatal(err)
		}
		// Only the non-zero runs, so the source is sparse; and 128 KiB of zeros,
		// allocated: the kernel's copy keeps them (copyVirtual would leave a hole).
		for off := 0; off < len(content); off += 4096 {
			if block := content[off:min(off+4096, len(content))]; !allZero(block) {
				f.WriteAt(block, int64(off))
			}
		}
		f.WriteAt(make([]byte, 128<<10), 8<<20)
		f.Truncate(int64(len(content)))
		d := openFile(t, src)
		var dataBytes int64
		for _, e := range d.Extents() {
			dataBytes += e.Length
		}
		out := filepath.Join(dir, name+".out")
		o, err := os.Create(out)
		if err != nil {
			t.Fatal(err)
		}
		var progress int64
		n, ok, err := copyFileRanges(o, f, d.Extents(), 0, d.VirtualSize(), WriteOptions{Progress: func(k int64) { progress += k }})
		if !ok || err != nil || n != int64(len(data)) {
			t.Fatalf("%s: copyFileRanges = %d, %v, %v", name, n, ok, err)
		}
		if pos, _ := o.Seek(0, io.SeekCurrent); pos != int64(len(data)) {
			t.Errorf("%s: output left at %d, want after the copy at %d", name, pos, len(data))
		}
		o.Truncate(int64(len(data)))
		o.Close()
		f.Close()
		back := openFile(t, out)
		if !bytes.Equal(readAll(t, back), data) {
			t.Errorf("%s: the copy differs from the disk", name)
		}
		if progress != dataBytes {
			t.Errorf("%s: progress told of %d bytes, the source holds %d", name, progress, dataBytes)
		}
		if got := back.Extents(); fsHasHoles(t, dir) && !slices.Equal(got, d.Extents()) {
			t.Errorf("%s: extents %v, source %v", name, got, d.Extents())
		}
	}
}
