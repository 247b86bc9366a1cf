package arm

import (
	"cmp"
	"net/http"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v7"

	"github.com/hangarvm/hangar/internal/hangar"
	"github.com/hangarvm/hangar/internal/store"
)

// A managed image is a Hangar image; made from a VM, it is Hangar's capture (the VM
// stays, as in Azure). An image with several versions (made with Hangar's own API)
// shows its latest.

const vmPattern = "resourceGroups/{group}/providers/Microsoft.Compute/virtualMachines/{vm}"

func (c *call) managedImage(r store.ARMResource, im hangar.Image) armcompute.Image {
	props := &armcompute.ImageProperties{ProvisioningState: to.Ptr("Succeeded")}
	if im.HyperVGeneration != "" {
		props.HyperVGeneration = to.Ptr(armcompute.HyperVGenerationTypes(im.HyperVGeneration))
	}
	state := armcompute.OperatingSystemStateTypesGeneralized
	if im.OSState == hangar.Specialized {
		state = armcompute.OperatingSystemStateTypesSpecialized
	}
	osDisk := &armcompute.ImageOSDisk{OSType: to.Ptr(osType(im.OSType)), OSState: to.Ptr(state)}
	storage := &armcompute.ImageStorageProfile{OSDisk: osDisk, DataDisks: []*armcompute.ImageDataDisk{}}
	if n := len(im.Versions); n > 0 {
		v := im.Versions[n-1]
		osDisk.DiskSizeGB = to.Ptr(sizeGB(v.OSDisk.VirtualSize))
		if v.OSDisk.Disk != "" {
			osDisk.ManagedDisk = &armcompute.SubResource{ID: to.Ptr(c.groupID(r.Group, "disks", v.OSDisk.Disk))}
		}
		for _, d := range v.DataDisks {
			dd := &armcompute.ImageDataDisk{Lun: to.Ptr(int32(d.LUN)), DiskSizeGB: to.Ptr(sizeGB(d.VirtualSize))}
			if d.Disk != "" {
				dd.ManagedDisk = &armcompute.SubResource{ID: to.Ptr(c.groupID(r.Group, "disks", d.Disk))}
			}
			storage.DataDisks = append(storage.DataDisks, dd)
		}
	}
	props.StorageProfile = storage
	return armcompute.Image{
		ID: to.Ptr(c.groupID(r.Group, "images", r.Name)), Name: to.Ptr(r.Name), Type: to.Ptr("Microsoft.Compute/images"),
		Location: to.Ptr(cmp.Or(r.Location, c.primary)), Properties: props, Tags: armTags(im.Tags),
	}
}

// image finds the managed image of the path and its Hangar image.
func (h *Handler) image(c *call) (store.ARMResource, hangar.Image, error) {
	r, err := h.lookup(c, kindImage, kindImage, groupKey(c.p["group"]), c.p["image"])
	if err != nil {
		return r, hangar.Image{}, err
	}
	im, err := c.hangar.Image(c.ctx, r.HangarName)
	if isNotFound(err) {
		err = notFound("Microsoft.Compute/images", c.p["image"])
	}
	return r, im, err
}

func (h *Handler) getImage(c *call) (int, any, error) {
	r, im, err := h.image(c)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, c.managedImage(r, im), nil
}

func (h *Handler) putImage(c *call) (int, any, error) {
	if r, im, err := h.image(c); err == nil {
		return http.StatusOK, c.managedImage(r, im), nil // images do not change once made
	} else if hangar.ErrorCode(err) != "ResourceNotFound" {
		return 0, nil, err
	}
	var body armcompute.Image
	name, err := c.decodeNew("image", "image", &body)
	if err != nil {
		return 0, nil, err
	}
	if body.Properties == nil {
		return 0, nil, invalid("an image needs properties: sourceVirtualMachine or storageProfile")
	}
	makeImage, err := h.imageMaker(c, body.Properties)
	if err != nil {
		return 0, nil, err
	}
	r, err := h.claim(c, store.ARMResource{Kind: kindImage, Parent: groupKey(c.p["group"]), Group: c.p["group"], Name: name,
		HangarKind: kindImage, Location: str(body.Location), Properties: []byte("{}")}, c.imageExists)
	if err != nil {
		return 0, nil, err
	}
	if err := makeImage(r.HangarName); err != nil {
		// Nothing was made: forget the name, so that the PUT can be tried again.
		h.forget(c, r)
		return 0, nil, err
	}
	var im hangar.Image
	if len(body.Tags) > 0 {
		err = c.hangar.SetTags(c.ctx, "images", r.HangarName, "", hangarTags(body.Tags), &im)
	} else {
		im, err = c.hangar.Image(c.ctx, r.HangarName)
	}
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, c.managedImage(r, im), nil
}

// imageMaker checks what an image is to be made from and returns what makes it
// under a Hangar name.
func (h *Handler) imageMaker(c *call, p *armcompute.ImageProperties) (func(hangarName string) error, error) {
	if p.SourceVirtualMachine != nil && p.SourceVirtualMachine.ID != nil {
		ids, ok := c.parseID(*p.SourceVirtualMachine.ID, vmPattern)
		if !ok {
			return nil, invalid("sourceVirtualMachine.id %q is not the ID of one of your VMs", *p.SourceVirtualMachine.ID)
		}
		vm, err := h.lookup(c, kindVM, kindVM, groupKey(ids["group"]), ids["vm"])
		if err != nil {
			return nil, err
		}
		return func(name string) error {
			// As in Azure, a managed image is made from a generalized VM only.
			_, err := c.hangar.Capture(c.ctx, vm.HangarName, hangar.VMCapture{ImageName: name, KeepVM: true, OSState: hangar.Generalized})
			return err
		}, nil
	}
	sp := p.StorageProfile
	if sp == nil || sp.OSDisk == nil || sp.OSDisk.ManagedDisk == nil || sp.OSDisk.ManagedDisk.ID == nil || sp.OSDisk.OSState == nil {
		return nil, invalid("give properties.sourceVirtualMachine.id, or properties.storageProfile.osDisk with managedDisk.id (one of your disks), osType and osState")
	}
	req := hangar.ImageCreate{OSType: hangar.OSLinux, OSState: hangar.OSState(strings.ToLower(string(*sp.OSDisk.OSState)))}
	if sp.OSDisk.OSType != nil && *sp.OSDisk.OSType == armcompute.OperatingSystemTypesWindows {
		req.OSType = hangar.OSWindows
	}
	if p.HyperVGeneration != nil {
		req.HyperVGeneration = string(*p.HyperVGeneration)
	}
	var err error
	if req.OSDisk, err = c.diskName(*sp.OSDisk.ManagedDisk.ID); err != nil {
		return nil, err
	}
	for _, d := range sp.DataDisks {
		if d == nil || d.Lun == nil || d.ManagedDisk == nil || d.ManagedDisk.ID == nil {
			return nil, invalid("each data disk needs a lun and managedDisk.id")
		}
		name, err := c.diskName(*d.ManagedDisk.ID)
		if err != nil {
			return nil, err
		}
		req.DataDisks = append(req.DataDisks, hangar.DataDiskSpec{LUN: int(*d.Lun), Disk: name})
	}
	if req.Type, err = imageKind(*sp.OSDisk.OSState, len(req.DataDisks)); err != nil {
		return nil, err
	}
	return func(name string) error {
		req.Name = name
		_, err := c.hangar.CreateImage(c.ctx, req)
		return err
	}, nil
}

func (h *Handler) deleteImage(c *call) (int, any, error) {
	r, im, err := h.image(c)
	if err != nil {
		return 0, nil, err
	}
	if err := c.hangar.DeleteImage(c.ctx, im.Name); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, nil, h.forget(c, r)
}

// hangarOwned pairs the tenant's Hangar images or VMs with the ARM resources that
// stand for them, for lists: one made with Hangar's own API is in DefaultGroup
// under its own name; one that stands for a gallery image definition is not listed.
func (h *Handler) hangarOwned(c *call, kind string, names []string) ([]store.ARMResource, error) {
	byHangar := map[string]store.ARMResource{}
	kinds := []string{kind}
	if kind == kindImage {
		kinds = append(kinds, kindGalleryImage)
	}
	for _, k := range kinds {
		rs, err := h.allResources(c, k, "")
		if err != nil {
			return nil, err
		}
		for _, r := range rs {
			byHangar[r.HangarName] = r
		}
	}
	var out []store.ARMResource
	for _, n := range names {
		r, ok := byHangar[n]
		if !ok {
			r = store.ARMResource{Kind: kind, Parent: groupKey(DefaultGroup), Group: DefaultGroup, Name: n, HangarKind: kind, HangarName: n}
		}
		if r.Kind != kind || c.p["group"] != "" && r.Parent != groupKey(c.p["group"]) {
			continue
		}
		out = append(out, r)
	}
	return out, nil
}

func (h *Handler) listImages(c *call) (int, any, error) {
	images, err := c.hangar.ListImages(c.ctx, false)
	if err != nil {
		return 0, nil, err
	}
	var names []string
	for _, im := range images {
		names = append(names, im.Name)
	}
	rs, err := h.hangarOwned(c, kindImage, names)
	if err != nil {
		return 0, nil, err
	}
	pg, err := sortedPage(c, rs, listKey, func(r store.ARMResource) any {
		im, err := c.hangar.Image(c.ctx, r.HangarName)
		if err != nil {
			im = hangar.Image{Name: r.HangarName}
		}
		return c.managedImage(r, im)
	})
	return http.StatusOK, pg, err
}
