package diskfmt

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

func TestDetect(t *testing.T) {
	dyn := buildDynamicVHD(dynSpec{size: 1 << 20})
	diff := buildDynamicVHD(dynSpec{size: 1 << 20, diskType: diskTypeDiff})
	iso := make([]byte, 40<<10)
	copy(iso[32769:], "CD001")
	fixedHead := make([]byte, 4096) // a fixed-type footer at 0 is not a fixed VHD
	copy(fixedHead, fixedVHD(make([]byte, 512))[512:])
	tests := []struct {
		name string
		data []byte
		want Format
	}{
		{"empty", nil, Raw},
		{"100 bytes", make([]byte, 100), Raw},
		{"short conectix", []byte("conectix"), Raw},
		{"one sector", make([]byte, 512), Raw},
		{"iso", iso, Raw},
		{"qcow2", []byte("QFI\xfb\x00\x00\x00\x03"), QCOW2},
		{"vhdx", []byte("vhdxfile"), VHDX},
		{"vmdk", []byte("KDMV"), VMDK},
		{"fixed vhd", fixedVHD(make([]byte, 4096)), VHDFixed},
		{"fixed vhd of one sector", fixedVHD(make([]byte, 512)), VHDFixed},
		{"dynamic vhd", dyn, VHDDynamic},
		{"dynamic vhd without its copy at 0", append(make([]byte, 512), dyn[512:]...), VHDDynamic},
		{"truncated dynamic vhd", dyn[:600], VHDDynamic},
		{"differencing vhd", diff, VHDDiff},
		{"fixed footer at offset 0 only", fixedHead, Raw},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Detect(bytes.NewReader(tt.data), int64(len(tt.data)))
			if err != nil || got != tt.want {
				t.Fatalf("Detect = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestDetectErrors(t *testing.T) {
	if _, err := Detect(bytes.NewReader(nil), -1); !errors.Is(err, ErrFormat) {
		t.Errorf("negative size: %v", err)
	}
	// The stated size is larger than the data: an I/O error, not a format.
	_, err := Detect(bytes.NewReader(make([]byte, 10)), 1000)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("short reader: %v", err)
	}
}

func TestFormatErrorMessage(t *testing.T) {
	e := &FormatError{Format: VHDFixed, Offset: 1048576, Field: "footer",
		Msg: "checksum 0x1234 does not match computed 0x5678", Err: ErrFormat}
	want := "vhd footer at offset 1048576: checksum 0x1234 does not match computed 0x5678"
	if e.Error() != want {
		t.Errorf("Error() = %q, want %q", e.Error(), want)
	}
	if !errors.Is(e, ErrFormat) || errors.Is(e, ErrUnsupported) {
		t.Error("FormatError does not unwrap to its sentinel only")
	}
	if !errors.Is(&FormatError{}, ErrFormat) {
		t.Error("FormatError with nil Err does not unwrap to ErrFormat")
	}
	e = &FormatError{Format: QCOW2, Msg: "not supported yet", Err: ErrUnsupported}
	if e.Error() != "qcow2: not supported yet" {
		t.Errorf("Error() = %q", e.Error())
	}
}

func TestOpenRaw(t *testing.T) {
	data := make([]byte, 64<<10)
	copy(data[1000:], "hello")
	d, err := openBytes(data, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Format() != Raw || d.VirtualSize() != int64(len(data)) {
		t.Fatalf("got %s of %d bytes", d.Format(), d.VirtualSize())
	}
	if got := d.Extents(); len(got) != 1 || got[0] != (Extent{0, int64(len(data))}) {
		t.Errorf("extents %v, want one covering the file", got)
	}
	if !bytes.Equal(readAll(t, d), data) {
		t.Error("content differs")
	}
}

func TestOpenRawRefusals(t *testing.T) {
	tests := []struct {
		name     string
		size     int
		opt      Options
		sentinel error
		msg      string
	}{
		{"empty", 0, Options{}, ErrFormat, "empty"},
		{"100 bytes", 100, Options{}, ErrFormat, "pad it with zeros to 512 bytes"},
		{"not whole sectors", 1536 + 7, Options{}, ErrFormat, "not a whole number of 512-byte sectors"},
		{"above limit", 8192, Options{MaxVirtualSize: 4096}, ErrTooLarge, "above the limit of 4 KiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := openBytes(make([]byte, tt.size), tt.opt)
			fe := wantFormatError(t, err, tt.sentinel)
			if !strings.Contains(err.Error(), tt.msg) || fe.Format != Raw {
				t.Errorf("error %q does not say %q", err, tt.msg)
			}
		})
	}
}

func TestReadAtSemantics(t *testing.T) {
	data := bytes.Repeat([]byte{7}, 1024)
	d, err := openBytes(data, Options{})
	if err != nil {
		t.Fatal(err)
	}
	p := make([]byte, 100)
	if n, err := d.ReadAt(p, 1000); n != 24 || err != io.EOF {
		t.Errorf("read across the end = %d, %v; want 24, EOF", n, err)
	}
	if n, err := d.ReadAt(p, 1024); n != 0 || err != io.EOF {
		t.Errorf("read at the end = %d, %v; want 0, EOF", n, err)
	}
	if n, err := d.ReadAt(p, 924); n != 100 || err != nil {
		t.Errorf("read up to the end = %d, %v; want 100, nil", n, err)
	}
	if _, err := d.ReadAt(p, -1); err == nil {
		t.Error("negative offset accepted")
	}
	if n, err := d.ReadAt(nil, 5); n != 0 || err != nil {
		t.Errorf("empty read = %d, %v", n, err)
	}
}

func TestExtentReaderHoles(t *testing.T) {
	data := bytes.Repeat([]byte{0xEE}, 8192)
	er := &extentReader{r: bytes.NewReader(data), extents: []Extent{{1024, 512}, {4096, 1024}}}
	d := &disk{format: Raw, size: 8192, extents: er.extents, spans: er}
	got := readAll(t, d)
	for i, c := range got {
		in := (i >= 1024 && i < 1536) || (i >= 4096 && i < 5120)
		if (c == 0xEE) != in {
			t.Fatalf("byte %d = %#x; inside an extent: %v", i, c, in)
		}
	}
	checkExtents(t, d, got)
}

func TestSizeString(t *testing.T) {
	for n, want := range map[int64]string{
		0: "0 bytes", 511: "511 bytes", 1024: "1 KiB", 10 << 30: "10 GiB",
		1049088: "1049088 bytes (1.0 MiB)", 4 << 40: "4 TiB", 1 << 62: "4 EiB",
	} {
		if got := sizeString(n); got != want {
			t.Errorf("sizeString(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestExtentList(t *testing.T) {
	var l extentList
	for _, e := range []Extent{{0, 512}, {512, 512}, {2048, 100}, {2100, 100}, {4096, 0}, {8192, 512}} {
		l.add(e.Offset, e.Length)
	}
	want := []Extent{{0, 1024}, {2048, 152}, {8192, 512}}
	if fmt.Sprint(l.exts) != fmt.Sprint(want) {
		t.Errorf("merged %v, want %v", l.exts, want)
	}
	// Coarsening fills gaps below the new granularity and keeps a superset.
	l.coarsen()
	if fmt.Sprint(l.exts) != fmt.Sprint([]Extent{{0, 8704}}) || l.gap != 1<<20 {
		t.Errorf("coarsened to %v (gap %d)", l.exts, l.gap)
	}
	l.add(3<<20, 512)
	if len(l.exts) != 2 {
		t.Errorf("a range beyond the gap was merged: %v", l.exts)
	}
}

// countingReader counts the ReadAt calls made on an image.
type countingReader struct {
	r     io.ReaderAt
	reads int
}

func (c *countingReader) ReadAt(p []byte, off int64) (int, error) {
	c.reads++
	return c.r.ReadAt(p, off)
}

func TestHolesDoNotTouchTheFile(t *testing.T) {
	q, _ := qcowBase(t)
	images := map[string][]byte{
		"qcow2":       q,
		"vhd dynamic": buildDynamicVHD(dynSpec{size: 3 << 20, blocks: map[int64]byte{0: 1, 4: 4}}),
		"vhdx":        buildCompactVHDX(3<<20, 1<<20, []uint64{batNotPresent, batZero, batUnmapped}),
	}
	for name, img := range images {
		cr := &countingReader{r: bytes.NewReader(img)}
		d, err := Open(cr, int64(len(img)), Options{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		cr.reads = 0
		p := make([]byte, 64<<10)
		for off := int64(0); off < d.VirtualSize(); off += int64(len(p)) {
			if !inExtents(d.Extents(), off) && !inExtents(d.Extents(), off+int64(len(p))-1) {
				if _, err := d.ReadAt(p, off); err != nil {
					t.Fatal(err)
				}
			}
		}
		if cr.reads != 0 {
			t.Errorf("%s: reading holes made %d reads of the file", name, cr.reads)
		}
	}
}

func TestConcurrentReads(t *testing.T) {
	for _, name := range []string{"qcow2-zlib-4k.qcow2", "vmdk-stream.vmdk.gz", "vhd-fixed-8k.vhd", "qcow2-v3-4k.qcow2"} {
		img := readSeed(t, name)
		d, err := openBytes(img, Options{})
		if err != nil {
			t.Fatal(err)
		}
		want := readAll(t, d)
		done := make(chan error)
		for g := range 8 {
			go func() {
				p := make([]byte, 1000+g*100)
				for off := int64(g * 37); off < d.VirtualSize(); off += int64(len(p)) {
					n, err := d.ReadAt(p, off)
					if err != nil && err != io.EOF {
						done <- err
						return
					}
					if !bytes.Equal(p[:n], want[off:off+int64(n)]) {
						done <- fmt.Errorf("%s: concurrent read at %d differs", name, off)
						return
					}
				}
				done <- nil
			}()
		}
		for range 8 {
			if err := <-done; err != nil {
				t.Error(err)
			}
		}
	}
}
