package e2e

import (
	"bytes"
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// lockedBuffer is a bytes.Buffer one process writes while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// chunksReceived counts the chunk uploads the server has logged.
func (s *server) chunksReceived() int {
	return strings.Count(s.log.String(), `"route":"/v1/uploads/{id}/chunks/{sha256}","status":204`)
}

func denseDisk(t *testing.T, size int64) string {
	path := filepath.Join(t.TempDir(), "dense.raw")
	f, _ := os.Create(path)
	buf := make([]byte, 1<<20)
	for off := int64(0); off < size; off += int64(len(buf)) {
		rand.Read(buf)
		f.Write(buf)
	}
	f.Close()
	return path
}

// uploadInBackground starts `hangar disk upload` and returns it running.
func (s *server) uploadInBackground(key, path, name string) *exec.Cmd {
	cmd := s.cli(key, "disk", "upload", path, "--name", name, "--connections", "1", "-o", "json")
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	return cmd
}

type resumedUpload struct {
	Upload struct {
		SentBytes int64 `json:"sentBytes"`
		DataBytes int64 `json:"dataBytes"`
		Resumed   bool  `json:"resumed"`
	} `json:"upload"`
}

// TestUploadSurvivesKill9OfClient kills the client half-way; the same command then
// resumes without resending what the server received, and the disk is identical.
func TestUploadSurvivesKill9OfClient(t *testing.T) {
	s := startServer(t)
	alice := s.tenant("alice")
	src := denseDisk(t, 512<<20)
	cmd := s.uploadInBackground(alice, src, "big")
	waitFor(t, func() bool { return s.chunksReceived() >= 8 })
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	received := s.chunksReceived()

	var disks []diskJSON
	s.json(alice, &disks, "disk", "list")
	if len(disks) != 0 {
		t.Fatalf("a half-uploaded disk is visible: %+v", disks)
	}
	var res resumedUpload
	s.json(alice, &res, "disk", "upload", src, "--name", "big")
	if !res.Upload.Resumed || res.Upload.SentBytes > res.Upload.DataBytes-int64(received)*(4<<20) {
		t.Fatalf("resume: %+v after %d chunks had arrived; committed chunks were sent again", res.Upload, received)
	}
	out := filepath.Join(t.TempDir(), "big.raw")
	s.ok(alice, "disk", "download", "big", "--format", "raw", "--file", out)
	sameFile(t, src, out)
}

// TestUploadSurvivesKill9OfServer kills the server half-way; after a restart the
// upload resumes and the disk is identical.
func TestUploadSurvivesKill9OfServer(t *testing.T) {
	s := startServer(t)
	alice := s.tenant("alice")
	src := denseDisk(t, 512<<20)
	cmd := s.uploadInBackground(alice, src, "big")
	waitFor(t, func() bool { return s.chunksReceived() >= 8 })
	s.kill9()
	if err := cmd.Wait(); err == nil {
		t.Fatal("the upload claimed success although the server died")
	}
	s.start()
	var disks []diskJSON
	s.json(alice, &disks, "disk", "list")
	if len(disks) != 0 {
		t.Fatalf("a half-uploaded disk is visible after the restart: %+v", disks)
	}
	var res resumedUpload
	s.json(alice, &res, "disk", "upload", src, "--name", "big")
	if !res.Upload.Resumed || res.Upload.SentBytes >= res.Upload.DataBytes {
		t.Fatalf("resume after the server's crash: %+v", res.Upload)
	}
	out := filepath.Join(t.TempDir(), "big.raw")
	s.ok(alice, "disk", "download", "big", "--format", "raw", "--file", out)
	sameFile(t, src, out)
}
