package catalog

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hangarvm/hangar/internal/chunks"
	"github.com/hangarvm/hangar/internal/chunks/dirstore"
	"github.com/hangarvm/hangar/internal/hangar"
	"github.com/hangarvm/hangar/internal/store"
)

// flaky fails every Save with ErrUnavailable while down is set, as a region's object
// store that is unreachable.
type flaky struct {
	chunks.Backend
	down  atomic.Bool
	saved atomic.Int64
}

func (f *flaky) Save(ctx context.Context, name string, data []byte) error {
	if f.down.Load() {
		return fmt.Errorf("%w: test outage", chunks.ErrUnavailable)
	}
	f.saved.Add(1)
	return f.Backend.Save(ctx, name, data)
}

func newRegionService(t *testing.T) (*Service, *hangar.Tenant, *flaky) {
	s, alice, region, _ := newRegionServiceAdmin(t)
	return s, alice, region
}

func newRegionServiceAdmin(t *testing.T) (*Service, *hangar.Tenant, *flaky, *hangar.Tenant) {
	t.Helper()
	dir := t.TempDir()
	db, err := store.Open(t.Context(), filepath.Join(dir, "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	primary, _ := dirstore.Open(filepath.Join(dir, "primary"))
	west, _ := dirstore.Open(filepath.Join(dir, "west"))
	region := &flaky{Backend: west}
	s := New(db, &chunks.Store{Backend: primary}, Config{StagingDir: dir, QuarantineDir: filepath.Join(dir, "quarantine"), Node: "test",
		Regions: map[string]*chunks.Store{"west": {Backend: region}}}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if _, err := s.Bootstrap(t.Context(), "", filepath.Join(dir, "admin.key")); err != nil {
		t.Fatal(err)
	}
	admin, err := db.TenantByName(t.Context(), AdminTenant)
	if err != nil {
		t.Fatal(err)
	}
	return s, newTenant(t, s, &admin, "alice"), region, &admin
}

// storeDisk stores a disk of n chunks; chunk i's content is fill(i).
func storeDisk(t *testing.T, s *Service, actor *hangar.Tenant, name string, n int, fill func(i int) byte) {
	t.Helper()
	ctx := t.Context()
	u, err := s.CreateUpload(ctx, actor, hangar.UploadCreate{Name: name, VirtualSize: int64(n) * chunks.ChunkSize, SourceFormat: "raw"})
	if err != nil {
		t.Fatal(err)
	}
	var commit hangar.UploadCommit
	for i := range n {
		data := bytes.Repeat([]byte{fill(i)}, chunks.ChunkSize)
		d := chunks.Sum(data)
		if err := s.PutChunk(ctx, actor, u.ID, d, bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
		commit.Extents = append(commit.Extents, chunks.Extent{Offset: int64(i) * chunks.ChunkSize, Length: chunks.ChunkSize, Digest: d})
	}
	if _, err := s.CommitUpload(ctx, actor, u.ID, commit); err != nil {
		t.Fatal(err)
	}
}

func waitReplicated(t *testing.T, s *Service, actor *hangar.Tenant, version string) hangar.ReplicationStatus {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		st, err := s.Replication(t.Context(), actor, "img", version)
		if err != nil {
			t.Fatal(err)
		}
		if st[1].State == hangar.ReplicationCompleted {
			return st[1]
		}
	}
	t.Fatalf("version %s never completed in region west", version)
	return hangar.ReplicationStatus{}
}

func TestReplicationCopiesOnlyMissingChunks(t *testing.T) {
	s, alice, region := newRegionService(t)
	ctx := t.Context()
	storeDisk(t, s, alice, "v1", 6, func(i int) byte { return byte(i + 1) })
	// v2 rewrites one chunk of six.
	storeDisk(t, s, alice, "v2", 6, func(i int) byte {
		if i == 2 {
			return 99
		}
		return byte(i + 1)
	})
	for _, v := range []struct{ version, disk string }{{"1.0.0", "v1"}, {"2.0.0", "v2"}} {
		if _, err := s.CreateImage(ctx, alice, hangar.ImageCreate{Name: "img", Version: v.version, Type: hangar.ImageTypeVM,
			OSType: hangar.OSLinux, OSState: hangar.Specialized, OSDisk: v.disk}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.UsableIn(ctx, "west", diskIDs(t, s, alice, "1.0.0")); hangar.ErrorCode(err) != hangar.CodeConflict {
		t.Fatalf("version usable in west before replication: %v", err)
	}
	if _, err := s.Replicate(ctx, alice, "img", "1.0.0", hangar.ImageReplicate{TargetRegions: []hangar.ReplicaTarget{{Region: "west"}}}); err != nil {
		t.Fatal(err)
	}
	first := waitReplicated(t, s, alice, "1.0.0")
	if first.TotalBytes != 6*chunks.ChunkSize || first.CopiedBytes != first.TotalBytes || first.DoneBytes != first.TotalBytes {
		t.Fatalf("first replication: %+v", first)
	}
	if err := s.UsableIn(ctx, "west", diskIDs(t, s, alice, "1.0.0")); err != nil {
		t.Fatalf("completed version not usable in west: %v", err)
	}
	before := region.saved.Load()
	if _, err := s.Replicate(ctx, alice, "img", "2.0.0", hangar.ImageReplicate{TargetRegions: []hangar.ReplicaTarget{{Region: "west", ReplicaCount: 3}}}); err != nil {
		t.Fatal(err)
	}
	second := waitReplicated(t, s, alice, "2.0.0")
	if second.CopiedBytes != chunks.ChunkSize || second.ReplicaCount != 3 || region.saved.Load()-before != 1 {
		t.Fatalf("second replication copied %d bytes in %d saves, want the one changed chunk: %+v", second.CopiedBytes, region.saved.Load()-before, second)
	}
}

func TestReplicationRetriesAfterOutage(t *testing.T) {
	s, alice, region := newRegionService(t)
	ctx := t.Context()
	storeDisk(t, s, alice, "d", 3, func(i int) byte { return byte(i + 7) })
	if _, err := s.CreateImage(ctx, alice, hangar.ImageCreate{Name: "img", Version: "1.0.0", Type: hangar.ImageTypeVM,
		OSType: hangar.OSLinux, OSState: hangar.Specialized, OSDisk: "d"}); err != nil {
		t.Fatal(err)
	}
	region.down.Store(true)
	if _, err := s.Replicate(ctx, alice, "img", "1.0.0", hangar.ImageReplicate{TargetRegions: []hangar.ReplicaTarget{{Region: "west"}}}); err != nil {
		t.Fatal(err)
	}
	for {
		st, _ := s.Replication(ctx, alice, "img", "1.0.0")
		if st[1].Message != "" {
			if st[1].State != hangar.ReplicationReplicating {
				t.Fatalf("during the outage: %+v", st[1])
			}
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	region.down.Store(false)
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	go s.RunReplication(runCtx)
	if got := waitReplicated(t, s, alice, "1.0.0"); got.DoneBytes != 3*chunks.ChunkSize || got.Message != "" {
		t.Fatalf("after the outage: %+v", got)
	}
}

func diskIDs(t *testing.T, s *Service, actor *hangar.Tenant, version string) []string {
	t.Helper()
	r, err := s.Resolve(t.Context(), actor, "img@"+version)
	if err != nil {
		t.Fatal(err)
	}
	return []string{r.OSDisk.DiskID}
}

// Garbage collection of a region's store keeps what the versions replicated there
// hold, and removes it once no such version is left.
func TestGCOfRegionStore(t *testing.T) {
	s, alice, region, admin := newRegionServiceAdmin(t)
	ctx := t.Context()
	storeDisk(t, s, alice, "d", 2, func(i int) byte { return byte(i + 1) })
	if _, err := s.CreateImage(ctx, alice, hangar.ImageCreate{Name: "img", Version: "1.0.0", Type: hangar.ImageTypeVM,
		OSType: hangar.OSLinux, OSState: hangar.Specialized, OSDisk: "d"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Replicate(ctx, alice, "img", "1.0.0", hangar.ImageReplicate{TargetRegions: []hangar.ReplicaTarget{{Region: "west"}}}); err != nil {
		t.Fatal(err)
	}
	waitReplicated(t, s, alice, "1.0.0")
	count := func() int {
		n := 0
		region.List(ctx, func(chunks.ObjectInfo) error { n++; return nil })
		return n
	}
	if rep, err := s.GC(ctx, admin, hangar.GCRequest{GracePeriod: "0s"}); err != nil || rep.Removed != 0 || count() != 2 {
		t.Fatalf("GC while the version is replicated: %+v, %v; %d chunks in the region", rep, err, count())
	}
	if err := s.DeleteImage(ctx, alice, "img", hangar.Precondition{}); err != nil {
		t.Fatal(err)
	}
	rep, err := s.GC(ctx, admin, hangar.GCRequest{GracePeriod: "0s"})
	if err != nil || rep.Removed != 2 || count() != 0 {
		t.Fatalf("GC after the image was deleted: %+v, %v; %d chunks left in the region", rep, err, count())
	}
	// The disk itself is still there: its chunks stay in the primary store.
	if _, err := s.ExportDisk(ctx, alice, "d", "raw"); err != nil {
		t.Fatal(err)
	}
}

// Scrub finds a corrupt chunk in a region's store, removes it and sends the replica
// back to Replicating; replication then copies a good copy from the primary store.
func TestScrubHealsRegionStore(t *testing.T) {
	s, alice, region, admin := newRegionServiceAdmin(t)
	ctx := t.Context()
	storeDisk(t, s, alice, "d", 2, func(i int) byte { return byte(i + 1) })
	if _, err := s.CreateImage(ctx, alice, hangar.ImageCreate{Name: "img", Version: "1.0.0", Type: hangar.ImageTypeVM,
		OSType: hangar.OSLinux, OSState: hangar.Specialized, OSDisk: "d"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Replicate(ctx, alice, "img", "1.0.0", hangar.ImageReplicate{TargetRegions: []hangar.ReplicaTarget{{Region: "west"}}}); err != nil {
		t.Fatal(err)
	}
	waitReplicated(t, s, alice, "1.0.0")
	good := bytes.Repeat([]byte{1}, chunks.ChunkSize)
	rotten := bytes.Clone(good)
	rotten[12345] ^= 0xff
	name := chunks.Sum(good).String()
	// The region's copy rots (a backend keeps what it has: replace it).
	if err := region.Backend.Remove(ctx, name); err != nil {
		t.Fatal(err)
	}
	if err := region.Backend.Save(ctx, name, rotten); err != nil {
		t.Fatal(err)
	}
	rep, err := s.Scrub(ctx, admin)
	if err != nil || len(rep.Corrupt) != 1 || rep.Corrupt[0].Region != "west" || rep.Corrupt[0].Digest != name || rep.Scanned != 4 {
		t.Fatalf("scrub: %+v, %v", rep, err)
	}
	st, _ := s.Replication(ctx, alice, "img", "1.0.0")
	if st[1].State != hangar.ReplicationReplicating {
		t.Fatalf("replica after scrub found it damaged: %+v", st[1])
	}
	if err := s.UsableIn(ctx, "west", diskIDs(t, s, alice, "1.0.0")); err == nil {
		t.Fatal("a damaged replica is still usable")
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	go s.RunReplication(runCtx)
	waitReplicated(t, s, alice, "1.0.0")
	if got, err := region.Backend.Load(ctx, name); err != nil || !bytes.Equal(got, good) {
		t.Fatalf("the region's copy after healing: %v", err)
	}
	if rep, err := s.Scrub(ctx, admin); err != nil || len(rep.Corrupt) != 0 {
		t.Fatalf("scrub after healing: %+v, %v", rep, err)
	}
}
