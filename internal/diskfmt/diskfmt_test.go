package diskfmt

import (
	"bytes"
	"errors"
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

func TestUnsupportedFormats(t *testing.T) {
	for _, magic := range []string{"QFI\xfb", "vhdxfile", "KDMV"} {
		data := append([]byte(magic), make([]byte, 4096)...)
		_, err := openBytes(data, Options{})
		wantFormatError(t, err, ErrUnsupported)
		if !strings.Contains(err.Error(), "not supported yet") {
			t.Errorf("%q: %v", magic, err)
		}
	}
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
