package arm

import (
	"net/http"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v7"

	"github.com/hangarvm/hangar/internal/hangar"
)

// Disks are read-only here (uploads use Hangar's resumable protocol: hangar disk
// upload). A disk has no resource group in Hangar: it is found under any group's
// name, and lists show it in DefaultGroup.

const diskPattern = "resourceGroups/{group}/providers/Microsoft.Compute/disks/{disk}"

// diskName reads a disk's ARM ID, as an image's or version's source.
func (c *call) diskName(id string) (string, error) {
	p, ok := c.parseID(id, diskPattern)
	if !ok {
		return "", invalid("%q is not the ID of one of your disks (/subscriptions/%s/%s)", id, c.sub, diskPattern)
	}
	return p["disk"], nil
}

func (h *Handler) disk(c *call, d hangar.Disk, group string) armcompute.Disk {
	state := armcompute.DiskStateUnattached
	if len(d.UsedBy) > 0 {
		state = armcompute.DiskStateReserved
	}
	return armcompute.Disk{
		ID: to.Ptr(c.groupID(group, "disks", d.Name)), Name: to.Ptr(d.Name), Type: to.Ptr("Microsoft.Compute/disks"),
		Location: to.Ptr(h.primary),
		Properties: &armcompute.DiskProperties{
			DiskSizeBytes:     to.Ptr(d.VirtualSize),
			DiskSizeGB:        to.Ptr(int32((d.VirtualSize + 1<<30 - 1) >> 30)),
			DiskState:         to.Ptr(state),
			ProvisioningState: to.Ptr("Succeeded"),
			TimeCreated:       to.Ptr(d.CreatedAt),
			CreationData:      &armcompute.CreationData{CreateOption: to.Ptr(armcompute.DiskCreateOptionUpload)},
			UniqueID:          to.Ptr(d.ID),
		},
	}
}

func (h *Handler) getDisk(c *call) (int, any, error) {
	d, err := c.hangar.Disk(c.ctx, c.p["disk"])
	if err != nil {
		if isNotFound(err) {
			return 0, nil, notFound("Microsoft.Compute/disks", c.p["disk"])
		}
		return 0, nil, err
	}
	return http.StatusOK, h.disk(c, d, c.p["group"]), nil
}

func (h *Handler) listDisks(c *call) (int, any, error) {
	disks, err := c.hangar.ListDisks(c.ctx)
	if err != nil {
		return 0, nil, err
	}
	group := c.p["group"]
	if group == "" {
		group = DefaultGroup
	}
	pg, err := sortedPage(c, disks, func(d hangar.Disk) string { return strings.ToLower(d.Name) + "/" + d.Name },
		func(d hangar.Disk) any { return h.disk(c, d, group) })
	return http.StatusOK, pg, err
}
