package arm

import (
	"cmp"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v7"

	"github.com/hangarvm/hangar/internal/hangar"
	"github.com/hangarvm/hangar/internal/store"
)

// A VM is a Hangar VM. Its creation is long-running: the operation succeeds when
// the guest reports ready (Hangar's provisioningState), and fails as in Azure when
// it never does (OSProvisioningTimedOut).

func (h *Handler) vm(c *call) (store.ARMResource, hangar.VM, error) {
	r, err := h.lookup(c, kindVM, kindVM, groupKey(c.p["group"]), c.p["vm"])
	if err != nil {
		return r, hangar.VM{}, err
	}
	vm, err := c.hangar.VM(c.ctx, r.HangarName)
	if isNotFound(err) {
		err = notFound("Microsoft.Compute/virtualMachines", c.p["vm"])
	}
	return r, vm, err
}

// provisioningState is ARM's provisioningState of a VM.
func provisioningState(vm hangar.VM) string {
	switch vm.ProvisioningState {
	case hangar.ProvisioningSucceeded:
		return "Succeeded"
	case hangar.ProvisioningFailed, hangar.ProvisioningTimedOut:
		return "Failed"
	}
	return "Creating"
}

func (c *call) virtualMachine(r store.ARMResource, vm hangar.VM, withInstanceView bool) armcompute.VirtualMachine {
	var ref armcompute.ImageReference
	json.Unmarshal(r.Properties, &ref)
	if ref == (armcompute.ImageReference{}) {
		ref.ID = to.Ptr(vm.Image) // made with Hangar's own API: its reference
	}
	ref.ExactVersion = nil
	if _, v, ok := strings.Cut(vm.Image, "@"); ok {
		ref.ExactVersion = to.Ptr(v)
	} else if parts := strings.Split(vm.Image, ":"); len(parts) == 4 {
		ref.ExactVersion = to.Ptr(parts[3])
	}
	osDisk := &armcompute.OSDisk{OSType: to.Ptr(osType(vm.OSType)), Name: to.Ptr(r.Name + "_OsDisk"), CreateOption: to.Ptr(armcompute.DiskCreateOptionTypesFromImage)}
	if vm.StorageSKU != "" {
		osDisk.ManagedDisk = &armcompute.ManagedDiskParameters{StorageAccountType: to.Ptr(armcompute.StorageAccountTypes(vm.StorageSKU))}
	}
	var data []*armcompute.DataDisk
	for _, d := range vm.Disks {
		if d.LUN < 0 {
			osDisk.DiskSizeGB = to.Ptr(sizeGB(d.VirtualSize))
			continue
		}
		data = append(data, &armcompute.DataDisk{Lun: to.Ptr(int32(d.LUN)), DiskSizeGB: to.Ptr(sizeGB(d.VirtualSize)),
			CreateOption: to.Ptr(armcompute.DiskCreateOptionTypesFromImage), Name: to.Ptr(fmt.Sprintf("%s_DataDisk_%d", r.Name, d.LUN))})
	}
	props := &armcompute.VirtualMachineProperties{
		VMID:              to.Ptr(hangar.AsUUID(vm.ID)),
		ProvisioningState: to.Ptr(provisioningState(vm)),
		HardwareProfile:   &armcompute.HardwareProfile{VMSize: to.Ptr(armcompute.VirtualMachineSizeTypes(vm.Size.Name))},
		StorageProfile:    &armcompute.StorageProfile{ImageReference: &ref, OSDisk: osDisk, DataDisks: data},
		TimeCreated:       to.Ptr(vm.CreatedAt),
	}
	if vm.ComputerName != "" || vm.AdminUsername != "" {
		props.OSProfile = &armcompute.OSProfile{ComputerName: to.Ptr(vm.ComputerName), AdminUsername: to.Ptr(vm.AdminUsername)}
	}
	if withInstanceView {
		props.InstanceView = instanceView(vm)
	}
	return armcompute.VirtualMachine{
		ID: to.Ptr(c.groupID(r.Group, "virtualMachines", r.Name)), Name: to.Ptr(r.Name), Type: to.Ptr("Microsoft.Compute/virtualMachines"),
		Location: to.Ptr(cmp.Or(r.Location, c.primary)), Properties: props, Plan: c.plan(vm), Tags: armTags(vm.Tags),
	}
}

// plan is the marketplace plan of the image a VM was made from, as Azure shows it
// on the VM; nil for an image without one.
func (c *call) plan(vm hangar.VM) *armcompute.Plan {
	if strings.Count(vm.Image, ":") != 3 {
		return nil // not a marketplace URN
	}
	im, err := c.hangar.MarketplaceImage(c.ctx, vm.Image)
	if err != nil || im.Plan == nil {
		return nil
	}
	return &armcompute.Plan{Name: to.Ptr(im.Plan.Name), Product: to.Ptr(im.Plan.Product), Publisher: to.Ptr(im.Plan.Publisher)}
}

func status(code, display string, level armcompute.StatusLevelTypes, message string) *armcompute.InstanceViewStatus {
	s := &armcompute.InstanceViewStatus{Code: to.Ptr(code), DisplayStatus: to.Ptr(display), Level: to.Ptr(level)}
	if message != "" {
		s.Message = to.Ptr(message)
	}
	return s
}

// instanceView gives Azure's status codes: ProvisioningState/... and PowerState/...
func instanceView(vm hangar.VM) *armcompute.VirtualMachineInstanceView {
	var statuses []*armcompute.InstanceViewStatus
	switch vm.ProvisioningState {
	case hangar.ProvisioningSucceeded:
		statuses = append(statuses, status("ProvisioningState/succeeded", "Provisioning succeeded", armcompute.StatusLevelTypesInfo, ""))
	case hangar.ProvisioningFailed:
		statuses = append(statuses, status("ProvisioningState/failed", "Provisioning failed", armcompute.StatusLevelTypesError, vm.ProvisioningMessage))
	case hangar.ProvisioningTimedOut:
		statuses = append(statuses, status("ProvisioningState/failed/OSProvisioningTimedOut", "OS Provisioning timed out", armcompute.StatusLevelTypesError, vm.ProvisioningMessage))
	default:
		statuses = append(statuses, status("ProvisioningState/creating", "Creating", armcompute.StatusLevelTypesInfo, ""))
	}
	power := vm.PowerState
	if power == hangar.PowerGeneralized {
		statuses = append(statuses, status("OSState/generalized", "VM generalized", armcompute.StatusLevelTypesInfo, ""))
		power = hangar.PowerStopped
	}
	if power == hangar.PowerCreating {
		power = "starting"
	}
	statuses = append(statuses, status("PowerState/"+string(power), "VM "+string(power), armcompute.StatusLevelTypesInfo, ""))
	return &armcompute.VirtualMachineInstanceView{ComputerName: to.Ptr(vm.ComputerName), Statuses: statuses}
}

func (h *Handler) getVM(c *call) (int, any, error) {
	r, vm, err := h.vm(c)
	if err != nil {
		return 0, nil, err
	}
	expand := strings.EqualFold(c.r.URL.Query().Get("$expand"), "instanceView")
	return http.StatusOK, c.virtualMachine(r, vm, expand), nil
}

func (h *Handler) getInstanceView(c *call) (int, any, error) {
	_, vm, err := h.vm(c)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, instanceView(vm), nil
}

func (h *Handler) putVM(c *call) (int, any, error) {
	if r, vm, err := h.vm(c); err == nil {
		return http.StatusOK, c.virtualMachine(r, vm, false), nil // Hangar changes a VM only through its actions
	} else if hangar.ErrorCode(err) != "ResourceNotFound" {
		return 0, nil, err
	}
	var body armcompute.VirtualMachine
	name, err := c.decodeNew("vm", "VM", &body)
	if err != nil {
		return 0, nil, err
	}
	p := body.Properties
	if p == nil || p.StorageProfile == nil || p.StorageProfile.ImageReference == nil {
		return 0, nil, invalid("a VM needs properties.storageProfile.imageReference")
	}
	req, err := h.vmCreate(c, str(body.Location), p)
	if err != nil {
		return 0, nil, err
	}
	ref, _ := json.Marshal(p.StorageProfile.ImageReference)
	r, err := h.claim(c, store.ARMResource{Kind: kindVM, Parent: groupKey(c.p["group"]), Group: c.p["group"], Name: name,
		HangarKind: kindVM, Location: req.Location, Properties: ref}, c.vmExists)
	if err != nil {
		return 0, nil, err
	}
	req.Name = r.HangarName
	vm, err := c.hangar.CreateVM(c.ctx, req)
	if err != nil {
		h.forget(c, r)
		return 0, nil, err
	}
	if len(body.Tags) > 0 {
		if err := c.hangar.SetTags(c.ctx, "vms", vm.Name, "", hangarTags(body.Tags), &vm); err != nil {
			return 0, nil, err
		}
	}
	c.startOperation(cmp.Or(r.Location, c.primary), operation{Kind: "vm", Name: vm.Name})
	return http.StatusCreated, c.virtualMachine(r, vm, false), nil
}

func (c *call) vmExists(name string) (bool, error) {
	_, err := c.hangar.VM(c.ctx, name)
	if isNotFound(err) {
		return false, nil
	}
	return err == nil, err
}

// vmCreate translates what Hangar's VM creation takes.
func (h *Handler) vmCreate(c *call, location string, p *armcompute.VirtualMachineProperties) (hangar.VMCreate, error) {
	req := hangar.VMCreate{Location: location}
	var err error
	if req.Image, err = h.imageRef(c, p.StorageProfile.ImageReference); err != nil {
		return req, err
	}
	if p.HardwareProfile != nil && p.HardwareProfile.VMSize != nil {
		req.Size = string(*p.HardwareProfile.VMSize)
	}
	if d := p.StorageProfile.OSDisk; d != nil && d.ManagedDisk != nil && d.ManagedDisk.StorageAccountType != nil {
		req.StorageSKU = string(*d.ManagedDisk.StorageAccountType)
	}
	if o := p.OSProfile; o != nil {
		req.ComputerName, req.AdminUsername, req.AdminPassword = str(o.ComputerName), str(o.AdminUsername), str(o.AdminPassword)
		if o.CustomData != nil {
			if req.CustomData, err = base64.StdEncoding.DecodeString(*o.CustomData); err != nil {
				return req, invalid("osProfile.customData must be base64")
			}
		}
		if lc := o.LinuxConfiguration; lc != nil && lc.SSH != nil {
			for _, k := range lc.SSH.PublicKeys {
				if k != nil && k.KeyData != nil {
					req.SSHPublicKeys = append(req.SSHPublicKeys, *k.KeyData)
				}
			}
		}
	}
	if p.UserData != nil {
		if req.UserData, err = base64.StdEncoding.DecodeString(*p.UserData); err != nil {
			return req, invalid("userData must be base64")
		}
	}
	return req, nil
}

const (
	imagePattern        = "resourceGroups/{group}/providers/Microsoft.Compute/images/{image}"
	galleryImagePattern = "resourceGroups/{group}/providers/Microsoft.Compute/galleries/{gallery}/images/{image}"
)

// imageRef turns an ARM image reference into a Hangar one. Who may use what is
// Hangar's to decide when the VM is made (terms, entitlements, sharing).
func (h *Handler) imageRef(c *call, ref *armcompute.ImageReference) (string, error) {
	version := func(v string) string {
		if v == "" || strings.EqualFold(v, "latest") {
			return ""
		}
		return v
	}
	switch {
	case ref.ID != nil:
		id := *ref.ID
		if p, ok := c.parseID(id, imagePattern); ok {
			r, err := h.lookup(c, kindImage, kindImage, groupKey(p["group"]), p["image"])
			return r.HangarName, err
		}
		p, ok := c.parseID(id, galleryImagePattern)
		if !ok {
			p, ok = c.parseID(id, galleryImagePattern+"/versions/{version}")
		}
		if !ok {
			return "", invalid("imageReference.id %q is neither one of your images nor a gallery image definition or version", id)
		}
		r, err := h.lookup(c, kindGalleryImage, "", galleryKey(p["group"], p["gallery"]), p["image"])
		if v := version(p["version"]); v != "" {
			return r.HangarName + "@" + v, err
		}
		return r.HangarName, err
	case ref.CommunityGalleryImageID != nil:
		var p map[string]string
		if !matchPath(*ref.CommunityGalleryImageID, "communityGalleries/{gallery}/images/{image}/versions/{version}", &p) &&
			!matchPath(*ref.CommunityGalleryImageID, "communityGalleries/{gallery}/images/{image}", &p) {
			return "", invalid("communityGalleryImageId %q: want /CommunityGalleries/NAME/Images/IMAGE[/Versions/VERSION]", *ref.CommunityGalleryImageID)
		}
		out := "community/" + p["gallery"] + "/" + p["image"]
		if v := version(p["version"]); v != "" {
			out += "/" + v
		}
		return out, nil
	case ref.SharedGalleryImageID != nil:
		var p map[string]string
		if !matchPath(*ref.SharedGalleryImageID, "sharedGalleries/{gallery}/images/{image}/versions/{version}", &p) &&
			!matchPath(*ref.SharedGalleryImageID, "sharedGalleries/{gallery}/images/{image}", &p) {
			return "", invalid("sharedGalleryImageId %q: want /SharedGalleries/OWNER/Images/IMAGE[/Versions/VERSION]", *ref.SharedGalleryImageID)
		}
		out := "shared/" + p["gallery"] + "/" + p["image"]
		if v := version(p["version"]); v != "" {
			out += "@" + v
		}
		return out, nil
	case ref.Publisher != nil && ref.Offer != nil && ref.SKU != nil:
		return strings.Join([]string{*ref.Publisher, *ref.Offer, *ref.SKU, cmp.Or(str(ref.Version), "latest")}, ":"), nil
	}
	return "", invalid("imageReference needs an id, a communityGalleryImageId, a sharedGalleryImageId, or publisher, offer and sku")
}

func matchPath(path, pattern string, p *map[string]string) bool {
	rt := route{pattern: strings.Split(strings.ToLower(pattern), "/")}
	var ok bool
	*p, ok = rt.match(strings.Split(strings.Trim(path, "/"), "/"))
	return ok
}

func (h *Handler) deleteVM(c *call) (int, any, error) {
	r, vm, err := h.vm(c)
	if err != nil {
		return 0, nil, err
	}
	if err := c.hangar.DeleteVM(c.ctx, vm.Name); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, nil, h.forget(c, r)
}

// vmAction serves start, powerOff, restart and deallocate: Hangar's actions are
// done when they answer, so the operation is too.
func (h *Handler) vmAction(action string) func(c *call) (int, any, error) {
	return func(c *call) (int, any, error) {
		_, vm, err := h.vm(c)
		if err != nil {
			return 0, nil, err
		}
		if _, err := c.hangar.VMAction(c.ctx, vm.Name, action); err != nil {
			return 0, nil, err
		}
		return http.StatusOK, nil, nil
	}
}

func (h *Handler) generalizeVM(c *call) (int, any, error) {
	_, vm, err := h.vm(c)
	if err != nil {
		return 0, nil, err
	}
	if _, err := c.hangar.Generalize(c.ctx, vm.Name, hangar.VMGeneralize{}); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, nil, nil
}

func (h *Handler) runCommand(c *call) (int, any, error) {
	_, vm, err := h.vm(c)
	if err != nil {
		return 0, nil, err
	}
	var in armcompute.RunCommandInput
	if err := c.decode(&in); err != nil {
		return 0, nil, err
	}
	if !strings.EqualFold(str(in.CommandID), "RunShellScript") {
		return 0, nil, invalid("commandId %q: Hangar runs RunShellScript", str(in.CommandID))
	}
	var script strings.Builder
	for _, p := range in.Parameters {
		if p == nil || p.Name == nil || hangar.ValidateName("parameter", *p.Name) != nil || strings.ContainsAny(*p.Name, ".-") {
			return 0, nil, invalid("a parameter needs a name made of letters, digits and _")
		}
		fmt.Fprintf(&script, "export %s='%s'\n", *p.Name, strings.ReplaceAll(str(p.Value), "'", `'\''`))
	}
	for _, line := range in.Script {
		script.WriteString(str(line) + "\n")
	}
	res, err := c.hangar.RunCommand(c.ctx, vm.Name, hangar.RunCommand{Script: script.String()})
	if err != nil {
		return 0, nil, err
	}
	// Azure's RunShellScript reports this way, and scripts parse it.
	out := fmt.Sprintf("Enable succeeded: \n[stdout]\n%s\n[stderr]\n%s", res.Stdout, res.Stderr)
	st := status("ProvisioningState/succeeded", "Provisioning succeeded", armcompute.StatusLevelTypesInfo, out)
	if res.ExitCode != 0 {
		out = fmt.Sprintf("Enable failed: failed to execute command: command terminated with exit status=%d\n[stdout]\n%s\n[stderr]\n%s", res.ExitCode, res.Stdout, res.Stderr)
		st = status("ProvisioningState/failed", "Provisioning failed", armcompute.StatusLevelTypesError, out)
	}
	return http.StatusOK, armcompute.RunCommandResult{Value: []*armcompute.InstanceViewStatus{st}}, nil
}

func (h *Handler) listVMs(c *call) (int, any, error) {
	vms, err := c.hangar.ListVMs(c.ctx)
	if err != nil {
		return 0, nil, err
	}
	byName := map[string]hangar.VM{}
	var names []string
	for _, vm := range vms {
		byName[vm.Name] = vm
		names = append(names, vm.Name)
	}
	rs, err := h.hangarOwned(c, kindVM, names)
	if err != nil {
		return 0, nil, err
	}
	pg, err := sortedPage(c, rs, listKey, func(r store.ARMResource) any { return c.virtualMachine(r, byName[r.HangarName], false) })
	return http.StatusOK, pg, err
}
