package arm

import (
	"cmp"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v7"

	"github.com/hangarvm/hangar/internal/hangar"
	"github.com/hangarvm/hangar/internal/store"
)

// A gallery is recorded here only: Hangar has no such grouping. An image
// definition is a Hangar image (made when its first version is), and a version is
// the image's version; a version's target regions are Hangar's replication.

const (
	kindGallery      = "gallery"
	kindGalleryImage = "galleryImage"
	kindImage        = store.ARMStandsForImage
	kindVM           = store.ARMStandsForVM
)

func groupKey(group string) string { return strings.ToLower(group) }

func galleryKey(group, gallery string) string { return strings.ToLower(group + "/" + gallery) }

// listKey orders recorded resources by where they are, then by name.
func listKey(r store.ARMResource) string { return r.Parent + "/" + strings.ToLower(r.Name) }

func (c *call) gallery(r store.ARMResource) armcompute.Gallery {
	var props armcompute.GalleryProperties
	json.Unmarshal(r.Properties, &props)
	props.ProvisioningState = to.Ptr(armcompute.GalleryProvisioningStateSucceeded)
	props.Identifier = &armcompute.GalleryIdentifier{UniqueName: to.Ptr(c.tenant.Name + "-" + strings.ToLower(r.Name))}
	return armcompute.Gallery{
		ID: to.Ptr(c.groupID(r.Group, "galleries", r.Name)), Name: to.Ptr(r.Name), Type: to.Ptr("Microsoft.Compute/galleries"),
		Location: to.Ptr(r.Location), Properties: &props,
	}
}

func (h *Handler) putGallery(c *call) (int, any, error) {
	var body armcompute.Gallery
	name, err := c.decodeNew("gallery", "gallery", &body)
	if err != nil {
		return 0, nil, err
	}
	props, _ := json.Marshal(body.Properties)
	r := store.ARMResource{Kind: kindGallery, Parent: groupKey(c.p["group"]), Group: c.p["group"], Name: name, Location: str(body.Location), Properties: props}
	existing, err := h.reg.ARMResourceByName(c.ctx, c.tenant.ID, kindGallery, r.Parent, name)
	switch {
	case err == nil:
		existing.Location, existing.Properties = cmp.Or(r.Location, existing.Location), props
		if err := h.reg.UpdateARMResource(c.ctx, c.tenant.ID, existing); err != nil {
			return 0, nil, err
		}
		return http.StatusOK, c.gallery(existing), nil
	case !errors.Is(err, store.ErrNotFound):
		return 0, nil, err
	}
	if r.Location == "" {
		return 0, nil, invalid("a gallery needs a location")
	}
	if err := h.reg.CreateARMResource(c.ctx, c.tenant.ID, r); err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, c.gallery(r), nil
}

func (h *Handler) getGallery(c *call) (int, any, error) {
	r, err := h.lookup(c, kindGallery, "", groupKey(c.p["group"]), c.p["gallery"])
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, c.gallery(r), nil
}

func (h *Handler) deleteGallery(c *call) (int, any, error) {
	r, err := h.lookup(c, kindGallery, "", groupKey(c.p["group"]), c.p["gallery"])
	if err != nil {
		return 0, nil, err
	}
	defs, err := h.reg.ARMResources(c.ctx, c.tenant.ID, kindGalleryImage, galleryKey(r.Group, r.Name), "", "", 1)
	if err != nil {
		return 0, nil, err
	}
	if len(defs) > 0 {
		return 0, nil, &hangar.Error{Code: hangar.CodeConflict, Message: "the gallery still has image definitions (" + defs[0].Name + ", ...): delete them first"}
	}
	return http.StatusOK, nil, h.reg.DeleteARMResource(c.ctx, c.tenant.ID, kindGallery, r.Parent, r.Name)
}

func (h *Handler) listGalleries(c *call) (int, any, error) {
	parent := ""
	if g := c.p["group"]; g != "" {
		parent = groupKey(g)
	}
	rs, err := h.allResources(c, kindGallery, parent)
	if err != nil {
		return 0, nil, err
	}
	pg, err := sortedPage(c, rs, listKey, func(r store.ARMResource) any { return c.gallery(r) })
	return http.StatusOK, pg, err
}

// definition reads a recorded image definition's properties.
func definitionProps(r store.ARMResource) armcompute.GalleryImageProperties {
	var props armcompute.GalleryImageProperties
	json.Unmarshal(r.Properties, &props)
	return props
}

func (c *call) galleryImage(r store.ARMResource) armcompute.GalleryImage {
	props := definitionProps(r)
	// Once its image exists, the image's requirements are the definition's (an
	// image made with the CLI, or a definition rewritten since, shows what applies).
	if im, err := c.hangar.Image(c.ctx, r.HangarName); err == nil && im.Owner == c.tenant.Name {
		setRequirements(&props, im.ImageRequirements)
	}
	props.ProvisioningState = to.Ptr(armcompute.GalleryProvisioningStateSucceeded)
	gallery, _, _ := strings.Cut(strings.TrimPrefix(r.Parent, groupKey(r.Group)+"/"), "/")
	return armcompute.GalleryImage{
		ID:   to.Ptr(c.groupID(r.Group, "galleries", gallery, "images", r.Name)),
		Name: to.Ptr(r.Name), Type: to.Ptr("Microsoft.Compute/galleries/images"), Location: to.Ptr(r.Location), Properties: &props,
	}
}

// inGallery finds the gallery of the path.
func (h *Handler) inGallery(c *call) (store.ARMResource, error) {
	return h.lookup(c, kindGallery, "", groupKey(c.p["group"]), c.p["gallery"])
}

func (h *Handler) putGalleryImage(c *call) (int, any, error) {
	gallery, err := h.inGallery(c)
	if err != nil {
		return 0, nil, err
	}
	var body armcompute.GalleryImage
	name, err := c.decodeNew("image", "image definition", &body)
	if err != nil {
		return 0, nil, err
	}
	p := body.Properties
	if p == nil || p.OSType == nil || p.OSState == nil || p.Identifier == nil {
		return 0, nil, invalid("an image definition needs properties.osType, properties.osState and properties.identifier (publisher, offer, sku)")
	}
	if _, err := imageKind(*p.OSState, 0); err != nil {
		return 0, nil, err
	}
	if err := checkRequirements(p); err != nil {
		return 0, nil, err
	}
	props, _ := json.Marshal(p)
	r := store.ARMResource{Kind: kindGalleryImage, Parent: galleryKey(gallery.Group, gallery.Name), Group: gallery.Group, Name: name,
		HangarKind: kindImage, Location: cmp.Or(str(body.Location), gallery.Location), Properties: props}
	existing, err := h.reg.ARMResourceByName(c.ctx, c.tenant.ID, kindGalleryImage, r.Parent, name)
	switch {
	case err == nil:
		old := definitionProps(existing)
		if !strings.EqualFold(string(*old.OSState), string(*p.OSState)) || !strings.EqualFold(string(*old.OSType), string(*p.OSType)) {
			return 0, nil, &hangar.Error{Code: "OperationNotAllowed", Message: "an image definition's osType and osState cannot change"}
		}
		existing.Location, existing.Properties = r.Location, props
		if err := h.reg.UpdateARMResource(c.ctx, c.tenant.ID, existing); err != nil {
			return 0, nil, err
		}
		return http.StatusOK, c.galleryImage(existing), nil
	case !errors.Is(err, store.ErrNotFound):
		return 0, nil, err
	}
	r, err = h.claim(c, r, c.imageExists)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, c.galleryImage(r), nil
}

// imageExists says whether the tenant has a Hangar image of that name.
func (c *call) imageExists(name string) (bool, error) {
	_, err := c.hangar.Image(c.ctx, name)
	if isNotFound(err) {
		return false, nil
	}
	return err == nil, err
}

func (h *Handler) definition(c *call) (store.ARMResource, error) {
	return h.lookup(c, kindGalleryImage, "", galleryKey(c.p["group"], c.p["gallery"]), c.p["image"])
}

func (h *Handler) getGalleryImage(c *call) (int, any, error) {
	r, err := h.definition(c)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, c.galleryImage(r), nil
}

func (h *Handler) deleteGalleryImage(c *call) (int, any, error) {
	r, err := h.definition(c)
	if err != nil {
		return 0, nil, err
	}
	if used, err := c.imageExists(r.HangarName); err != nil {
		return 0, nil, err
	} else if used {
		return 0, nil, &hangar.Error{Code: hangar.CodeConflict, Message: "the image definition still has versions: delete them first"}
	}
	return http.StatusOK, nil, h.reg.DeleteARMResource(c.ctx, c.tenant.ID, kindGalleryImage, r.Parent, r.Name)
}

func (h *Handler) listGalleryImages(c *call) (int, any, error) {
	gallery, err := h.inGallery(c)
	if err != nil {
		return 0, nil, err
	}
	rs, err := h.allResources(c, kindGalleryImage, galleryKey(gallery.Group, gallery.Name))
	if err != nil {
		return 0, nil, err
	}
	pg, err := sortedPage(c, rs, listKey, func(r store.ARMResource) any { return c.galleryImage(r) })
	return http.StatusOK, pg, err
}

// imageKind is the Hangar image type for an OS state and a number of data disks:
// an OS image is one generalized OS disk; anything else is a VM image.
func imageKind(state armcompute.OperatingSystemStateTypes, dataDisks int) (hangar.ImageType, error) {
	switch {
	case strings.EqualFold(string(state), string(armcompute.OperatingSystemStateTypesGeneralized)):
		if dataDisks == 0 {
			return hangar.ImageTypeOS, nil
		}
		return hangar.ImageTypeVM, nil
	case strings.EqualFold(string(state), string(armcompute.OperatingSystemStateTypesSpecialized)):
		return hangar.ImageTypeVM, nil
	}
	return "", invalid("osState %q: say Generalized or Specialized", state)
}

func (c *call) galleryImageVersion(def store.ARMResource, im hangar.Image, v hangar.ImageVersion, reps []hangar.ReplicationStatus, withStatus bool) armcompute.GalleryImageVersion {
	gallery, _, _ := strings.Cut(strings.TrimPrefix(def.Parent, groupKey(def.Group)+"/"), "/")
	profile := &armcompute.GalleryImageVersionPublishingProfile{
		ExcludeFromLatest: to.Ptr(v.ExcludeFromLatest), PublishedDate: to.Ptr(v.CreatedAt),
		ReplicaCount: to.Ptr(int32(1)), TargetRegions: []*armcompute.TargetRegion{},
	}
	if eol, err := time.Parse(time.DateOnly, v.EndOfLife); err == nil {
		profile.EndOfLifeDate = &eol
	}
	status := &armcompute.ReplicationStatus{AggregatedState: to.Ptr(armcompute.AggregatedReplicationStateCompleted)}
	for _, r := range reps {
		profile.TargetRegions = append(profile.TargetRegions, &armcompute.TargetRegion{Name: to.Ptr(r.Region), RegionalReplicaCount: to.Ptr(int32(max(r.ReplicaCount, 1)))})
		state := armcompute.ReplicationStateCompleted
		switch r.State {
		case hangar.ReplicationReplicating:
			state = armcompute.ReplicationStateReplicating
			if *status.AggregatedState == armcompute.AggregatedReplicationStateCompleted {
				status.AggregatedState = to.Ptr(armcompute.AggregatedReplicationStateInProgress)
			}
		case hangar.ReplicationFailed:
			state = armcompute.ReplicationStateFailed
			status.AggregatedState = to.Ptr(armcompute.AggregatedReplicationStateFailed)
		}
		progress := int32(100)
		if r.TotalBytes > 0 {
			progress = int32(r.DoneBytes * 100 / r.TotalBytes)
		}
		status.Summary = append(status.Summary, &armcompute.RegionalReplicationStatus{
			Region: to.Ptr(r.Region), State: to.Ptr(state), Progress: to.Ptr(progress), Details: to.Ptr(r.Message),
		})
	}
	storage := &armcompute.GalleryImageVersionStorageProfile{
		OSDiskImage: &armcompute.GalleryOSDiskImage{SizeInGB: to.Ptr(sizeGB(v.OSDisk.VirtualSize)), Source: c.diskSource(def.Group, v.OSDisk)},
	}
	for _, d := range v.DataDisks {
		storage.DataDiskImages = append(storage.DataDiskImages, &armcompute.GalleryDataDiskImage{
			Lun: to.Ptr(int32(d.LUN)), SizeInGB: to.Ptr(sizeGB(d.VirtualSize)), Source: c.diskSource(def.Group, d),
		})
	}
	props := &armcompute.GalleryImageVersionProperties{
		ProvisioningState: to.Ptr(armcompute.GalleryProvisioningStateSucceeded), PublishingProfile: profile, StorageProfile: storage,
	}
	if withStatus {
		props.ReplicationStatus = status
	}
	return armcompute.GalleryImageVersion{
		ID:   to.Ptr(c.groupID(def.Group, "galleries", gallery, "images", def.Name, "versions", v.Version.String())),
		Name: to.Ptr(v.Version.String()), Type: to.Ptr("Microsoft.Compute/galleries/images/versions"),
		Location: to.Ptr(def.Location), Properties: props,
	}
}

func (c *call) diskSource(group string, d hangar.ImageDisk) *armcompute.GalleryDiskImageSource {
	if d.Disk == "" {
		return nil
	}
	return &armcompute.GalleryDiskImageSource{ID: to.Ptr(c.groupID(group, "disks", d.Disk))}
}

func sizeGB(bytes int64) int32 { return int32((bytes + 1<<30 - 1) >> 30) }

// version finds a version of the path's definition.
func (h *Handler) version(c *call) (store.ARMResource, hangar.Image, hangar.ImageVersion, error) {
	def, err := h.definition(c)
	if err != nil {
		return def, hangar.Image{}, hangar.ImageVersion{}, err
	}
	im, err := c.hangar.Image(c.ctx, def.HangarName)
	if err == nil {
		for _, v := range im.Versions {
			if v.Version.String() == c.p["version"] {
				return def, im, v, nil
			}
		}
	} else if !isNotFound(err) {
		return def, im, hangar.ImageVersion{}, err
	}
	return def, im, hangar.ImageVersion{}, notFound("Microsoft.Compute/galleries/images/versions", c.p["version"])
}

func (h *Handler) getGalleryImageVersion(c *call) (int, any, error) {
	def, im, v, err := h.version(c)
	if err != nil {
		return 0, nil, err
	}
	reps, err := c.hangar.Replication(c.ctx, im.Name, v.Version.String())
	if err != nil {
		return 0, nil, err
	}
	withStatus := strings.EqualFold(c.r.URL.Query().Get("$expand"), "ReplicationStatus")
	return http.StatusOK, c.galleryImageVersion(def, im, v, reps, withStatus), nil
}

func (h *Handler) putGalleryImageVersion(c *call) (int, any, error) {
	var body armcompute.GalleryImageVersion
	if err := c.decode(&body); err != nil {
		return 0, nil, err
	}
	p := body.Properties
	if p == nil {
		return 0, nil, invalid("a version needs properties")
	}
	var exclude *bool
	var eol *string
	var targets []*armcompute.TargetRegion
	if pp := p.PublishingProfile; pp != nil {
		exclude, targets = pp.ExcludeFromLatest, pp.TargetRegions
		if pp.EndOfLifeDate != nil {
			eol = to.Ptr(pp.EndOfLifeDate.UTC().Format(time.DateOnly))
		}
	}
	def, im, v, err := h.version(c)
	status := http.StatusOK
	switch {
	case err == nil:
		if exclude != nil || eol != nil {
			if _, err := c.hangar.UpdateVersion(c.ctx, im.Name, v.Version.String(), hangar.ImageVersionUpdate{ExcludeFromLatest: exclude, EndOfLife: eol}); err != nil {
				return 0, nil, err
			}
		}
	case hangar.ErrorCode(err) != "ResourceNotFound" || def.Name == "":
		return 0, nil, err
	default:
		if err := h.createVersion(c, def, p, exclude, eol); err != nil {
			return 0, nil, err
		}
		status = http.StatusCreated
	}
	if err := c.replicate(def.HangarName, c.p["version"], targets); err != nil {
		return 0, nil, err
	}
	if _, im, v, err = h.version(c); err != nil {
		return 0, nil, err
	}
	reps, err := c.hangar.Replication(c.ctx, im.Name, v.Version.String())
	if err != nil {
		return 0, nil, err
	}
	c.startOperation(def.Location, operation{Kind: "version", Name: im.Name, Version: v.Version.String()})
	out := c.galleryImageVersion(def, im, v, reps, false)
	out.Properties.ProvisioningState = to.Ptr(armcompute.GalleryProvisioningStateCreating)
	return status, out, nil
}

func (h *Handler) createVersion(c *call, def store.ARMResource, p *armcompute.GalleryImageVersionProperties, exclude *bool, eol *string) error {
	sp := p.StorageProfile
	if sp == nil || sp.OSDiskImage == nil || sp.OSDiskImage.Source == nil || sp.OSDiskImage.Source.ID == nil {
		return invalid("Hangar makes a version from disks: give properties.storageProfile.osDiskImage.source.id, the ID of one of your disks")
	}
	osDisk, err := c.diskName(*sp.OSDiskImage.Source.ID)
	if err != nil {
		return err
	}
	dp := definitionProps(def)
	req := hangar.ImageCreate{
		Name: def.HangarName, Version: c.p["version"], OSDisk: osDisk,
		OSType: hangar.OSType(strings.ToLower(string(*dp.OSType))), OSState: hangar.OSState(strings.ToLower(string(*dp.OSState))),
		Description: str(dp.Description), EULA: str(dp.Eula),
		ImageRequirements: requirements(&dp),
	}
	if dp.HyperVGeneration != nil {
		req.HyperVGeneration = string(*dp.HyperVGeneration)
	}
	if dp.Architecture != nil {
		req.Architecture = strings.ToLower(string(*dp.Architecture))
	}
	for _, d := range sp.DataDiskImages {
		if d == nil || d.Lun == nil || d.Source == nil || d.Source.ID == nil {
			return invalid("each data disk image needs a lun and source.id")
		}
		name, err := c.diskName(*d.Source.ID)
		if err != nil {
			return err
		}
		req.DataDisks = append(req.DataDisks, hangar.DataDiskSpec{LUN: int(*d.Lun), Disk: name})
	}
	if req.Type, err = imageKind(*dp.OSState, len(req.DataDisks)); err != nil {
		return err
	}
	if exclude != nil {
		req.ExcludeFromLatest = *exclude
	}
	if eol != nil {
		req.EndOfLife = *eol
	}
	_, err = c.hangar.CreateImage(c.ctx, req)
	return err
}

// replicate asks for a version's copies in the target regions other than the
// primary, where every version is.
func (c *call) replicate(image, version string, targets []*armcompute.TargetRegion) error {
	reps, err := c.hangar.Replication(c.ctx, image, version)
	if err != nil || len(reps) == 0 {
		return err
	}
	var req hangar.ImageReplicate
	for _, t := range targets {
		if t == nil || t.Name == nil || strings.EqualFold(*t.Name, reps[0].Region) {
			continue
		}
		n := 1
		if t.RegionalReplicaCount != nil {
			n = int(*t.RegionalReplicaCount)
		}
		req.TargetRegions = append(req.TargetRegions, hangar.ReplicaTarget{Region: *t.Name, ReplicaCount: n})
	}
	if len(req.TargetRegions) == 0 {
		return nil
	}
	_, err = c.hangar.Replicate(c.ctx, image, version, req)
	return err
}

func (h *Handler) deleteGalleryImageVersion(c *call) (int, any, error) {
	_, im, _, err := h.version(c)
	if err != nil {
		return 0, nil, err
	}
	if len(im.Versions) > 1 {
		return 0, nil, &hangar.Error{Code: "OperationNotAllowed", Message: "Hangar deletes an image with all its versions: delete the other versions' image definition, or mark this version excludeFromLatest"}
	}
	return http.StatusOK, nil, c.hangar.DeleteImage(c.ctx, im.Name)
}

func (h *Handler) listGalleryImageVersions(c *call) (int, any, error) {
	def, err := h.definition(c)
	if err != nil {
		return 0, nil, err
	}
	im, err := c.hangar.Image(c.ctx, def.HangarName)
	if isNotFound(err) {
		return http.StatusOK, page{Value: []any{}}, nil
	} else if err != nil {
		return 0, nil, err
	}
	pg, err := sortedPage(c, im.Versions, func(v hangar.ImageVersion) string { return v.Version.String() },
		func(v hangar.ImageVersion) any { return c.galleryImageVersion(def, im, v, nil, false) })
	return http.StatusOK, pg, err
}
