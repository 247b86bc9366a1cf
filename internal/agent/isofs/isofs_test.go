package isofs

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func open(t *testing.T, img []byte) *Volume {
	t.Helper()
	v, err := Open(bytes.NewReader(img), int64(len(img)))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func names(v *Volume) string {
	var n []string
	for _, f := range v.Files() {
		n = append(n, f.Name)
	}
	return strings.Join(n, " ")
}

func TestTestdataImages(t *testing.T) {
	tests := []struct {
		file, names string
	}{
		{"rr-joliet.iso", "empty meta-data ovf-env.xml Unattend.xml user-data"},
		{"rr.iso", "empty meta-data ovf-env.xml Unattend.xml user-data"},
		{"joliet.iso", "Unattend.xml empty meta-data ovf-env.xml user-data"},
		{"plain.iso", "empty meta_dat ovf_env.xml unattend.xml user_dat"},
		{"hangar.iso", "meta-data ovf-env.xml Unattend.xml user-data"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			img, err := os.ReadFile(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			label, err := Label(bytes.NewReader(img), int64(len(img)))
			if err != nil || label != "cidata" {
				t.Fatalf("Label = %q, %v", label, err)
			}
			v := open(t, img)
			if got := names(v); got != tt.names {
				t.Errorf("names %q, want %q", got, tt.names)
			}
			if tt.file == "plain.iso" {
				return
			}
			meta, err := v.ReadFile("meta-data", 1024)
			if err != nil || !bytes.HasPrefix(meta, []byte(`{"instance-id"`)) && !bytes.HasPrefix(meta, []byte("{\n")) {
				t.Errorf("meta-data = %q, %v", meta, err)
			}
			if _, err := v.ReadFile("meta-data", 10); err == nil {
				t.Error("ReadFile ignored its limit")
			}
			if _, err := v.ReadFile("nope", 10); !errors.Is(err, ErrNotFound) {
				t.Errorf("ReadFile(nope) = %v", err)
			}
		})
	}
	img, _ := os.ReadFile("testdata/rr-joliet.iso")
	if b, err := open(t, img).ReadFile("empty", 0); err != nil || len(b) != 0 {
		t.Errorf("empty file: %q, %v", b, err)
	}
}

// TestGenisoimage reads fresh images from genisoimage with names the medium uses and
// longer ones.
func TestGenisoimage(t *testing.T) {
	bin, err := exec.LookPath("genisoimage")
	if err != nil {
		t.Skip("genisoimage not installed")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	os.Mkdir(src, 0o755)
	want := map[string]string{
		"meta-data": "{}", "user-data": "#cloud-config\n", "ovf-env.xml": "<x/>",
		"a-rather-long-file-name-with-dashes.conf": strings.Repeat("z", 5000),
	}
	for n, c := range want {
		os.WriteFile(filepath.Join(src, n), []byte(c), 0o644)
	}
	for _, opts := range [][]string{{"-R", "-J"}, {"-J"}, {"-R"}, {"-r", "-J", "-joliet-long"}} {
		iso := filepath.Join(dir, "out.iso")
		args := append([]string{"-quiet", "-V", "CIDATA", "-o", iso}, opts...)
		if out, err := exec.Command(bin, append(args, src)...).CombinedOutput(); err != nil {
			t.Fatalf("genisoimage %v: %v\n%s", opts, err, out)
		}
		img, _ := os.ReadFile(iso)
		v := open(t, img)
		if v.Label() != "CIDATA" {
			t.Errorf("%v: label %q", opts, v.Label())
		}
		for n, c := range want {
			got, err := v.ReadFile(n, 1<<20)
			if err != nil || string(got) != c {
				t.Errorf("%v: %s = %q, %v (files: %s)", opts, n, got, err, names(v))
			}
		}
	}
}

func TestNotISO(t *testing.T) {
	for _, img := range [][]byte{nil, make([]byte, 100), make([]byte, 64<<10), bytes.Repeat([]byte("CD001"), 20000)} {
		if _, err := Label(bytes.NewReader(img), int64(len(img))); !errors.Is(err, ErrNotISO) {
			t.Errorf("Label(%d bytes) = %v", len(img), err)
		}
		if _, err := Open(bytes.NewReader(img), int64(len(img))); !errors.Is(err, ErrNotISO) {
			t.Errorf("Open(%d bytes) = %v", len(img), err)
		}
	}
}

// TestLyingImages corrupts the root directory record of a good image.
func TestLyingImages(t *testing.T) {
	good, err := os.ReadFile("testdata/hangar.iso")
	if err != nil {
		t.Fatal(err)
	}
	const rootRec = 16*SectorSize + 156
	tests := []struct {
		name string
		edit func(b []byte)
	}{
		{"root size huge", func(b []byte) { binary.LittleEndian.PutUint32(b[rootRec+10:], 1<<31) }},
		{"root size over limit", func(b []byte) {
			binary.LittleEndian.PutUint32(b[rootRec+10:], MaxDirectorySize+SectorSize)
			binary.LittleEndian.PutUint32(b[rootRec+2:], 0)
		}},
		{"root extent past end", func(b []byte) { binary.LittleEndian.PutUint32(b[rootRec+2:], 1<<30) }},
		{"record length too short", func(b []byte) { b[24*SectorSize] = 20 }},
		{"identifier too long", func(b []byte) { b[24*SectorSize+32] = 250 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img := bytes.Clone(good)
			tt.edit(img)
			_, err := Open(bytes.NewReader(img), int64(len(img)))
			var fe *FormatError
			if !errors.As(err, &fe) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("Open = %v, want a *FormatError", err)
			}
		})
	}
	// A file whose extent lies past the end fails on read, not on open.
	img := bytes.Clone(good)
	v := open(t, img[:len(img)-SectorSize])
	if _, err := v.ReadFile("user-data", 1<<20); !errors.Is(err, ErrInvalid) {
		t.Errorf("ReadFile of a cut image = %v", err)
	}
}

// TestContinuationLoop points a CE entry at itself: reading must end.
func TestContinuationLoop(t *testing.T) {
	img, _ := os.ReadFile("testdata/hangar.iso")
	img = bytes.Clone(img)
	// The CE area (sector 23) gets a CE entry pointing at sector 23 again.
	ce := img[23*SectorSize:]
	copy(ce, []byte{'C', 'E', 28, 1})
	binary.LittleEndian.PutUint32(ce[4:], 23)
	binary.LittleEndian.PutUint32(ce[20:], 28)
	v := open(t, img)
	if got := names(v); got != "meta-data ovf-env.xml Unattend.xml user-data" {
		t.Errorf("names %q", got)
	}
}

func FuzzOpen(f *testing.F) {
	paths, _ := filepath.Glob("testdata/*.iso")
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, img []byte) {
		v, err := Open(bytes.NewReader(img), int64(len(img)))
		if err != nil {
			if !errors.Is(err, ErrNotISO) && !errors.Is(err, ErrInvalid) {
				t.Fatalf("Open error wraps no sentinel: %v", err)
			}
			return
		}
		for _, file := range v.Files() {
			data, err := v.ReadFile(file.Name, 1<<20)
			if err == nil && int64(len(data)) != file.Size {
				t.Fatalf("%s: read %d bytes, size %d", file.Name, len(data), file.Size)
			}
		}
	})
}
