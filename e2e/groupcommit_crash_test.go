package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// crashUpload is one of the disks TestUploadsSurviveRandomKill9s uploads.
type crashUpload struct {
	name, key, path string
	acked           bool // the client reported the commit: it must never be lost
	cmd             *exec.Cmd
	done            chan struct{} // closed when cmd has exited; then err is its result
	err             error
}

// TestUploadsSurviveRandomKill9s kills the server with kill -9 at random points
// (seeded, logged; HANGAR_E2E_SEED repeats a run) while 20 uploads by two tenants
// run, five at a time, and restarts it. The disks share a chunk, so uploads also
// dedup against chunks another upload wrote and has not committed (group commit
// must make those durable at the commit of either). After every restart, every
// upload acknowledged so far reads back byte-identical; every unacknowledged one is
// run again and resumes (or, if its commit landed before the kill but its answer did
// not, its disk is there and identical).
func TestUploadsSurviveRandomKill9s(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("HANGAR_E2E_SEED"); v != "" {
		seed, _ = strconv.ParseUint(v, 10, 64)
	}
	t.Logf("seed %d (HANGAR_E2E_SEED=%d repeats this run's kill points and disks)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 1))

	s := startServer(t)
	keys := []string{s.tenant("alice"), s.tenant("bob")}
	dir := t.TempDir()
	shared := make([]byte, 4<<20)
	fillRandom(rng, shared)
	ups := make([]*crashUpload, 20)
	for i := range ups {
		ups[i] = &crashUpload{name: fmt.Sprintf("d%02d", i), key: keys[i%2], path: filepath.Join(dir, fmt.Sprintf("d%02d.raw", i))}
		writeCrashDisk(t, rng, ups[i].path, shared)
	}

	const kills, batch = 6, 5
	for round := 0; ; round++ {
		var running []*crashUpload
		for _, u := range ups {
			if !u.acked && len(running) < batch {
				running = append(running, u)
			}
		}
		if len(running) == 0 {
			break
		}
		if round > kills+len(ups) {
			t.Fatalf("uploads still not done after %d rounds", round)
		}
		for _, u := range running {
			s.startCrashUpload(u)
		}
		if round < kills {
			threshold := rng.IntN(3*len(running) + 1)
			pause := time.Duration(rng.IntN(40)) * time.Millisecond
			waitFor(t, func() bool { return s.chunksReceived() >= threshold || allExited(running) })
			time.Sleep(pause)
			t.Logf("round %d: kill -9 after %d chunks received (threshold %d) and %v more", round, s.chunksReceived(), threshold, pause)
			s.kill9()
		}
		for _, u := range running {
			<-u.done
			if u.err == nil {
				u.acked = true
				t.Logf("round %d: %s acknowledged", round, u.name)
			}
		}
		if round < kills {
			s.start()
		}
		s.checkCrashUploads(ups)
	}
}

// fillRandom fills b from rng.
func fillRandom(rng *rand.Rand, b []byte) {
	for i := 0; i+8 <= len(b); i += 8 {
		v := rng.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
}

// writeCrashDisk writes a raw disk of 2 to 4 chunks: the shared chunk first, then
// random bytes, its size a random multiple of 512.
func writeCrashDisk(t *testing.T, rng *rand.Rand, path string, shared []byte) {
	t.Helper()
	size := int64(len(shared)) + 4<<20 + int64(rng.IntN(8<<11))*512
	data := make([]byte, size)
	copy(data, shared)
	fillRandom(rng, data[len(shared):])
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func (s *server) startCrashUpload(u *crashUpload) {
	u.cmd = s.cli(u.key, "disk", "upload", u.path, "--name", u.name, "--connections", "2", "-o", "json")
	if err := u.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	u.done = make(chan struct{})
	go func() { u.err = u.cmd.Wait(); close(u.done) }()
}

func allExited(us []*crashUpload) bool {
	for _, u := range us {
		select {
		case <-u.done:
		default:
			return false
		}
	}
	return true
}

// checkCrashUploads reads back every acknowledged upload, and finishes each
// unacknowledged one whose disk the crash left committed; the others are left to
// the next round, which must resume them.
func (s *server) checkCrashUploads(ups []*crashUpload) {
	s.t.Helper()
	committed := map[string]map[string]bool{}
	for _, key := range []string{ups[0].key, ups[1].key} {
		var disks []diskJSON
		s.json(key, &disks, "disk", "list")
		committed[key] = map[string]bool{}
		for _, d := range disks {
			committed[key][d.Name] = true
		}
	}
	for _, u := range ups {
		switch {
		case u.acked && !committed[u.key][u.name]:
			s.t.Fatalf("acknowledged upload %s is gone after a kill -9", u.name)
		case !u.acked && committed[u.key][u.name]:
			s.t.Logf("%s was committed, but its answer was lost to the kill", u.name)
			u.acked = true
		case !u.acked:
			if u.cmd != nil && s.hasUploadState(u) {
				s.resumeCrashUpload(u)
			}
			continue
		}
		out := filepath.Join(s.t.TempDir(), u.name+".raw")
		s.ok(u.key, "disk", "download", u.name, "--format", "raw", "--file", out)
		sameFile(s.t, u.path, out)
		os.Remove(out)
	}
}

// hasUploadState says whether the client recorded an upload ID for u (it does so
// right after the server created the upload).
func (s *server) hasUploadState(u *crashUpload) bool {
	h := sha256.Sum256([]byte(u.path + "\x00" + u.name))
	_, err := os.Stat(filepath.Join(s.home, "cache", "hangar", "uploads", hex.EncodeToString(h[:8])+".json"))
	return err == nil
}

// resumeCrashUpload runs u's upload again, which must resume the one the crash
// interrupted, and reads the disk back.
func (s *server) resumeCrashUpload(u *crashUpload) {
	s.t.Helper()
	var res resumedUpload
	s.json(u.key, &res, "disk", "upload", u.path, "--name", u.name, "--connections", "2")
	if !res.Upload.Resumed {
		s.t.Fatalf("%s: the upload the kill interrupted did not resume: %+v", u.name, res.Upload)
	}
	s.t.Logf("%s resumed: sent %d of %d bytes", u.name, res.Upload.SentBytes, res.Upload.DataBytes)
	u.acked = true
}
