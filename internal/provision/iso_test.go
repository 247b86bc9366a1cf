package provision

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/hangarvm/hangar/internal/agent/isofs"
)

func writeISO(t testing.TB, files []File) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteISO(&buf, files); err != nil {
		t.Fatal(err)
	}
	if buf.Len()%sectorSize != 0 {
		t.Fatalf("image of %d bytes is not whole sectors", buf.Len())
	}
	return buf.Bytes()
}

// readBack opens img with the agent's reader and returns its files by name.
func readBack(t testing.TB, img []byte) map[string][]byte {
	t.Helper()
	v, err := isofs.Open(bytes.NewReader(img), int64(len(img)))
	if err != nil {
		t.Fatal(err)
	}
	if v.Label() != VolumeLabel {
		t.Fatalf("label %q", v.Label())
	}
	out := map[string][]byte{}
	for _, f := range v.Files() {
		data, err := v.ReadFile(f.Name, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		out[f.Name] = data
	}
	return out
}

func mediumFiles(t testing.TB, name string) []File {
	c := goldenCases(t)[name]
	files, err := Files(&c)
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func TestWriteISOReadBack(t *testing.T) {
	for _, name := range []string{"linux-both", "windows"} {
		files := mediumFiles(t, name)
		img := writeISO(t, files)
		got := readBack(t, img)
		if len(got) != len(files) {
			t.Errorf("%s: read %d files, wrote %d", name, len(got), len(files))
		}
		for _, f := range files {
			if !bytes.Equal(got[f.Path], f.Data) {
				t.Errorf("%s: %s reads back as %q", name, f.Path, got[f.Path])
			}
		}
		if again := writeISO(t, files); !bytes.Equal(again, img) {
			t.Errorf("%s: WriteISO is not deterministic", name)
		}
	}
}

// TestWriteISOManyFiles makes directories of several sectors, an empty file and
// names that collide once mangled to 8.3.
func TestWriteISOManyFiles(t *testing.T) {
	var files []File
	for i := range 150 {
		files = append(files, File{Path: fmt.Sprintf("some-long-file-name-%03d.conf", i), Data: bytes.Repeat([]byte{byte(i)}, i*37)})
	}
	files = append(files, File{Path: "empty"}, File{Path: strings.Repeat("x", MaxISOFileName)})
	img := writeISO(t, files)
	got := readBack(t, img)
	if len(got) != len(files) {
		t.Fatalf("read %d files, wrote %d", len(got), len(files))
	}
	for _, f := range files {
		if !bytes.Equal(got[f.Path], f.Data) {
			t.Errorf("%s reads back wrong (%d bytes)", f.Path, len(got[f.Path]))
		}
	}
	if names := isoinfoNames(t, img, "-R"); names != nil && len(names) != len(files) {
		t.Errorf("isoinfo -R lists %d files, want %d", len(names), len(files))
	}
}

func TestWriteISORefusesBadNames(t *testing.T) {
	for _, name := range []string{"", ".", "..", "a/b", "a:b", "a;1", "a\x01", strings.Repeat("x", MaxISOFileName+1), "\xff"} {
		if err := WriteISO(&bytes.Buffer{}, []File{{Path: name}}); err == nil {
			t.Errorf("WriteISO accepted name %q", name)
		}
	}
	if err := WriteISO(&bytes.Buffer{}, []File{{Path: "a"}, {Path: "a"}}); err == nil {
		t.Error("WriteISO accepted a repeated name")
	}
}

// isoinfo runs isoinfo on img; it skips the test when isoinfo (package genisoimage)
// is missing.
func isoinfo(t testing.TB, img []byte, args ...string) string {
	t.Helper()
	bin, err := exec.LookPath("isoinfo")
	if err != nil {
		t.Skip("isoinfo not installed (apt-get install genisoimage)")
	}
	path := filepath.Join(t.TempDir(), "cidata.iso")
	if err := os.WriteFile(path, img, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, append(args, "-i", path)...).CombinedOutput()
	if err != nil {
		t.Fatalf("isoinfo %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// isoinfoNames lists the root's file names as isoinfo shows them with naming (-R or
// -J), sorted.
func isoinfoNames(t testing.TB, img []byte, naming string) []string {
	var names []string
	for _, line := range strings.Split(isoinfo(t, img, naming, "-l"), "\n") {
		if !strings.HasPrefix(line, "-") { // regular files only
			continue
		}
		fields := strings.Fields(line)
		name := fields[len(fields)-1]
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

func TestISOWithIsoinfo(t *testing.T) {
	files := mediumFiles(t, "windows")
	img := writeISO(t, files)
	d := isoinfo(t, img, "-d")
	for _, want := range []string{"Volume id: cidata", "Joliet with UCS level 3 found", "Rock Ridge signatures version 1 found",
		fmt.Sprintf("Volume size is: %d", len(img)/sectorSize)} {
		if !strings.Contains(d, want) {
			t.Errorf("isoinfo -d lacks %q:\n%s", want, d)
		}
	}
	want := "Unattend.xml meta-data ovf-env.xml user-data"
	for _, naming := range []string{"-R", "-J"} {
		if got := strings.Join(isoinfoNames(t, img, naming), " "); got != want {
			t.Errorf("isoinfo %s -l names: %q, want %q", naming, got, want)
		}
	}
	for _, f := range files {
		for _, naming := range []string{"-R", "-J"} {
			out := isoinfo(t, img, naming, "-x", "/"+f.Path)
			if out != string(f.Data) {
				t.Errorf("isoinfo %s -x /%s gives %q", naming, f.Path, out)
			}
		}
	}
	// The plain ISO 9660 names are the 8.3 ones, sorted as ECMA-119 asks.
	plain := isoinfo(t, img, "-l")
	if !strings.Contains(plain, "META_DAT.;1") || !strings.Contains(plain, "UNATTEND.XML;1") {
		t.Errorf("isoinfo -l:\n%s", plain)
	}
}

// TestISOWithBlkid checks the label the way udev and cloud-init's ds-identify see it.
func TestISOWithBlkid(t *testing.T) {
	bin, err := exec.LookPath("blkid")
	if err != nil {
		t.Skip("blkid not installed")
	}
	path := filepath.Join(t.TempDir(), "cidata.iso")
	if err := os.WriteFile(path, writeISO(t, mediumFiles(t, "linux-keys")), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "-p", "-o", "export", path).CombinedOutput()
	if err != nil {
		t.Fatalf("blkid: %v\n%s", err, out)
	}
	for _, want := range []string{"LABEL=cidata\n", "TYPE=iso9660\n"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("blkid lacks %q:\n%s", want, out)
		}
	}
}

// TestISOGolden pins the bytes of one image: a change to the writer shows here.
func TestISOGolden(t *testing.T) {
	img := writeISO(t, mediumFiles(t, "linux-keys"))
	got := fmt.Sprintf("%d sectors sha256 %x\n", len(img)/sectorSize, sha256.Sum256(img))
	path := filepath.Join("testdata", "linux-keys.iso.golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("image changed: %s, golden %s", got, want)
	}
}
