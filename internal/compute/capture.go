package compute

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/hangarvm/hangar/internal/chunks"
	"github.com/hangarvm/hangar/internal/hangar"
	"github.com/hangarvm/hangar/internal/store"
)

// mapEntry is one range of `qemu-img map --output=json`.
type mapEntry struct {
	Start  int64  `json:"start"`
	Length int64  `json:"length"`
	Depth  int    `json:"depth"`
	Zero   bool   `json:"zero"`
	Data   bool   `json:"data"`
	Offset *int64 `json:"offset"`
}

// overlayChanges lists the ranges a qcow2 overlay holds itself (depth 0): what the
// VM wrote since its base. The overlay is our own file, so qemu-img may read it;
// -U lets it read while QEMU holds the file (only for a paused or stopped guest).
func overlayChanges(ctx context.Context, qemuImg, overlay string) ([]mapEntry, error) {
	out, err := exec.CommandContext(ctx, qemuImg, "map", "-U", "-f", "qcow2", "--output=json", overlay).Output()
	if err != nil {
		return nil, fmt.Errorf("qemu-img map %s: %w", filepath.Base(overlay), err)
	}
	var all []mapEntry
	if err := json.Unmarshal(out, &all); err != nil {
		return nil, fmt.Errorf("qemu-img map: %w", err)
	}
	var own []mapEntry
	for _, e := range all {
		if e.Depth == 0 && (e.Zero || e.Data) {
			own = append(own, e)
		}
	}
	return own, nil
}

// diskManifest computes the manifest of a VM disk: its base's manifest, with every
// chunk the overlay touched re-read (base bytes, then the overlay's own clusters on
// top), hashed and stored. The cost grows with what the VM wrote, not with the disk.
// New chunks go to the primary store through the catalog, not to the store of this
// host's region that the bases are read from: every disk lands in the primary store.
func (m *Manager) diskManifest(ctx context.Context, vm *store.VM, i int, overlayPath string) (chunks.Manifest, error) {
	base, err := m.db.Manifest(ctx, vm.DiskIDs[i])
	if err != nil {
		return base, err
	}
	changes, err := overlayChanges(ctx, m.cfg.QEMUImg, overlayPath)
	if err != nil {
		return base, err
	}
	touched := map[int64]bool{}
	for _, c := range changes {
		for off := c.Start / chunks.ChunkSize * chunks.ChunkSize; off < c.Start+c.Length; off += chunks.ChunkSize {
			touched[off] = true
		}
	}
	if len(touched) == 0 {
		return base, nil
	}
	baseFile, err := os.Open(m.bases.path(vm.DiskIDs[i]))
	if err != nil {
		return base, err
	}
	defer baseFile.Close()
	overlay, err := os.Open(overlayPath)
	if err != nil {
		return base, err
	}
	defer overlay.Close()
	extents := map[int64]chunks.Extent{}
	for _, e := range base.Extents {
		extents[e.Offset] = e
	}
	buf := make([]byte, chunks.ChunkSize)
	for off := range touched {
		data := buf[:chunks.ChunkLen(off, base.VirtualSize)]
		if err := readChunk(data, off, baseFile, overlay, changes); err != nil {
			return base, err
		}
		if chunks.IsZero(data) {
			delete(extents, off)
			continue
		}
		d := chunks.Sum(data)
		if err := m.cat.SaveChunk(ctx, d, data); err != nil {
			return base, err
		}
		extents[off] = chunks.Extent{Offset: off, Length: int64(len(data)), Digest: d}
	}
	out := chunks.Manifest{VirtualSize: base.VirtualSize}
	for _, e := range extents {
		out.Extents = append(out.Extents, e)
	}
	sort.Slice(out.Extents, func(a, b int) bool { return out.Extents[a].Offset < out.Extents[b].Offset })
	return out, nil
}

// readChunk fills data with the disk's bytes at off: the base's, overwritten by the
// overlay's own ranges (zeros, or data at their offset in the overlay file).
func readChunk(data []byte, off int64, base, overlay *os.File, changes []mapEntry) error {
	if _, err := base.ReadAt(data, off); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	end := off + int64(len(data))
	for _, c := range changes {
		lo, hi := max(c.Start, off), min(c.Start+c.Length, end)
		if lo >= hi {
			continue
		}
		dst := data[lo-off : hi-off]
		if c.Zero || c.Offset == nil {
			clear(dst)
			continue
		}
		if _, err := overlay.ReadAt(dst, *c.Offset+(lo-c.Start)); err != nil {
			return err
		}
	}
	return nil
}

// snapshot stores every disk of a VM as a disk the tenant owns, named PREFIX-os,
// PREFIX-lun0, ..., and returns their names by LUN (-1: OS disk). A stopped VM's
// overlays are read as they are; a running VM's are first frozen at one point in
// time for all its disks (crash-consistent). The disks appear together or not at
// all; the tenant's disks named in replace are deleted in the same transaction.
func (m *Manager) snapshot(ctx context.Context, vm *store.VM, prefix, format string, replace []string) (map[int]string, error) {
	overlays, cleanup, err := m.frozenOverlays(ctx, vm)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	names := map[int]string{}
	var disks []store.NewDisk
	for i, d := range vm.Disks {
		manifest, err := m.diskManifest(ctx, vm, i, overlays[i])
		if err != nil {
			return nil, err
		}
		dk := &hangar.Disk{Name: prefix + "-" + diskID(d.LUN), SourceFormat: format}
		disks = append(disks, store.NewDisk{Disk: dk, Manifest: manifest})
		names[d.LUN] = dk.Name
	}
	if err := m.db.CommitDisks(ctx, vm.TenantID, disks, store.DiskReplacement{Names: replace, SourceFormat: format}); err != nil {
		return nil, err
	}
	return names, nil
}

// snapshotDisks names the actor's disks that hold a snapshot called prefix:
// PREFIX-os and PREFIX-lunN.
func (m *Manager) snapshotDisks(ctx context.Context, actor *hangar.Tenant, prefix string) ([]hangar.Disk, error) {
	all, err := m.db.ListDisks(ctx, actor.ID)
	if err != nil {
		return nil, err
	}
	var out []hangar.Disk
	for _, dk := range all {
		rest, ok := strings.CutPrefix(dk.Name, prefix+"-")
		if !ok {
			continue
		}
		if lun, isLUN := strings.CutPrefix(rest, "lun"); rest == "os" || isLUN && lun != "" && strings.Trim(lun, "0123456789") == "" {
			out = append(out, dk)
		}
	}
	return out, nil
}

// frozenOverlays returns, for each disk, a qcow2 file on the disk's base that holds
// what the VM wrote: the overlays themselves when the VM is stopped; for a running
// VM, copies of their top layer that QEMU takes in one transaction (drive-backup,
// sync=top), all at the same instant, while the guest keeps running.
func (m *Manager) frozenOverlays(ctx context.Context, vm *store.VM) ([]string, func(), error) {
	dir := m.vmDir(vm.ID)
	paths := make([]string, len(vm.Disks))
	mc := m.machine(vm.ID)
	if mc == nil || vm.PowerState != hangar.PowerRunning {
		for i, d := range vm.Disks {
			paths[i] = filepath.Join(dir, diskID(d.LUN)+".qcow2")
		}
		return paths, func() {}, nil
	}
	var actions []map[string]any
	for i, d := range vm.Disks {
		paths[i] = filepath.Join(dir, "freeze-"+diskID(d.LUN)+".qcow2")
		os.Remove(paths[i])
		actions = append(actions, map[string]any{"type": "drive-backup", "data": map[string]any{
			"device": "drive-" + diskID(d.LUN), "job-id": "freeze-" + diskID(d.LUN), "sync": "top",
			"target": paths[i], "format": "qcow2", "mode": "absolute-paths", "auto-dismiss": false,
		}})
	}
	cleanup := func() {
		for _, p := range paths {
			os.Remove(p)
		}
	}
	if err := mc.qmp.Transaction(ctx, actions); err != nil {
		cleanup()
		return nil, nil, fmt.Errorf("freezing the running VM's disks: %w", err)
	}
	for {
		jobs, err := mc.qmp.QueryJobs(ctx)
		if err != nil {
			cleanup()
			return nil, nil, err
		}
		pending := 0
		for _, j := range jobs {
			if !strings.HasPrefix(j.ID, "freeze-") {
				continue
			}
			if j.Status != "concluded" {
				pending++
				continue
			}
			mc.qmp.JobDismiss(ctx, j.ID)
			if j.Error != "" {
				cleanup()
				return nil, nil, fmt.Errorf("copying %s: %s", j.ID, j.Error)
			}
		}
		if pending == 0 {
			return paths, cleanup, nil
		}
		select {
		case <-ctx.Done():
			cleanup()
			return nil, nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// settledVM returns the actor's VM if it is stopped (or, when running is true, also
// running), not in the middle of a change of state.
func (m *Manager) settledVM(ctx context.Context, actor *hangar.Tenant, name, what string, running bool) (store.VM, error) {
	v, err := m.db.VMByName(ctx, actor.ID, name)
	if err != nil {
		return v, err
	}
	switch v.PowerState {
	case hangar.PowerStopped, hangar.PowerDeallocated, hangar.PowerGeneralized:
		return v, nil
	case hangar.PowerRunning:
		if running && m.machine(v.ID) != nil {
			return v, nil
		}
	}
	return v, hangar.Errorf(hangar.CodeConflict, "VM %q is %s: stop it before %s (hangar vm stop %s)", name, v.PowerState, what, name)
}

// backupFormat is the source format of the disks a backup makes.
const backupFormat = "vm-backup"

// Backup snapshots every disk of a VM into disks the tenant owns: consistent when
// the VM is stopped, crash-consistent (all disks at one instant) while it runs.
// Restore by creating a specialized VM image of them (the answer says how). A
// backup of an existing name is refused unless req.Overwrite.
func (m *Manager) Backup(ctx context.Context, actor *hangar.Tenant, name string, req hangar.VMBackup) (hangar.VMBackupResult, error) {
	v, err := m.settledVM(ctx, actor, name, "a backup", true)
	if err != nil {
		return hangar.VMBackupResult{}, err
	}
	if req.Name == "" {
		req.Name = name + "-backup-" + time.Now().UTC().Format("20060102-150405")
	}
	if err := hangar.ValidateName("backup", req.Name); err != nil {
		return hangar.VMBackupResult{}, err
	}
	if err := m.available(); err != nil {
		return hangar.VMBackupResult{}, err
	}
	// An earlier backup of the same name is an acknowledged result: it is replaced
	// only when asked, and then in the transaction that commits the new one.
	old, err := m.snapshotDisks(ctx, actor, req.Name)
	if err != nil {
		return hangar.VMBackupResult{}, err
	}
	var replace []string
	for _, dk := range old {
		if dk.SourceFormat != backupFormat {
			return hangar.VMBackupResult{}, hangar.Errorf(hangar.CodeConflict, "disk %q exists and is not a backup; choose another backup name", dk.Name)
		}
		replace = append(replace, dk.Name)
	}
	if len(replace) > 0 && !req.Overwrite {
		return hangar.VMBackupResult{}, hangar.Errorf(hangar.CodeConflict, "backup %q exists (disks %s); choose another name, or replace it with --overwrite",
			req.Name, strings.Join(replace, ", "))
	}
	names, err := m.snapshot(ctx, &v, req.Name, backupFormat, replace)
	if err != nil {
		return hangar.VMBackupResult{}, err
	}
	// Only a backup of a stopped VM holds its latest state, for Generalize.
	if v.PowerState != hangar.PowerRunning {
		if err := m.db.UpdateVM(ctx, v.ID, store.VMUpdate{BackedUp: true}); err != nil {
			return hangar.VMBackupResult{}, err
		}
	}
	res := hangar.VMBackupResult{Name: req.Name, OSDisk: names[-1]}
	restore := fmt.Sprintf("hangar image create --name %s --type vm --os-type %s --os-state specialized --os-disk %s --hyperv-generation %s --provisioning-agent %s",
		req.Name, v.OSType, names[-1], v.HyperVGeneration, v.ProvisioningAgent)
	for _, d := range v.Disks {
		if d.LUN >= 0 {
			res.DataDisks = append(res.DataDisks, hangar.DataDiskSpec{LUN: d.LUN, Disk: names[d.LUN]})
			restore += fmt.Sprintf(" --data-disk %d=%s", d.LUN, names[d.LUN])
		}
	}
	res.Restore = restore + "; then hangar vm create --name NEW --image " + req.Name
	m.log.Info("vm backed up", "vm", name, "backup", req.Name)
	return res, nil
}
