package e2e

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hangarvm/hangar/internal/chunks/s3store/s3test"
	"github.com/hangarvm/hangar/internal/store/pgtest"
)

// startWith starts a server on the given database and S3 server.
func startWith(t *testing.T, db string, s3 *s3test.Server) *server {
	s := &server{t: t, dataDir: t.TempDir(), home: t.TempDir(), db: db}
	if s3 != nil {
		s.s3, s.store = s3, s3.NewBucket(t)
	}
	s.start()
	t.Cleanup(s.kill)
	return s
}

// TestObjectStoreOutage stops the S3 server in the middle of an upload: the upload
// fails with an error that says to retry, what does not need the store keeps
// working, and once the store is back the same command resumes the upload.
func TestObjectStoreOutage(t *testing.T) {
	s3 := s3test.New(t)
	s := startWith(t, "", s3)
	alice := s.tenant("alice")
	dir := t.TempDir()
	first, second := filepath.Join(dir, "first.raw"), filepath.Join(dir, "second.raw")
	writeDisk(t, first, 16<<20, 1, map[int64]int64{0: 1 << 20})
	writeDisk(t, second, 32<<20, 2, map[int64]int64{0: 3 << 20, 9 << 20: 2 << 20, 20 << 20: 5 << 20})
	s.ok(alice, "disk", "upload", first, "--name", "first")

	s3.Stop()
	msg := s.fails(alice, "disk", "upload", second, "--name", "second")
	if !strings.Contains(msg, "chunk store is unavailable") || !strings.Contains(msg, "retry") {
		t.Fatalf("upload during the outage says: %s", msg)
	}
	if r := s.api(alice, "GET", "/v1/disks/first/content?format=raw", nil); r.status != http.StatusServiceUnavailable || r.code != "ServiceUnavailable" {
		t.Fatalf("download during the outage: %d %s %s", r.status, r.code, r.body)
	}
	var disks []struct{ Name string }
	s.json(alice, &disks, "disk", "list")
	if len(disks) != 1 || disks[0].Name != "first" {
		t.Fatalf("disk list during the outage: %+v (no half-written disk may show)", disks)
	}

	if err := s3.Start(); err != nil {
		t.Fatal(err)
	}
	out := s.ok(alice, "disk", "upload", second, "--name", "second")
	if !strings.Contains(out, "resum") {
		t.Fatalf("the upload after the outage did not resume the interrupted one: %s", out)
	}
	for name, src := range map[string]string{"first": first, "second": second} {
		got := filepath.Join(t.TempDir(), name+".raw")
		s.ok(alice, "disk", "download", name, "--format", "raw", "--file", got)
		sameFile(t, src, got)
	}
}

// TestDatabaseRestart restarts PostgreSQL while clients keep calling: calls fail
// cleanly (503, saying to retry; never a 500, never a hang) and succeed again once
// the database is back, with nothing lost.
func TestDatabaseRestart(t *testing.T) {
	pg := pgtest.NewCluster(t)
	s := startWith(t, pg.DSN(), nil)
	alice := s.tenant("alice")
	s.uploadDisk(alice, "kept", 5)

	var (
		stop      atomic.Bool
		wg        sync.WaitGroup
		mu        sync.Mutex
		statuses  = map[int]int{}
		bad       []string
		client    = &http.Client{Timeout: 20 * time.Second}
		lastOKRun atomic.Int64
	)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				req, _ := http.NewRequest("GET", s.url()+"/v1/disks", nil)
				req.Header.Set("Authorization", "Bearer "+alice)
				resp, err := client.Do(req)
				mu.Lock()
				switch {
				case err != nil:
					bad = append(bad, err.Error())
				default:
					statuses[resp.StatusCode]++
					if resp.StatusCode == 200 {
						lastOKRun.Store(time.Now().UnixNano())
					} else if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
						bad = append(bad, resp.Status)
					}
					resp.Body.Close()
				}
				mu.Unlock()
				time.Sleep(20 * time.Millisecond)
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	if err := pg.Stop(); err != nil {
		t.Fatal(err)
	}
	// Wait until the clients have seen the outage.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		mu.Lock()
		n := statuses[http.StatusServiceUnavailable]
		mu.Unlock()
		if n >= 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no request failed while PostgreSQL was down")
		}
	}
	msg := s.fails(alice, "disk", "list")
	if !strings.Contains(msg, "metadata database is unavailable") {
		t.Fatalf("the CLI during the outage says: %s", msg)
	}
	if err := pg.Start(); err != nil {
		t.Fatal(err)
	}
	restarted := time.Now().UnixNano()
	for deadline := time.Now().Add(30 * time.Second); lastOKRun.Load() < restarted; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("requests did not succeed again after PostgreSQL came back")
		}
	}
	stop.Store(true)
	wg.Wait()
	if len(bad) > 0 {
		var errs []string
		for _, line := range strings.Split(s.log.String(), "\n") {
			if strings.Contains(line, "internal error") {
				errs = append(errs, line)
			}
		}
		t.Fatalf("answers other than 200 or 503 with Retry-After: %v (all: %v); the server logged:\n%s", bad, statuses, strings.Join(errs, "\n"))
	}
	var disks []struct{ Name string }
	s.json(alice, &disks, "disk", "list")
	if len(disks) != 1 || disks[0].Name != "kept" {
		t.Fatalf("disks after the restart: %+v", disks)
	}
}

// TestMigrateStore moves an installation from the embedded default (SQLite and a
// chunk directory) to PostgreSQL and S3, and the service carries on there with every
// tenant, key, disk and image.
func TestMigrateStore(t *testing.T) {
	s := &server{t: t, dataDir: t.TempDir(), home: t.TempDir()}
	s.start()
	t.Cleanup(s.kill)
	admin, alice := s.adminKey(), s.tenant("alice")
	src := filepath.Join(t.TempDir(), "os.raw")
	writeDisk(t, src, 24<<20, 9, map[int64]int64{0: 2 << 20, 14 << 20: 3 << 20})
	s.ok(alice, "disk", "upload", src, "--name", "os")
	osImage(s, alice, "web", "os", "--version", "1.2.3")
	var before imageJSON
	s.json(alice, &before, "image", "show", "web")

	db := pgtest.DSN(t)
	s3 := s3test.Shared(t)
	bucket := s3.NewBucket(t)
	to := []string{"admin", "migrate-store", "--data-dir", s.dataDir, "--to", db, "--to-store", "s3://" + bucket.Bucket + "/" + bucket.Prefix}
	for _, kv := range s3.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	migrate := func() (string, string, error) { return s.hangar(admin, to...) }
	if _, errOut, err := migrate(); err == nil || !strings.Contains(errOut, "stop it first") {
		t.Fatalf("migration while the server runs: %v %s", err, errOut)
	}
	s.kill()
	out, errOut, err := migrate()
	if err != nil || !strings.Contains(out, "every referenced chunk is in the target") {
		t.Fatalf("migrate-store: %v\n%s\n%s", err, out, errOut)
	}
	// The same data dir, now on PostgreSQL and S3.
	s.db, s.s3, s.store = db, s3, bucket
	if n := len(s.chunkFiles()); n != 3 {
		t.Fatalf("%d chunks in the target bucket, want 3", n)
	}
	os.Rename(filepath.Join(s.dataDir, "chunks"), filepath.Join(s.dataDir, "chunks.old")) // nothing may come from there
	s.start()
	var after imageJSON
	s.json(alice, &after, "image", "show", "web")
	if after.ETag != before.ETag || len(after.Versions) != 1 {
		t.Fatalf("image after the move: %+v, before: %+v", after, before)
	}
	got := filepath.Join(t.TempDir(), "os.raw")
	s.ok(alice, "disk", "download", "os", "--format", "raw", "--file", got)
	sameFile(t, src, got)
	s.ok(admin, "tenant", "list")
	// The target is no longer empty: a second run is refused and changes nothing.
	s.kill()
	if _, errOut, err := migrate(); err == nil || !strings.Contains(errOut, "empty database") {
		t.Fatalf("second migration: %v %s", err, errOut)
	}
}
