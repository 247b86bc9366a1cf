package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestGarbageCollection(t *testing.T) {
	s := startServer(t)
	admin, alice := s.adminKey(), s.tenant("alice")
	dir := t.TempDir()
	keep, drop := filepath.Join(dir, "keep.raw"), filepath.Join(dir, "drop.raw")
	writeDisk(t, keep, 8<<20, 1, map[int64]int64{0: 1 << 20})
	writeDisk(t, drop, 8<<20, 2, map[int64]int64{0: 1 << 20, 5 << 20: 1 << 20})
	s.ok(alice, "disk", "upload", keep, "--name", "keep")
	s.ok(alice, "disk", "upload", drop, "--name", "drop")
	s.ok(alice, "disk", "delete", "drop", "--yes")
	if n := len(s.chunkFiles()); n != 3 {
		t.Fatalf("%d chunk files before gc, want 3", n)
	}

	// An upload in flight: one chunk sent, not committed.
	var up struct{ ID string }
	r := s.api(alice, "POST", "/v1/uploads", strings.NewReader(`{"name":"inflight","virtualSize":4194304,"sourceFormat":"raw"}`))
	mustUnmarshal(t, r.body, &up)
	chunk := make([]byte, 4<<20)
	chunk[0] = 42
	digest := sha256Hex(chunk)
	if r := s.api(alice, "PUT", "/v1/uploads/"+up.ID+"/chunks/"+digest, bytesReader(chunk)); r.status != 204 {
		t.Fatalf("PUT chunk: %d %s", r.status, r.body)
	}

	var rep struct {
		Scanned, Referenced, TooYoung, Removed int64
		RemovedBytes                           int64 `json:"removedBytes"`
	}
	if msg := s.fails(alice, "admin", "gc"); !strings.Contains(msg, "only an admin") {
		t.Fatalf("a user ran gc: %s", msg)
	}
	s.json(admin, &rep, "admin", "gc")
	if rep.Removed != 0 || rep.TooYoung != 4 {
		t.Fatalf("gc within the grace period removed chunks: %+v", rep)
	}
	s.json(admin, &rep, "admin", "gc", "--grace", "0s", "--dry-run")
	if rep.Removed != 2 || len(s.chunkFiles()) != 4 {
		t.Fatalf("dry run: %+v, files %d", rep, len(s.chunkFiles()))
	}
	s.json(admin, &rep, "admin", "gc", "--grace", "0s")
	if rep.Removed != 2 || rep.RemovedBytes != 8<<20 || rep.Referenced != 2 {
		t.Fatalf("gc: %+v; want the deleted disk's 2 chunks removed, the kept disk's and the upload's chunk kept", rep)
	}
	// The upload in flight commits; the kept disk still downloads whole.
	commit := `{"extents":[{"offset":0,"length":4194304,"sha256":"` + digest + `"}]}`
	if r := s.api(alice, "POST", "/v1/uploads/"+up.ID+"/commit", strings.NewReader(commit)); r.status != 201 {
		t.Fatalf("commit after gc: %d %s", r.status, r.body)
	}
	out := filepath.Join(dir, "keep.out")
	s.ok(alice, "disk", "download", "keep", "--format", "raw", "--file", out)
	sameFile(t, keep, out)
}

func TestScrubQuarantinesCorruptChunks(t *testing.T) {
	s := startServer(t)
	admin, alice := s.adminKey(), s.tenant("alice")
	src := filepath.Join(t.TempDir(), "d.raw")
	writeDisk(t, src, 8<<20, 3, map[int64]int64{0: 1 << 20})
	s.ok(alice, "disk", "upload", src, "--name", "d")
	var rep struct {
		Scanned int64
		Corrupt []struct {
			Digest      string   `json:"sha256"`
			Quarantined string   `json:"quarantined"`
			Disks       []string `json:"disks"`
		}
	}
	s.json(admin, &rep, "admin", "scrub")
	if rep.Scanned != 1 || len(rep.Corrupt) != 0 {
		t.Fatalf("clean store: %+v", rep)
	}
	// Rot one byte of the stored chunk.
	files := s.chunkFiles()
	data, _ := os.ReadFile(files[0])
	data[100] ^= 0xff
	os.WriteFile(files[0], data, 0o600)

	stdout, _, err := s.hangar(admin, "admin", "scrub", "-o", "json")
	if err == nil {
		t.Fatal("scrub of a corrupt store exited 0")
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("scrub report: %v %s", err, stdout)
	}
	if len(rep.Corrupt) != 1 || rep.Corrupt[0].Disks[0] != "alice/d" || filepath.Base(files[0]) != rep.Corrupt[0].Digest {
		t.Fatalf("corrupt chunk report: %+v", rep)
	}
	if q, err := os.ReadFile(rep.Corrupt[0].Quarantined); err != nil || string(q) != string(data) {
		t.Fatalf("quarantined bytes: %v", err)
	}
	// A download now fails loudly instead of serving rotten bytes...
	if msg := s.fails(alice, "disk", "download", "d", "--format", "raw", "--file", filepath.Join(t.TempDir(), "x")); msg == "" {
		t.Fatal("no error downloading a damaged disk")
	}
	// ...and uploading the same content again heals the store.
	var up diskJSON
	s.json(alice, &up, "disk", "upload", src, "--name", "d2")
	if up.Upload.SentBytes != 4<<20 {
		t.Fatalf("healing upload sent %d bytes, want the quarantined chunk", up.Upload.SentBytes)
	}
	out := filepath.Join(t.TempDir(), "d.out")
	s.ok(alice, "disk", "download", "d", "--format", "raw", "--file", out)
	sameFile(t, src, out)
}
