package compute

import (
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/hangarvm/hangar/internal/chunks"
	"github.com/hangarvm/hangar/internal/hangar"
	"github.com/hangarvm/hangar/internal/store"
)

// TestVMIfMatch checks the VM actions that need no QEMU (stop, delete) against a
// stored VM: a stale ETag changes nothing, the current one goes through.
func TestVMIfMatch(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	db, err := store.Open(ctx, filepath.Join(dir, "db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	m, err := New(ctx, Config{Dir: filepath.Join(dir, "compute"), Accel: "tcg"}, db, nil, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	actor := hangar.Tenant{Name: "alice", Role: hangar.RoleUser}
	if err := db.CreateTenant(ctx, &actor, store.NewKey{Hash: "hash"}); err != nil {
		t.Fatal(err)
	}
	dk := hangar.Disk{Name: "os", SourceFormat: "raw"}
	if err := db.CommitDisk(ctx, actor.ID, "", &dk, chunks.Manifest{VirtualSize: chunks.ChunkSize}); err != nil {
		t.Fatal(err)
	}
	v := store.VM{VM: hangar.VM{Name: "web1", Image: "web@1.0.0", OSType: hangar.OSLinux, OSState: hangar.Specialized, HyperVGeneration: "V1",
		Size: hangar.VMSize{Name: "small", VCPUs: 1, MemoryMiB: 512}, PowerState: hangar.PowerStopped, ProvisioningState: hangar.ProvisioningSucceeded,
		Disks: []hangar.VMDisk{{LUN: -1, VirtualSize: dk.VirtualSize}}}, TenantID: actor.ID, DiskIDs: []string{dk.ID}}
	if err := db.CreateVM(ctx, &v); err != nil {
		t.Fatal(err)
	}
	read, err := m.Get(ctx, &actor, "web1")
	if err != nil || read.ETag != v.ETag {
		t.Fatalf("Get: %v, ETag %q, want %q", err, read.ETag, v.ETag)
	}

	// Someone stops it meanwhile (a no-op for the VM, but a change of its record).
	stopped, err := m.Stop(ctx, &actor, "web1", false, hangar.IfMatch(read.ETag))
	if err != nil || stopped.ETag == read.ETag {
		t.Fatalf("stop with the current ETag: %v, ETag %s", err, stopped.ETag)
	}
	if _, err := m.Stop(ctx, &actor, "web1", true, hangar.IfMatch(read.ETag)); hangar.ErrorCode(err) != hangar.CodePreconditionFailed {
		t.Fatalf("deallocate with a stale ETag: %v", err)
	}
	if err := m.Delete(ctx, &actor, "web1", hangar.IfMatch(read.ETag)); hangar.ErrorCode(err) != hangar.CodePreconditionFailed {
		t.Fatalf("delete with a stale ETag: %v", err)
	}
	now, err := m.Get(ctx, &actor, "web1")
	if err != nil || now.PowerState != hangar.PowerStopped || now.ETag != stopped.ETag {
		t.Fatalf("after refused changes the VM is %s at %s (%v), want stopped at %s", now.PowerState, now.ETag, err, stopped.ETag)
	}
	if err := m.Delete(ctx, &actor, "web1", hangar.IfMatch(now.ETag)); err != nil {
		t.Fatalf("delete with the current ETag: %v", err)
	}
	if _, err := m.Get(ctx, &actor, "web1"); hangar.ErrorCode(err) != hangar.CodeNotFound {
		t.Fatalf("the VM survived its delete: %v", err)
	}
}
