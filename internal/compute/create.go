package compute

import (
	"bytes"
	"context"
	"errors"
	"time"

	"github.com/hangarvm/hangar/internal/hangar"
	"github.com/hangarvm/hangar/internal/provision"
	"github.com/hangarvm/hangar/internal/store"
)

// plan validates a create request against its image and returns the VM to record and,
// for a generalized image, the provisioning medium.
func (m *Manager) plan(ctx context.Context, actor *hangar.Tenant, req hangar.VMCreate) (*store.VM, *bootFiles, error) {
	if err := hangar.ValidateName("VM", req.Name); err != nil {
		return nil, nil, err
	}
	if req.Size == "" {
		req.Size = hangar.DefaultVMSize
	}
	size, err := hangar.SizeByName(req.Size)
	if err != nil {
		return nil, nil, err
	}
	if req.ResourceGroup != "" {
		if err := hangar.ValidateResourceGroup(req.ResourceGroup); err != nil {
			return nil, nil, err
		}
	}
	img, err := m.cat.Resolve(ctx, actor, req.Image)
	if err != nil {
		return nil, nil, err
	}
	// What the image's definition says about the VMs that fit it (see docs/arm.md).
	if err := img.Fits(size); err != nil {
		return nil, nil, err
	}
	storageSKU := img.DefaultStorageSKU()
	if req.StorageSKU != "" {
		if storageSKU, err = hangar.ParseStorageSKU(req.StorageSKU); err != nil {
			return nil, nil, err
		}
	}
	if err := img.Allows(storageSKU); err != nil {
		return nil, nil, err
	}
	if img.Plan != nil && !img.Plan.TermsAccepted {
		return nil, nil, hangar.Errorf(hangar.CodeTermsNotAccepted,
			"%s has plan %q whose terms you have not accepted; read them with `hangar vm image terms show --urn %s` and accept with `hangar vm image terms accept --urn %s`",
			img.Reference, img.Plan.Name, img.Reference, img.Reference)
	}
	timeout, err := m.provisioningTimeout(req)
	if err != nil {
		return nil, nil, err
	}
	egress, err := hangar.ParseEgress(string(req.Egress))
	if err != nil {
		return nil, nil, err
	}
	vm := &store.VM{TenantID: actor.ID, InstanceID: newInstanceID(), ProvisioningTimeout: timeout}
	vm.Egress, vm.StorageSKU, vm.ResourceGroup = egress, storageSKU, req.ResourceGroup
	vm.Name, vm.Image, vm.OSType, vm.OSState = req.Name, img.Reference, img.OSType, img.OSState
	vm.HyperVGeneration, vm.Size = img.HyperVGeneration, size
	vm.ProvisioningAgent = img.ProvisioningAgent
	vm.PowerState, vm.ProvisioningState = hangar.PowerCreating, hangar.ProvisioningCreating
	vm.Disks = append(vm.Disks, hangar.VMDisk{LUN: -1, Source: img.Reference, VirtualSize: img.OSDisk.VirtualSize})
	vm.DiskIDs = append(vm.DiskIDs, img.OSDisk.DiskID)
	next := 0
	for _, d := range img.DataDisks {
		vm.Disks = append(vm.Disks, hangar.VMDisk{LUN: d.LUN, Source: img.Reference, VirtualSize: d.VirtualSize})
		vm.DiskIDs = append(vm.DiskIDs, d.DiskID)
		next = d.LUN + 1
	}
	for _, name := range req.AttachDisks {
		d, err := m.cat.Disk(ctx, actor, name)
		if err != nil {
			return nil, nil, err
		}
		if next > hangar.MaxLUN {
			return nil, nil, hangar.Errorf(hangar.CodeInvalid, "a VM has at most %d data disks", hangar.MaxLUN+1)
		}
		vm.Disks = append(vm.Disks, hangar.VMDisk{LUN: next, Source: "disk/" + d.Name, VirtualSize: d.VirtualSize})
		vm.DiskIDs = append(vm.DiskIDs, d.ID)
		next++
	}
	// A host outside the primary region makes the disks from its region's copy.
	if err := m.cat.UsableIn(ctx, m.cfg.Host.Region, vm.DiskIDs); err != nil {
		return nil, nil, err
	}
	if img.OSState == hangar.Specialized {
		if req.AdminUsername != "" || req.AdminPassword != "" || len(req.SSHPublicKeys) > 0 || req.ComputerName != "" || req.CustomData != nil {
			return nil, nil, hangar.Errorf(hangar.CodeInvalid,
				"%s is specialized: it keeps its computer name and accounts and is not provisioned, so do not pass a computer name, admin user, password, SSH key or custom data", img.Reference)
		}
		vm.ProvisioningMessage = "specialized image: nothing is provisioned"
		if vm.ProvisioningAgent != hangar.AgentNoCloud {
			return vm, &bootFiles{}, nil
		}
		// cloud-init finds no data source without a disc, falls back to None, and
		// treats the VM as a new instance: it is told to change nothing instead.
		files, err := provision.SpecializedFiles(vm.InstanceID)
		if err != nil {
			return nil, nil, err
		}
		var iso bytes.Buffer
		if err := provision.WriteISO(&iso, files); err != nil {
			return nil, nil, err
		}
		return vm, &bootFiles{medium: iso.Bytes()}, nil
	}
	if len(req.UserData) > provision.MaxCustomData {
		return nil, nil, hangar.Errorf(hangar.CodeInvalid, "user data is %d bytes; at most %d (64 KiB) are allowed", len(req.UserData), provision.MaxCustomData)
	}
	vm.ComputerName, vm.AdminUsername = req.ComputerName, req.AdminUsername
	if vm.ComputerName == "" {
		vm.ComputerName = req.Name
	}
	pc := &provision.Config{
		InstanceID: vm.InstanceID, ComputerName: vm.ComputerName, OSType: string(img.OSType),
		AdminUsername: req.AdminUsername, AdminPassword: req.AdminPassword, SSHPublicKeys: req.SSHPublicKeys, CustomData: req.CustomData,
	}
	files, err := provision.Files(pc)
	if err != nil {
		var ce *provision.ConfigError
		if errors.As(err, &ce) {
			return nil, nil, hangar.Errorf(hangar.CodeInvalid, "%s", ce.Msg)
		}
		return nil, nil, err
	}
	var iso bytes.Buffer
	if err := provision.WriteISO(&iso, files); err != nil {
		return nil, nil, err
	}
	return vm, &bootFiles{medium: iso.Bytes(), facts: platformFacts{
		AdminUsername: req.AdminUsername, DisablePasswordAuthentication: req.AdminPassword == "",
		SSHPublicKeys: req.SSHPublicKeys, UserData: req.UserData,
	}}, nil
}

// provisioningTimeout is the request's timeout, or the host's default.
func (m *Manager) provisioningTimeout(req hangar.VMCreate) (time.Duration, error) {
	if req.ProvisionAfter == "" {
		return m.cfg.ProvisioningTimeout, nil
	}
	d, err := time.ParseDuration(req.ProvisionAfter)
	if err != nil || d <= 0 {
		return 0, hangar.Errorf(hangar.CodeInvalid, "provisioning timeout %q is not a duration such as 90s or 5m", req.ProvisionAfter)
	}
	return d, nil
}
