package compute

import (
	"context"
	"fmt"

	"github.com/hangarvm/hangar/internal/hangar"
	"github.com/hangarvm/hangar/internal/store"
)

// Generalize marks a stopped VM generalized: its OS disk was deprovisioned in the
// guest (hangar-agent deprovision) and it can now only be captured as an image; it
// can never start again. Unless req.NoBackup, a backup is taken first when none
// holds the VM's latest state (no backup since it last ran). With a precondition,
// the VM is claimed (its revision moved under pre) before the backup, so of two
// callers holding the same ETag only one goes on.
func (m *Manager) Generalize(ctx context.Context, actor *hangar.Tenant, name string, req hangar.VMGeneralize, pre hangar.Precondition) (hangar.VM, error) {
	v, err := m.settledVM(ctx, actor, name, "generalizing it", false)
	if err != nil {
		return hangar.VM{}, err
	}
	if v.PowerState == hangar.PowerGeneralized {
		if err := checkVM(pre, &v); err != nil {
			return hangar.VM{}, err
		}
		return view(v), nil
	}
	if !pre.IsZero() {
		if err := m.db.UpdateVM(ctx, v.ID, store.VMUpdate{IfMatch: pre}); err != nil {
			return hangar.VM{}, err
		}
	}
	if !req.NoBackup && (v.LastBackup.IsZero() || v.LastBackup.Before(v.LastStarted)) {
		res, err := m.Backup(ctx, actor, name, hangar.VMBackup{})
		if err != nil {
			return hangar.VM{}, fmt.Errorf("the backup before generalizing failed (nothing was generalized): %w", err)
		}
		m.log.Info("backup before generalize", "vm", name, "backup", res.Name)
	}
	state := hangar.PowerGeneralized
	if err := m.db.UpdateVM(ctx, v.ID, store.VMUpdate{PowerState: &state}); err != nil {
		return hangar.VM{}, err
	}
	m.log.Info("vm generalized", "vm", name)
	return m.Get(ctx, actor, name)
}

// Capture makes an image version of a VM. A generalized capture needs a generalized
// VM and, like Azure's classic capture, deletes the VM afterwards unless KeepVM; a
// specialized capture leaves the VM running or stopped as it was (a running VM's
// disks are taken crash-consistent). Only chunks the VM changed since its image are
// read and stored.
func (m *Manager) Capture(ctx context.Context, actor *hangar.Tenant, name string, req hangar.VMCapture) (hangar.Image, error) {
	v, err := m.settledVM(ctx, actor, name, "capturing it", req.OSState != hangar.Generalized)
	if err != nil {
		return hangar.Image{}, err
	}
	if req.OSState == "" {
		req.OSState = hangar.Specialized
		if v.PowerState == hangar.PowerGeneralized {
			req.OSState = hangar.Generalized
		}
	}
	if req.Type == "" {
		req.Type = hangar.ImageTypeVM
	}
	if req.Version == "" {
		req.Version = "1.0.0"
	}
	switch {
	case req.OSState == hangar.Generalized && v.PowerState != hangar.PowerGeneralized:
		return hangar.Image{}, hangar.Errorf(hangar.CodeConflict,
			"VM %q is not generalized: deprovision it in the guest (hangar vm run-command %s --script 'hangar-agent deprovision+user'), stop it, run `hangar vm generalize %s`, then capture; or capture it as specialized (--os-state specialized)", name, name, name)
	case req.Type == hangar.ImageTypeOS && len(v.Disks) > 1:
		return hangar.Image{}, hangar.Errorf(hangar.CodeInvalid, "VM %q has data disks; an OS image holds only the OS disk: capture a VM image (--type vm)", name)
	}
	create := hangar.ImageCreate{Name: req.ImageName, Type: req.Type, OSType: v.OSType, OSState: req.OSState,
		HyperVGeneration: v.HyperVGeneration, ProvisioningAgent: v.ProvisioningAgent, Version: req.Version,
		Description: "captured from VM " + name, Properties: req.Properties, ResourceGroup: req.ResourceGroup}
	check := create
	check.OSDisk = "placeholder"
	if err := check.Normalize(); err != nil {
		return hangar.Image{}, err
	}
	if err := m.available(); err != nil {
		return hangar.Image{}, err
	}
	// Disks left by an interrupted capture of the same version, that no image uses
	// yet, are replaced: the capture can simply be retried.
	prefix := req.ImageName + "-" + req.Version
	var leftovers []string
	for _, d := range v.Disks {
		leftovers = append(leftovers, prefix+"-"+diskID(d.LUN))
	}
	names, err := m.snapshot(ctx, &v, prefix, "vm-capture", leftovers)
	if err != nil {
		return hangar.Image{}, err
	}
	create.OSDisk = names[-1]
	for _, d := range v.Disks {
		if d.LUN >= 0 {
			create.DataDisks = append(create.DataDisks, hangar.DataDiskSpec{LUN: d.LUN, Disk: names[d.LUN]})
		}
	}
	im, err := m.cat.CreateImage(ctx, actor, create)
	if err != nil {
		return hangar.Image{}, err
	}
	m.log.Info("vm captured", "vm", name, "image", req.ImageName, "version", req.Version, "osState", req.OSState)
	if req.OSState == hangar.Generalized && !req.KeepVM {
		if err := m.Delete(ctx, actor, name, hangar.Precondition{}); err != nil {
			return im, err
		}
	}
	return im, nil
}
