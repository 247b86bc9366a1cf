package compute

import (
	"bytes"
	"io"
	"log/slog"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hangarvm/hangar/internal/catalog"
	"github.com/hangarvm/hangar/internal/chunks"
	"github.com/hangarvm/hangar/internal/chunks/dirstore"
	"github.com/hangarvm/hangar/internal/hangar"
	"github.com/hangarvm/hangar/internal/store"
)

// regionHost is a compute host in region west: its VMs' disks come from west's
// store, which holds a copy of what the primary store holds, as replication leaves it.
type regionHost struct {
	m                *Manager
	db               *store.DB
	cat              *catalog.Service
	primary, west    *chunks.Store
	actor            hangar.Tenant
	vm               store.VM
	overlay, qemuImg string
}

func newRegionHost(t *testing.T) *regionHost {
	t.Helper()
	qemuImg, err := exec.LookPath("qemu-img")
	if err != nil {
		t.Skip("qemu-img is not installed (scripts/deps.sh)")
	}
	qemuIO, err := exec.LookPath("qemu-io")
	if err != nil {
		t.Skip("qemu-io is not installed (scripts/deps.sh)")
	}
	ctx := t.Context()
	dir := t.TempDir()
	db, err := store.Open(ctx, filepath.Join(dir, "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	h := &regionHost{db: db, qemuImg: qemuImg}
	for name, s := range map[string]**chunks.Store{"primary": &h.primary, "west": &h.west} {
		b, err := dirstore.Open(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		*s = &chunks.Store{Backend: b}
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	h.cat = catalog.New(db, h.primary, catalog.Config{Regions: map[string]*chunks.Store{"west": h.west}}, log)
	cat := h.cat
	h.m, err = New(ctx, Config{Dir: filepath.Join(dir, "compute"), Accel: "tcg", QEMU: qemuImg, QEMUImg: qemuImg,
		Host: HostConfig{Name: "w1", Region: "west", VCPUs: 2, MemoryMiB: 1024}}, db, cat, h.west, log)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.m.Register(ctx); err != nil {
		t.Fatal(err)
	}
	h.actor = hangar.Tenant{Name: "alice", Role: hangar.RoleUser}
	if err := db.CreateTenant(ctx, &h.actor, store.NewKey{Hash: "hash"}); err != nil {
		t.Fatal(err)
	}
	// The image's disk: one chunk of 0x11, in both stores.
	data := bytes.Repeat([]byte{0x11}, chunks.ChunkSize)
	d := chunks.Sum(data)
	for _, s := range []*chunks.Store{h.primary, h.west} {
		if err := s.Put(ctx, d, data); err != nil {
			t.Fatal(err)
		}
	}
	dk := hangar.Disk{Name: "os", SourceFormat: "raw"}
	m := chunks.Manifest{VirtualSize: 2 * chunks.ChunkSize, Extents: []chunks.Extent{{Offset: 0, Length: chunks.ChunkSize, Digest: d}}}
	if err := db.CommitDisk(ctx, h.actor.ID, "", &dk, m); err != nil {
		t.Fatal(err)
	}
	h.vm = store.VM{VM: hangar.VM{Name: "web1", Image: "web@1.0.0", OSType: hangar.OSLinux, OSState: hangar.Specialized, HyperVGeneration: "V1",
		Size: hangar.VMSize{Name: "small", VCPUs: 1, MemoryMiB: 512}, PowerState: hangar.PowerStopped, ProvisioningState: hangar.ProvisioningSucceeded,
		Host: "w1", Disks: []hangar.VMDisk{{LUN: -1, VirtualSize: dk.VirtualSize}}}, TenantID: h.actor.ID, DiskIDs: []string{dk.ID}}
	if err := db.CreateVM(ctx, &h.vm); err != nil {
		t.Fatal(err)
	}
	// The VM's disk as its host makes it, and what the guest wrote before it stopped:
	// a chunk of 0x22 in the second 4 MiB.
	if err := h.m.prepare(ctx, &h.vm, &bootFiles{}); err != nil {
		t.Fatal(err)
	}
	h.overlay = filepath.Join(h.m.vmDir(h.vm.ID), "os.qcow2")
	if out, err := exec.Command(qemuIO, "-f", "qcow2", "-c", "write -P 0x22 4M 4M", h.overlay).CombinedOutput(); err != nil {
		t.Fatalf("qemu-io: %v: %s", err, out)
	}
	return h
}

// TestBackupInRegionLandsInPrimaryStore: a backup made on a compute host outside the
// primary region stores its new chunks in the primary store, where downloads,
// replication and garbage collection look for every disk's chunks.
func TestBackupInRegionLandsInPrimaryStore(t *testing.T) {
	h := newRegionHost(t)
	ctx := t.Context()
	res, err := h.m.Backup(ctx, &h.actor, "web1", hangar.VMBackup{Name: "nightly"})
	if err != nil {
		t.Fatal(err)
	}
	dk, err := h.db.DiskByName(ctx, h.actor.ID, res.OSDisk)
	if err != nil {
		t.Fatal(err)
	}
	m, err := h.db.Manifest(ctx, dk.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Extents) != 2 {
		t.Fatalf("backup manifest %+v, want the image's chunk and the guest's", m.Extents)
	}
	want := bytes.Repeat([]byte{0x22}, chunks.ChunkSize)
	for _, e := range m.Extents {
		data, err := h.primary.Load(ctx, e.Digest)
		if err != nil {
			t.Fatalf("chunk at %d of the backup is not in the primary store: %v", e.Offset, err)
		}
		if e.Offset == chunks.ChunkSize && !bytes.Equal(data, want) {
			t.Fatalf("the guest's chunk reads back wrong")
		}
	}
}

// TestBackupNameIsNotSilentlyReused: a second backup under an existing name is
// refused and leaves the first whole; with Overwrite it replaces it.
func TestBackupNameIsNotSilentlyReused(t *testing.T) {
	h := newRegionHost(t)
	ctx := t.Context()
	if _, err := h.m.Backup(ctx, &h.actor, "web1", hangar.VMBackup{Name: "nightly"}); err != nil {
		t.Fatal(err)
	}
	first, err := h.db.DiskByName(ctx, h.actor.ID, "nightly-os")
	if err != nil {
		t.Fatal(err)
	}
	_, err = h.m.Backup(ctx, &h.actor, "web1", hangar.VMBackup{Name: "nightly"})
	if hangar.ErrorCode(err) != hangar.CodeConflict || !strings.Contains(err.Error(), "--overwrite") {
		t.Fatalf("second backup named nightly: %v; want a conflict that names --overwrite", err)
	}
	if got, err := h.db.DiskByName(ctx, h.actor.ID, "nightly-os"); err != nil || got.ID != first.ID {
		t.Fatalf("the refused backup changed the first: %+v, %v", got, err)
	}

	res, err := h.m.Backup(ctx, &h.actor, "web1", hangar.VMBackup{Name: "nightly", Overwrite: true})
	if err != nil || res.OSDisk != "nightly-os" {
		t.Fatalf("backup --overwrite: %+v, %v", res, err)
	}
	second, err := h.db.DiskByName(ctx, h.actor.ID, "nightly-os")
	if err != nil || second.ID == first.ID {
		t.Fatalf("after --overwrite nightly-os is %+v, %v; want a new disk", second, err)
	}
	disks, _ := h.db.ListDisks(ctx, h.actor.ID)
	var names []string
	for _, dk := range disks {
		names = append(names, dk.Name)
	}
	if !slices.Equal(names, []string{"nightly-os", "os"}) {
		t.Fatalf("disks %v, want the image's and one backup", names)
	}

	// A disk of the tenant's own that happens to carry a backup's name is never
	// replaced, even with Overwrite.
	if err := h.db.CommitDisk(ctx, h.actor.ID, "", &hangar.Disk{Name: "mine-os", SourceFormat: "raw"}, chunks.Manifest{VirtualSize: chunks.ChunkSize}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.m.Backup(ctx, &h.actor, "web1", hangar.VMBackup{Name: "mine", Overwrite: true}); hangar.ErrorCode(err) != hangar.CodeConflict {
		t.Fatalf("backup over an uploaded disk: %v", err)
	}
}

// TestCaptureInRegionIsDownloadable: an image captured on a compute host outside
// the primary region downloads whole through the catalog, which reads the primary
// store: the image's bytes, then what the guest wrote.
func TestCaptureInRegionIsDownloadable(t *testing.T) {
	h := newRegionHost(t)
	ctx := t.Context()
	im, err := h.m.Capture(ctx, &h.actor, "web1", hangar.VMCapture{ImageName: "cap", OSState: hangar.Specialized, KeepVM: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Versions) != 1 || im.Versions[0].OSDisk.Disk != "cap-1.0.0-os" {
		t.Fatalf("captured image: %+v", im)
	}
	ex, err := h.cat.ExportDisk(ctx, &h.actor, "cap-1.0.0-os", "raw")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(ex.Content)
	if err != nil {
		t.Fatalf("downloading the captured disk: %v", err)
	}
	want := append(bytes.Repeat([]byte{0x11}, chunks.ChunkSize), bytes.Repeat([]byte{0x22}, chunks.ChunkSize)...)
	if !bytes.Equal(got, want) {
		t.Fatalf("the captured disk downloads %d bytes that differ from what the VM held", len(got))
	}
}
