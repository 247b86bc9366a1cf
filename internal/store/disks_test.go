package store

import (
	"testing"

	"github.com/hangarvm/hangar/internal/chunks"
	"github.com/hangarvm/hangar/internal/hangar"
)

// TestCommitDisksReplacesInOneTransaction: replacing a backup's disks either
// completes or leaves the old disks whole; there is no moment, and no failure,
// after which neither exists.
func TestCommitDisksReplacesInOneTransaction(t *testing.T) {
	eachDatabase(t, func(t *testing.T, db *DB) {
		ctx := t.Context()
		a := hangar.Tenant{Name: "a", Role: hangar.RoleUser}
		if err := db.CreateTenant(ctx, &a, NewKey{Hash: "hash-a"}); err != nil {
			t.Fatal(err)
		}
		m := chunks.Manifest{VirtualSize: chunks.ChunkSize, Extents: []chunks.Extent{{Length: chunks.ChunkSize, Digest: chunks.Sum([]byte("old"))}}}
		old := &hangar.Disk{Name: "nightly-os", SourceFormat: "vm-backup"}
		if err := db.CommitDisks(ctx, a.ID, []NewDisk{{Disk: old, Manifest: m}}, DiskReplacement{}); err != nil {
			t.Fatal(err)
		}
		replace := DiskReplacement{Names: []string{"nightly-os"}, SourceFormat: "vm-backup"}

		// The new disks fail to commit (here: two of one name) after the old one
		// was deleted in the transaction: the old one is still there.
		bad := []NewDisk{{Disk: &hangar.Disk{Name: "nightly-os", SourceFormat: "vm-backup"}, Manifest: m},
			{Disk: &hangar.Disk{Name: "nightly-os", SourceFormat: "vm-backup"}, Manifest: m}}
		if err := db.CommitDisks(ctx, a.ID, bad, replace); hangar.ErrorCode(err) != hangar.CodeConflict {
			t.Fatalf("commit of two disks of one name: %v", err)
		}
		if got, err := db.DiskByName(ctx, a.ID, "nightly-os"); err != nil || got.ID != old.ID {
			t.Fatalf("after a failed replacement the old backup is %+v, %v; want it whole", got, err)
		}

		// A disk of another kind is not replaced.
		other := &hangar.Disk{Name: "web-os", SourceFormat: "raw"}
		if err := db.CommitDisk(ctx, a.ID, "", other, m); err != nil {
			t.Fatal(err)
		}
		err := db.CommitDisks(ctx, a.ID, []NewDisk{{Disk: &hangar.Disk{Name: "web-os", SourceFormat: "vm-backup"}, Manifest: m}},
			DiskReplacement{Names: []string{"web-os"}, SourceFormat: "vm-backup"})
		if hangar.ErrorCode(err) != hangar.CodeConflict {
			t.Fatalf("replacing an uploaded disk as a backup: %v", err)
		}

		// A good replacement: the new disk, the old one gone.
		repl := &hangar.Disk{Name: "nightly-os", SourceFormat: "vm-backup"}
		if err := db.CommitDisks(ctx, a.ID, []NewDisk{{Disk: repl, Manifest: m}}, replace); err != nil {
			t.Fatal(err)
		}
		if got, err := db.DiskByName(ctx, a.ID, "nightly-os"); err != nil || got.ID != repl.ID || got.ID == old.ID {
			t.Fatalf("after the replacement: %+v, %v; want the new disk %s", got, err, repl.ID)
		}
	})
}
