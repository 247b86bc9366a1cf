package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"

	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func qemuInfo(t *testing.T, format, path string) (virtualSize int64) {
	t.Helper()
	out, err := exec.Command("qemu-img", "info", "-f", format, "--output", "json", path).Output()
	if err != nil {
		t.Fatalf("qemu-img info -f %s %s: %v", format, path, err)
	}
	var info struct {
		VirtualSize int64 `json:"virtual-size"`
	}
	json.Unmarshal(out, &info)
	return info.VirtualSize
}

// TestDownloadFormats uploads a sparse disk and downloads it in every export format.
// qemu-img judges each file: it checks clean, has the right virtual size and compares
// equal to the source.
func TestDownloadFormats(t *testing.T) {
	needQemuImg(t)
	s := startServer(t)
	alice := s.tenant("alice")
	dir := t.TempDir()
	src := filepath.Join(dir, "src.raw")
	const size = 40 << 20 // a whole number of MiB: Azure-ready as a fixed VHD
	writeDisk(t, src, size, 5, map[int64]int64{0: 12345, 7<<20 + 3: 1 << 20, size - 4096: 4096})
	s.ok(alice, "disk", "upload", src, "--name", "d")
	for _, c := range []struct{ format, qemuFormat string }{
		{"raw", "raw"}, {"vhd", "vpc"}, {"vhd-dynamic", "vpc"}, {"qcow2", "qcow2"},
	} {
		t.Run(c.format, func(t *testing.T) {
			out := filepath.Join(dir, "out-"+c.format)
			s.ok(alice, "disk", "download", "d", "--format", c.format, "--file", out)
			if c.qemuFormat == "qcow2" { // qemu-img check supports no other of these formats
				qemuImg(t, "check", "-f", c.qemuFormat, out)
			}
			if got := qemuInfo(t, c.qemuFormat, out); got != size {
				t.Fatalf("qemu-img sees virtual size %d, want %d", got, size)
			}
			qemuImg(t, "compare", "-f", "raw", "-F", c.qemuFormat, src, out)
		})
	}
	// A fixed VHD is exactly the virtual size plus the footer, and Azure-ready.
	if fi, _ := os.Stat(filepath.Join(dir, "out-vhd")); fi.Size() != size+512 {
		t.Fatalf("fixed VHD size %d, want %d", fi.Size(), size+512)
	}
}

// TestDownloadRangesAndResume checks that two downloads are byte-identical, that
// ranges serve the exact bytes, and that an interrupted download resumes.
func TestDownloadRangesAndResume(t *testing.T) {
	s := startServer(t)
	alice := s.tenant("alice")
	dir := t.TempDir()
	src := filepath.Join(dir, "src.raw")
	writeDisk(t, src, 24<<20, 8, map[int64]int64{4096: 9 << 20})
	s.ok(alice, "disk", "upload", src, "--name", "d")

	get := func(rng, ifRange string) (*http.Response, []byte) {
		req, _ := http.NewRequest("GET", s.url()+"/v1/disks/d/content?format=vhd", nil)
		req.Header.Set("Authorization", "Bearer "+alice)
		if rng != "" {
			req.Header.Set("Range", rng)
		}
		if ifRange != "" {
			req.Header.Set("If-Range", ifRange)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, body
	}
	r1, whole := get("", "")
	_, again := get("", "")
	if r1.StatusCode != 200 || len(whole) != 24<<20+512 || sha256.Sum256(whole) != sha256.Sum256(again) {
		t.Fatalf("two downloads differ or are wrong: %d, %d bytes", r1.StatusCode, len(whole))
	}
	etag := r1.Header.Get("ETag")
	r2, part := get("bytes=1000-5000999", etag)
	if r2.StatusCode != 206 || !bytes.Equal(part, whole[1000:5001000]) {
		t.Fatalf("range answer %d with %d bytes", r2.StatusCode, len(part))
	}
	if r3, _ := get("bytes=1000-", `"not-this-disk"`); r3.StatusCode != 200 {
		t.Fatalf("If-Range with a stale tag must send the whole disk, got %d", r3.StatusCode)
	}

	// An interrupted download: the first 3 MiB are on disk as the .part file.
	out := filepath.Join(dir, "d.vhd")
	os.WriteFile(out+".part", whole[:3<<20], 0o644)
	os.WriteFile(out+".part.etag", []byte(etag), 0o644)
	var res struct {
		Bytes       int64 `json:"bytes"`
		ResumedFrom int64 `json:"resumedFrom"`
	}
	s.json(alice, &res, "disk", "download", "d", "--format", "vhd", "--file", out)
	got, _ := os.ReadFile(out)
	if res.ResumedFrom != 3<<20 || !bytes.Equal(got, whole) {
		t.Fatalf("resumed download: %+v, identical %v", res, bytes.Equal(got, whole))
	}
	if _, err := os.Stat(out + ".part"); !os.IsNotExist(err) {
		t.Fatal("the .part file was left behind")
	}
	if msg := s.fails(alice, "disk", "download", "d", "--format", "vdi"); !strings.Contains(msg, "use raw, vhd") {
		t.Fatalf("unknown format: %s", msg)
	}
	if r := s.api(alice, "GET", "/v1/disks/d/content?format=vdi", nil); r.status != 400 {
		t.Fatalf("unknown format over the API: %d", r.status)
	}

}
