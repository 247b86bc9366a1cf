package e2e

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

type diskChecksums struct {
	SHA256    string `json:"sha256"`
	MD5       string `json:"md5"`
	VHDSHA256 string `json:"vhdSha256"`
	VHDMD5    string `json:"vhdMd5"`
}

// waitChecksums polls disk show until the server has computed the disk's
// checksums (the test's own timeout bounds the wait).
func waitChecksums(s *server, key, disk string) diskChecksums {
	s.t.Helper()
	for {
		var dk struct{ Checksums *diskChecksums }
		s.json(key, &dk, "disk", "show", disk)
		if dk.Checksums != nil {
			return *dk.Checksums
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func fileSums(t *testing.T, path string) (sha, md string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s, m := sha256.Sum256(data), md5.Sum(data)
	return hex.EncodeToString(s[:]), hex.EncodeToString(m[:])
}

// TestDiskChecksums: a stored disk shows the SHA-256 and MD5 of its raw content
// (as sha256sum and md5sum give for the file uploaded) and of its fixed-VHD
// export (as they give for the file downloaded), and a whole VHD or raw download
// carries that MD5 as Content-MD5, as Azure's blobs do. A disk made from another
// (a dense VHD upload of the same content) has the same raw sums.
func TestDiskChecksums(t *testing.T) {
	s := startServer(t)
	alice := s.tenant("alice")
	dir := t.TempDir()
	src := filepath.Join(dir, "web.raw")
	// Holes, data, and a last chunk shorter than the others.
	writeDisk(t, src, 9<<20+4096, 5, map[int64]int64{0: 4096, 5 << 20: 65536, 9 << 20: 4096})
	s.ok(alice, "disk", "upload", src, "--name", "web")
	sums := waitChecksums(s, alice, "web")
	wantSHA, wantMD5 := fileSums(t, src)
	if sums.SHA256 != wantSHA || sums.MD5 != wantMD5 {
		t.Fatalf("raw checksums %+v, sha256sum %s md5sum %s", sums, wantSHA, wantMD5)
	}

	vhd := filepath.Join(dir, "web.vhd")
	s.ok(alice, "disk", "download", "web", "--format", "vhd", "--file", vhd)
	vhdSHA, vhdMD5 := fileSums(t, vhd)
	if sums.VHDSHA256 != vhdSHA || sums.VHDMD5 != vhdMD5 {
		t.Fatalf("VHD checksums %s %s, the downloaded VHD's %s %s", sums.VHDSHA256, sums.VHDMD5, vhdSHA, vhdMD5)
	}
	for format, md := range map[string]string{"vhd": vhdMD5, "raw": wantMD5} {
		req, _ := http.NewRequest("HEAD", s.url()+"/v1/disks/web/content?format="+format, nil)
		req.Header.Set("Authorization", "Bearer "+alice)
		resp, err := s.httpClient().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		raw, _ := hex.DecodeString(md)
		if got := resp.Header.Get("Content-MD5"); got != base64.StdEncoding.EncodeToString(raw) {
			t.Errorf("%s download: Content-MD5 %q, want the MD5 %s", format, got, md)
		}
	}

	// The VHD uploaded back is another disk with the same content: same raw sums.
	s.ok(alice, "disk", "upload", vhd, "--name", "again")
	if again := waitChecksums(s, alice, "again"); again.SHA256 != wantSHA || again.MD5 != wantMD5 {
		t.Errorf("the same content uploaded as a VHD: %+v", again)
	}
}
