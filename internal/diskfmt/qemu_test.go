package diskfmt

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// needQemu skips the test when qemu-img or qemu-io is not installed.
func needQemu(t testing.TB) {
	t.Helper()
	for _, tool := range []string{"qemu-img", "qemu-io"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not in PATH", tool)
		}
	}
}

// run runs a command and fails the test if it fails.
func run(t testing.TB, name string, args ...string) []byte {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %q: %v\n%s", name, args, err, out)
	}
	return out
}

// qemuVirtualSize asks qemu-img what virtual size it sees (format given
// explicitly, never probed).
func qemuVirtualSize(t testing.TB, qfmt, path string) int64 {
	t.Helper()
	var info struct {
		VirtualSize int64 `json:"virtual-size"`
	}
	out := run(t, "qemu-img", "info", "-f", qfmt, "--output=json", path)
	if err := json.Unmarshal(out, &info); err != nil {
		t.Fatalf("qemu-img info: %v\n%s", err, out)
	}
	return info.VirtualSize
}

// qemuWrite is a write done with qemu-io: n bytes of pattern at off.
type qemuWrite struct {
	off, n  int64
	pattern byte
}

// scattered returns writes at awkward places of a disk of size bytes: the
// first sector, an unaligned run, a run across a 2 MiB block boundary, a
// run in the middle, the last sector.
func scattered(size int64) []qemuWrite {
	return []qemuWrite{
		{0, 512, 0xab},
		{1000, 3000, 0xcd},
		{2<<20 - 100, 200, 0x11},
		{size / 2, 64 << 10, 0x22},
		{size - 512, 512, 0x33},
	}
}

// makeQemuImage creates an image with qemu-img and writes to it with qemu-io.
func makeQemuImage(t testing.TB, path, qfmt, opts string, size int64, writes []qemuWrite) {
	t.Helper()
	args := []string{"create", "-q", "-f", qfmt}
	if opts != "" {
		args = append(args, "-o", opts)
	}
	run(t, "qemu-img", append(args, path, fmt.Sprint(size))...)
	for _, w := range writes {
		run(t, "qemu-io", "-f", qfmt, "-c", fmt.Sprintf("write -q -P %#x %d %d", w.pattern, w.off, w.n), path)
	}
}

// openFile opens path with diskfmt through an *os.File.
func openFile(t testing.TB, path string) Disk {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	d, err := Open(f, st.Size(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// fsHasHoles reports whether the file system under dir reports holes.
func fsHasHoles(t testing.TB, dir string) bool {
	if !holesSupported {
		return false
	}
	f, err := os.Create(filepath.Join(dir, "holes-probe"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(4 << 20); err != nil {
		t.Fatal(err)
	}
	hole, err := f.Seek(0, seekHole)
	return err == nil && hole == 0
}

// qemuCase is an image made by qemu and what diskfmt must make of it.
type qemuCase struct {
	name    string
	qfmt    string   // qemu's name of the format under test
	opts    string   // -o options for qemu-img create or convert
	convert bool     // write a raw image, then qemu-img convert it to qfmt
	args    []string // more qemu-img convert arguments (e.g. -c)
	size    int64
	want    Format
	writes  bool     // scattered writes
	more    []string // more qemu-io commands
	gran    int64    // allocation granularity to check extents against; 0 = holes only, -1 = no check
}

func TestAgainstQemu(t *testing.T) {
	needQemu(t)
	runQemuCases(t, []qemuCase{
		{name: "raw", qfmt: "raw", size: 7<<20 + 512, want: Raw, writes: true},
		{name: "raw empty", qfmt: "raw", size: 3 << 20, want: Raw},
		{name: "vhd fixed", qfmt: "vpc", opts: "subformat=fixed,force_size", size: 7<<20 + 1536, want: VHDFixed, writes: true},
		{name: "vhd fixed chs-rounded", qfmt: "vpc", opts: "subformat=fixed", size: 10 << 20, want: VHDFixed, writes: true},
		{name: "vhd dynamic", qfmt: "vpc", opts: "subformat=dynamic,force_size", size: 9<<20 + 512, want: VHDDynamic,
			writes: true, gran: 2 << 20},
		{name: "vhd dynamic chs-rounded", qfmt: "vpc", opts: "subformat=dynamic", size: 10 << 20, want: VHDDynamic,
			writes: true, gran: 2 << 20},
		{name: "vhd dynamic empty", qfmt: "vpc", opts: "subformat=dynamic,force_size", size: 6 << 20, want: VHDDynamic, gran: 2 << 20},
	})
}

func runQemuCases(t *testing.T, cases []qemuCase) {
	dir := t.TempDir()
	holes := fsHasHoles(t, dir)
	for i, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, fmt.Sprintf("img%d", i))
			var writes []qemuWrite
			if tt.writes {
				writes = scattered(tt.size)
			}
			if tt.convert {
				makeQemuImage(t, path+".src", "raw", "", tt.size, writes)
				args := []string{"convert", "-f", "raw", "-O", tt.qfmt}
				if tt.opts != "" {
					args = append(args, "-o", tt.opts)
				}
				run(t, "qemu-img", append(append(args, tt.args...), path+".src", path)...)
			} else {
				makeQemuImage(t, path, tt.qfmt, tt.opts, tt.size, writes)
			}
			for _, c := range tt.more {
				run(t, "qemu-io", "-f", tt.qfmt, "-c", c, path)
			}
			checkAgainstQemu(t, tt, path, writes, holes)
		})
	}
}

// checkAgainstQemu opens path and compares it with qemu-img's raw conversion.
func checkAgainstQemu(t *testing.T, tt qemuCase, path string, writes []qemuWrite, holes bool) {
	ref := path + ".raw"
	run(t, "qemu-img", "convert", "-f", tt.qfmt, "-O", "raw", path, ref)
	want, err := os.ReadFile(ref)
	if err != nil {
		t.Fatal(err)
	}
	d := openFile(t, path)
	if d.Format() != tt.want || d.VirtualSize() != int64(len(want)) ||
		d.VirtualSize() != qemuVirtualSize(t, tt.qfmt, path) {
		t.Fatalf("opened %s of %d bytes; want %s of %d", d.Format(), d.VirtualSize(), tt.want, len(want))
	}
	if !bytes.Equal(readAll(t, d), want) {
		t.Fatal("virtual disk differs from qemu-img convert output")
	}
	checkExtents(t, d, want)
	var allocated int64
	for _, e := range d.Extents() {
		allocated += e.Length
	}
	t.Logf("%d extents, %d of %d bytes allocated", len(d.Extents()), allocated, d.VirtualSize())
	switch {
	case tt.gran < 0:
	case tt.gran > 0 && !tt.convert && len(tt.more) == 0:
		if want := touchedBlocks(writes, tt.gran, d.VirtualSize()); allocated != want {
			t.Errorf("extents %v cover %d bytes; the blocks written cover %d", d.Extents(), allocated, want)
		}
	case tt.gran > 0:
		if most := touchedBlocks(writes, tt.gran, d.VirtualSize()); allocated > most {
			t.Errorf("extents %v cover %d bytes; the blocks written cover only %d", d.Extents(), allocated, most)
		}
	case holes && allocated > d.VirtualSize()/2:
		t.Errorf("extents %v cover %d of %d bytes: holes not found", d.Extents(), allocated, d.VirtualSize())
	}
}

// touchedBlocks is how many bytes of the virtual disk lie in blocks of
// blockSize that writes touched.
func touchedBlocks(writes []qemuWrite, blockSize, size int64) int64 {
	touched := map[int64]bool{}
	for _, w := range writes {
		for b := w.off / blockSize; b <= (w.off+w.n-1)/blockSize; b++ {
			touched[b] = true
		}
	}
	var n int64
	for b := range touched {
		n += min(blockSize, size-b*blockSize)
	}
	return n
}

func TestVHDFooterReadByQemu(t *testing.T) {
	needQemu(t)
	dir := t.TempDir()
	for _, size := range []int64{1<<20 + 1536, 20 << 20, 33<<20 + 512} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			data := make([]byte, size)
			for i := int64(0); i < size; i += 4096 {
				binary.BigEndian.PutUint64(data[i:], uint64(i)|1)
			}
			rawPath := filepath.Join(dir, fmt.Sprintf("%d.raw", size))
			vhdPath := filepath.Join(dir, fmt.Sprintf("%d.vhd", size))
			if err := os.WriteFile(rawPath, data, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(vhdPath, fixedVHD(data), 0o644); err != nil {
				t.Fatal(err)
			}
			if got := qemuVirtualSize(t, "vpc", vhdPath); got != size {
				t.Errorf("qemu-img sees %d bytes, want %d", got, size)
			}
			run(t, "qemu-img", "compare", "-q", "-f", "vpc", "-F", "raw", vhdPath, rawPath)
			if d := openFile(t, vhdPath); d.Format() != VHDFixed || d.VirtualSize() != size {
				t.Errorf("reopened as %s of %d", d.Format(), d.VirtualSize())
			}
		})
	}
}

func TestCHSMatchesQemu(t *testing.T) {
	needQemu(t)
	dir := t.TempDir()
	// Without force_size qemu rounds the size to the CHS geometry and
	// writes both: the geometry of its current size must be ours.
	for _, size := range []string{"1M", "10M", "100M", "1G", "10G", "127G", "200G"} {
		path := filepath.Join(dir, size+".vhd")
		run(t, "qemu-img", "create", "-q", "-f", "vpc", "-o", "subformat=dynamic", path, size)
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		cur := int64(binary.BigEndian.Uint64(b[ftCurrentSize:]))
		c, h, s := chsGeometry(cur / 512)
		qc, qh, qs := binary.BigEndian.Uint16(b[ftGeometry:]), b[ftGeometry+2], b[ftGeometry+3]
		if c != qc || h != qh || s != qs {
			t.Errorf("%s (%d bytes): chsGeometry = %d/%d/%d, qemu wrote %d/%d/%d", size, cur, c, h, s, qc, qh, qs)
		}
	}
}
