package store

import (
	"fmt"
	"sync"
	"testing"

	"github.com/hangarvm/hangar/internal/chunks"
	"github.com/hangarvm/hangar/internal/hangar"
)

// TestChunkDeletionExcludesNewReferences races garbage collection's decision on a
// chunk against a commit of a disk that uses it, many times: in no run may both
// win, which would leave the disk without its chunk.
func TestChunkDeletionExcludesNewReferences(t *testing.T) {
	eachDatabase(t, func(t *testing.T, db *DB) {
		ctx := t.Context()
		a := hangar.Tenant{Name: "a", Role: hangar.RoleUser}
		if err := db.CreateTenant(ctx, &a, NewKey{Hash: "hash-a"}); err != nil {
			t.Fatal(err)
		}
		for i := range 40 {
			d := chunks.Sum([]byte(fmt.Sprint("chunk ", i)))
			m := chunks.Manifest{VirtualSize: chunks.ChunkSize, Extents: []chunks.Extent{{Length: chunks.ChunkSize, Digest: d}}}
			var (
				wg        sync.WaitGroup
				marked    []chunks.Digest
				markErr   error
				commitErr error
			)
			wg.Add(2)
			go func() {
				defer wg.Done()
				marked, markErr = db.MarkForDeletion(ctx, PrimaryStore, []chunks.Digest{d})
			}()
			go func() {
				defer wg.Done()
				commitErr = db.CommitDisk(ctx, a.ID, "", &hangar.Disk{Name: fmt.Sprint("d", i), SourceFormat: "raw"}, m)
			}()
			wg.Wait()
			if markErr != nil {
				t.Fatal(markErr)
			}
			if commitErr != nil && hangar.ErrorCode(commitErr) != hangar.CodeUnavailable {
				t.Fatal(commitErr)
			}
			if len(marked) == 1 && commitErr == nil {
				t.Fatalf("run %d: GC marked the chunk for deletion and a disk using it was committed", i)
			}
			if err := db.UnmarkDeletions(ctx, PrimaryStore, marked); err != nil {
				t.Fatal(err)
			}
		}

		// Marks from a collector that died stop holding after DeletionTTL.
		d := chunks.Sum([]byte("stale"))
		if _, err := db.MarkForDeletion(ctx, PrimaryStore, []chunks.Digest{d}); err != nil {
			t.Fatal(err)
		}
		db.exec(ctx, db.db, `UPDATE chunk_deletions SET started_at = ?`, now()-DeletionTTL.Microseconds()-1)
		m := chunks.Manifest{VirtualSize: chunks.ChunkSize, Extents: []chunks.Extent{{Length: chunks.ChunkSize, Digest: d}}}
		if err := db.CommitDisk(ctx, a.ID, "", &hangar.Disk{Name: "late", SourceFormat: "raw"}, m); err != nil {
			t.Fatalf("a stale mark still refuses commits: %v", err)
		}
		if err := db.ClearStaleDeletions(ctx); err != nil {
			t.Fatal(err)
		}
		var n int
		db.queryRow(ctx, db.db, `SELECT COUNT(*) FROM chunk_deletions`).Scan(&n)
		if n != 0 {
			t.Fatalf("%d stale marks left", n)
		}
	})
}
