package catalog

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/hangarvm/hangar/internal/chunks"
	"github.com/hangarvm/hangar/internal/hangar"
	"github.com/hangarvm/hangar/internal/store/pgtest"
)

// TestGCRechecksReferencesAtDeleteTime: a chunk no disk references when GC scans
// gains a reference between GC's last look and its removal (a commit whose "is
// this chunk known?" answer came before the chunk's last disk was deleted). Either
// the chunk survives, or the commit is refused; never a disk whose chunk is gone.
func TestGCRechecksReferencesAtDeleteTime(t *testing.T) {
	for kind, dsn := range map[string]string{"sqlite": "", "postgres": pgtest.DSN(t)} {
		t.Run(kind, func(t *testing.T) {
			dir := t.TempDir()
			if dsn == "" {
				dsn = filepath.Join(dir, "db")
			}
			s, admin := newServiceOn(t, dir, dsn, Config{StagingDir: dir})
			alice := newTenant(t, s, admin, "alice")
			ctx := t.Context()
			data := bytes.Repeat([]byte("orphan "), chunks.ChunkSize/7+1)[:chunks.ChunkSize]
			u, d := upload(t, s, alice, "old", data)
			m := chunks.Manifest{VirtualSize: chunks.ChunkSize, Extents: []chunks.Extent{{Offset: 0, Length: chunks.ChunkSize, Digest: d}}}
			if _, err := s.CommitUpload(ctx, alice, u.ID, hangar.UploadCommit{Extents: m.Extents}); err != nil {
				t.Fatal(err)
			}
			if err := s.DeleteDisk(ctx, alice, "old", hangar.Precondition{}); err != nil {
				t.Fatal(err)
			}

			// Between GC's decision and its removal, a disk referencing the chunk is
			// committed.
			var commitErr error
			injected := false
			s.beforeRemove = func(got chunks.Digest) {
				if got != d || injected {
					return
				}
				injected = true
				commitErr = s.db.CommitDisk(ctx, alice.ID, "", &hangar.Disk{Name: "new", SourceFormat: "raw"}, m)
			}
			if _, err := s.GC(ctx, admin, hangar.GCRequest{GracePeriod: "0s"}); err != nil {
				t.Fatal(err)
			}
			if !injected {
				t.Fatal("GC never came to remove the unreferenced chunk")
			}
			has, err := s.chunks.Has(ctx, d)
			if err != nil {
				t.Fatal(err)
			}
			_, diskErr := s.db.DiskByName(ctx, alice.ID, "new")
			switch {
			case commitErr == nil && diskErr == nil && !has:
				t.Fatal("GC removed a chunk that a disk committed during GC references: the disk is broken")
			case commitErr != nil && hangar.ErrorCode(commitErr) != hangar.CodeUnavailable:
				t.Fatalf("the concurrent commit failed with %v, want a retryable refusal", commitErr)
			case commitErr != nil && diskErr == nil:
				t.Fatal("a refused commit left its disk")
			}

			// After GC, the same commit goes through once the chunk is sent again.
			s.beforeRemove = nil
			if commitErr != nil {
				u2, _ := upload(t, s, alice, "new", data)
				if _, err := s.CommitUpload(ctx, alice, u2.ID, hangar.UploadCommit{Extents: m.Extents}); err != nil {
					t.Fatalf("commit after GC: %v", err)
				}
			}
			if has, _ := s.chunks.Has(ctx, d); !has {
				t.Fatal("the disk's chunk is missing after the retry")
			}
		})
	}
}

// TestRegionGCRechecksReplicasAtDeleteTime: in a region's store, a chunk left by a
// deleted image gains a reference when a version holding it is replicated there
// between GC's decision and its removal: the replication is refused for the moment,
// and once GC is done it copies the chunk again; the region never lacks a chunk of a
// version replicated there.
func TestRegionGCRechecksReplicasAtDeleteTime(t *testing.T) {
	f := newRegionService(t)
	s, alice, admin := f.s, f.alice, f.admin
	ctx := t.Context()
	storeDisk(t, s, alice, "d", 1, func(int) byte { return 7 })
	f.version(t, "1.0.0", "d")
	f.replicate(t, "1.0.0", 0)
	waitReplicated(t, s, alice, "1.0.0")
	if err := s.DeleteImage(ctx, alice, "img", hangar.Precondition{}); err != nil {
		t.Fatal(err)
	}
	f.version(t, "2.0.0", "d") // the same disk in a new image, not yet in west
	var replErr error
	s.beforeRemove = func(chunks.Digest) {
		s.beforeRemove = nil
		req := hangar.ImageReplicate{TargetRegions: []hangar.ReplicaTarget{{Region: "west"}}}
		_, replErr = s.Replicate(ctx, alice, "img", "2.0.0", req)
	}
	if _, err := s.GC(ctx, admin, hangar.GCRequest{GracePeriod: "0s"}); err != nil {
		t.Fatal(err)
	}
	if hangar.ErrorCode(replErr) != hangar.CodeUnavailable {
		t.Fatalf("replication to a region while GC removes the version's chunk there: %v; want a retryable refusal", replErr)
	}
	f.replicate(t, "2.0.0", 0)
	waitReplicated(t, s, alice, "2.0.0")
	n := 0
	f.west.List(ctx, func(chunks.ObjectInfo) error { n++; return nil })
	if n != 1 {
		t.Fatalf("%d chunks in west after the retried replication, want the version's 1", n)
	}
}
