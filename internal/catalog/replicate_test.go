package catalog

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hangarvm/hangar/internal/chunks"
	"github.com/hangarvm/hangar/internal/chunks/dirstore"
	"github.com/hangarvm/hangar/internal/hangar"
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

// regionFixture is a service with a second region, west, whose store can fail.
type regionFixture struct {
	s            *Service
	admin, alice *hangar.Tenant
	west         *flaky
}

func newRegionService(t *testing.T) *regionFixture {
	t.Helper()
	dir := t.TempDir()
	west, err := dirstore.Open(filepath.Join(dir, "west"))
	if err != nil {
		t.Fatal(err)
	}
	f := &regionFixture{west: &flaky{Backend: west}}
	f.s, f.admin = newServiceIn(t, dir, Config{StagingDir: dir, QuarantineDir: filepath.Join(dir, "quarantine"), Node: "test",
		Regions: map[string]*chunks.Store{"west": {Backend: f.west}}})
	f.alice = newTenant(t, f.s, f.admin, "alice")
	return f
}

// version makes disk version VERSION of alice's VM image img.
func (f *regionFixture) version(t *testing.T, version, disk string) {
	t.Helper()
	if _, err := f.s.CreateImage(t.Context(), f.alice, hangar.ImageCreate{Name: "img", Version: version, Type: hangar.ImageTypeVM,
		OSType: hangar.OSLinux, OSState: hangar.Specialized, OSDisk: disk}); err != nil {
		t.Fatal(err)
	}
}

// replicate asks for version of img in west.
func (f *regionFixture) replicate(t *testing.T, version string, count int) {
	t.Helper()
	req := hangar.ImageReplicate{TargetRegions: []hangar.ReplicaTarget{{Region: "west", ReplicaCount: count}}}
	if _, err := f.s.Replicate(t.Context(), f.alice, "img", version, req); err != nil {
		t.Fatal(err)
	}
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
	f := newRegionService(t)
	s, alice, region := f.s, f.alice, f.west
	ctx := t.Context()
	storeDisk(t, s, alice, "v1", 6, func(i int) byte { return byte(i + 1) })
	// v2 rewrites one chunk of six.
	storeDisk(t, s, alice, "v2", 6, func(i int) byte {
		if i == 2 {
			return 99
		}
		return byte(i + 1)
	})
	f.version(t, "1.0.0", "v1")
	f.version(t, "2.0.0", "v2")
	if err := s.UsableIn(ctx, "west", diskIDs(t, s, alice, "1.0.0")); hangar.ErrorCode(err) != hangar.CodeConflict {
		t.Fatalf("version usable in west before replication: %v", err)
	}
	f.replicate(t, "1.0.0", 0)
	first := waitReplicated(t, s, alice, "1.0.0")
	if first.TotalBytes != 6*chunks.ChunkSize || first.CopiedBytes != first.TotalBytes || first.DoneBytes != first.TotalBytes {
		t.Fatalf("first replication: %+v", first)
	}
	if err := s.UsableIn(ctx, "west", diskIDs(t, s, alice, "1.0.0")); err != nil {
		t.Fatalf("completed version not usable in west: %v", err)
	}
	before := region.saved.Load()
	f.replicate(t, "2.0.0", 3)
	second := waitReplicated(t, s, alice, "2.0.0")
	if second.CopiedBytes != chunks.ChunkSize || second.ReplicaCount != 3 || region.saved.Load()-before != 1 {
		t.Fatalf("second replication copied %d bytes in %d saves, want the one changed chunk: %+v", second.CopiedBytes, region.saved.Load()-before, second)
	}
}

func TestReplicationRetriesAfterOutage(t *testing.T) {
	f := newRegionService(t)
	s, alice, region := f.s, f.alice, f.west
	ctx := t.Context()
	storeDisk(t, s, alice, "d", 3, func(i int) byte { return byte(i + 7) })
	f.version(t, "1.0.0", "d")
	region.down.Store(true)
	f.replicate(t, "1.0.0", 0)
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
	f := newRegionService(t)
	s, alice, region, admin := f.s, f.alice, f.west, f.admin
	ctx := t.Context()
	storeDisk(t, s, alice, "d", 2, func(i int) byte { return byte(i + 1) })
	f.version(t, "1.0.0", "d")
	f.replicate(t, "1.0.0", 0)
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
	f := newRegionService(t)
	s, alice, region, admin := f.s, f.alice, f.west, f.admin
	ctx := t.Context()
	storeDisk(t, s, alice, "d", 2, func(i int) byte { return byte(i + 1) })
	f.version(t, "1.0.0", "d")
	f.replicate(t, "1.0.0", 0)
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
