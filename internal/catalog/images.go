package catalog

import (
	"cmp"
	"context"

	"github.com/hangarvm/hangar/internal/hangar"
	"github.com/hangarvm/hangar/internal/store"
)

// CreateImage creates an image with its first version, or adds a version to an
// existing image of the same definition. The answer holds the image definition and
// only the version created (an image may have many thousands).
func (s *Service) CreateImage(ctx context.Context, actor *hangar.Tenant, req hangar.ImageCreate) (hangar.Image, error) {
	// A version added to an existing image inherits what the image is: only a new
	// image must say its type, OS type and state (a contradiction is still refused).
	if existing, err := s.db.ImageByName(ctx, actor.ID, req.Name); err == nil {
		req.Type = cmp.Or(req.Type, existing.Type)
		req.OSType = cmp.Or(req.OSType, existing.OSType)
		req.OSState = cmp.Or(req.OSState, existing.OSState)
		req.HyperVGeneration = cmp.Or(req.HyperVGeneration, existing.HyperVGeneration)
		req.Architecture = cmp.Or(req.Architecture, existing.Architecture)
		req.ProvisioningAgent = cmp.Or(req.ProvisioningAgent, existing.ProvisioningAgent)
		inheritRequirements(&req.ImageRequirements, existing.ImageRequirements)
	}
	if err := req.Normalize(); err != nil {
		return hangar.Image{}, err
	}
	im, err := s.db.CreateImageVersion(ctx, actor.ID, &req)
	if err != nil {
		return hangar.Image{}, err
	}
	s.log.Info("image version created", "tenant", actor.Name, "image", req.Name, "version", req.Version, "type", req.Type)
	v, _ := hangar.ParseVersion(req.Version)
	created, err := s.db.Version(ctx, &im, &v)
	if err != nil {
		return hangar.Image{}, err
	}
	out := im.Image
	out.Versions = []hangar.ImageVersion{created}
	out.ResourceGroup, err = s.db.ResourceGroup(ctx, actor.ID, store.ARMStandsForImage, im.Name)
	return out, err
}

// inheritRequirements gives a new version's request the parts of its image's
// requirements it leaves out; those it gives must be the image's.
func inheritRequirements(req *hangar.ImageRequirements, image hangar.ImageRequirements) {
	if req.Recommended == nil {
		req.Recommended = image.Recommended
	}
	if req.Features == nil {
		req.Features = image.Features
	}
	if req.Disallowed == nil {
		req.Disallowed = image.Disallowed
	}
}

// SetVersionProperties replaces the properties of one of the actor's image
// versions.
func (s *Service) SetVersionProperties(ctx context.Context, actor *hangar.Tenant, name, version string, props hangar.Properties, pre hangar.Precondition) (hangar.Image, error) {
	if err := hangar.ValidateProperties(props); err != nil {
		return hangar.Image{}, err
	}
	im, err := s.ownImage(ctx, actor, name)
	if err != nil {
		return hangar.Image{}, err
	}
	v, err := hangar.ParseVersion(version)
	if err != nil {
		return hangar.Image{}, err
	}
	if err := s.db.SetVersionProperties(ctx, &im, v, props, pre); err != nil {
		return hangar.Image{}, err
	}
	if im, err = s.db.ImageByName(ctx, actor.ID, name); err != nil {
		return hangar.Image{}, err
	}
	return s.fullImage(ctx, actor, &im)
}

// fullImage fills versions and, for the owner, shares; others never see the owner's
// disk names or the tenants an image is shared with.
func (s *Service) fullImage(ctx context.Context, actor *hangar.Tenant, im *store.Image) (hangar.Image, error) {
	out := im.Image
	var err error
	if out.Versions, err = s.db.Versions(ctx, im.ID); err != nil {
		return out, err
	}
	if out.Community, err = s.db.Community(ctx, im.ID); err != nil {
		return out, err
	}
	if im.TenantID == actor.ID {
		if out.ResourceGroup, err = s.db.ResourceGroup(ctx, actor.ID, store.ARMStandsForImage, im.Name); err != nil {
			return out, err
		}
		out.SharedWith, err = s.db.Shares(ctx, im.ID)
		return out, err
	}
	// Tags are the owner's labels, as its disk names are.
	out.Tags = nil
	for i := range out.Versions {
		hideDiskNames(&out.Versions[i].OSDisk, out.Versions[i].DataDisks)
		out.Versions[i].Tags = nil
	}
	return out, nil
}

// SetImageTags replaces the tags of one of the actor's images, or of one of its
// versions when version is not "".
func (s *Service) SetImageTags(ctx context.Context, actor *hangar.Tenant, name, version string, tags hangar.Tags, pre hangar.Precondition) (hangar.Image, error) {
	if err := hangar.ValidateTags(tags); err != nil {
		return hangar.Image{}, err
	}
	im, err := s.db.ImageByName(ctx, actor.ID, name)
	if err != nil {
		return hangar.Image{}, err
	}
	var v *hangar.Version
	if version != "" {
		parsed, err := hangar.ParseVersion(version)
		if err != nil {
			return hangar.Image{}, err
		}
		v = &parsed
	}
	if err := s.db.SetImageTags(ctx, &im, v, tags, pre); err != nil {
		return hangar.Image{}, err
	}
	if im, err = s.db.ImageByName(ctx, actor.ID, name); err != nil {
		return hangar.Image{}, err
	}
	return s.fullImage(ctx, actor, &im)
}

func hideDiskNames(os *hangar.ImageDisk, data []hangar.ImageDisk) {
	os.Disk = ""
	for i := range data {
		data[i].Disk = ""
	}
}

// lookup finds the image a non-marketplace reference names, if the actor may see it.
func (s *Service) lookup(ctx context.Context, actor *hangar.Tenant, ref hangar.Ref) (store.Image, error) {
	switch ref.Kind {
	case hangar.RefOwn:
		return s.db.ImageByName(ctx, actor.ID, ref.Name)
	case hangar.RefShared:
		if ref.Owner == actor.Name {
			return s.db.ImageByName(ctx, actor.ID, ref.Name)
		}
		return s.db.SharedImage(ctx, ref.Owner, ref.Name, actor.ID)
	case hangar.RefCommunity:
		return s.db.CommunityImage(ctx, ref.PublicName, ref.Name)
	}
	return store.Image{}, hangar.Errorf(hangar.CodeInvalid, "%s is a marketplace URN; use `hangar vm image show --urn %s`", ref, ref)
}

// Image shows an image by reference (own name, shared/..., community/...).
func (s *Service) Image(ctx context.Context, actor *hangar.Tenant, refText string) (hangar.Image, error) {
	ref, err := hangar.ParseRef(refText)
	if err != nil {
		return hangar.Image{}, err
	}
	im, err := s.lookup(ctx, actor, ref)
	if err != nil {
		return hangar.Image{}, err
	}
	return s.fullImage(ctx, actor, &im)
}

// ownImage returns the actor's own image by name.
func (s *Service) ownImage(ctx context.Context, actor *hangar.Tenant, name string) (store.Image, error) {
	if err := hangar.ValidateName("image", name); err != nil {
		return store.Image{}, err
	}
	return s.db.ImageByName(ctx, actor.ID, name)
}

// DeleteImage deletes one of the actor's images with all its versions. Like every
// change of an image, it applies only if pre holds (see hangar.Precondition).
func (s *Service) DeleteImage(ctx context.Context, actor *hangar.Tenant, name string, pre hangar.Precondition) error {
	im, err := s.ownImage(ctx, actor, name)
	if err != nil {
		return err
	}
	return s.db.DeleteImage(ctx, &im, pre)
}

// UpdateVersion changes a version's exclude-from-latest flag or end-of-life date.
func (s *Service) UpdateVersion(ctx context.Context, actor *hangar.Tenant, name, version string, u hangar.ImageVersionUpdate, pre hangar.Precondition) (hangar.Image, error) {
	im, err := s.ownImage(ctx, actor, name)
	if err != nil {
		return hangar.Image{}, err
	}
	v, err := hangar.ParseVersion(version)
	if err != nil {
		return hangar.Image{}, err
	}
	if u.EndOfLife != nil {
		if err := hangar.ValidateEndOfLife(*u.EndOfLife); err != nil {
			return hangar.Image{}, err
		}
	}
	if err := s.db.UpdateVersion(ctx, &im, v, u, pre); err != nil {
		return hangar.Image{}, err
	}
	return s.fullImage(ctx, actor, &im)
}

// Share lets another tenant use one of the actor's images.
func (s *Service) Share(ctx context.Context, actor *hangar.Tenant, name, tenant string, share bool, pre hangar.Precondition) (hangar.Image, error) {
	im, err := s.ownImage(ctx, actor, name)
	if err != nil {
		return hangar.Image{}, err
	}
	if err := hangar.ValidateName("tenant", tenant); err != nil {
		return hangar.Image{}, err
	}
	t, err := s.db.TenantByName(ctx, tenant)
	if err != nil {
		return hangar.Image{}, err
	}
	if t.ID == actor.ID {
		return hangar.Image{}, hangar.Errorf(hangar.CodeInvalid, "an image is always available to its owner; name another tenant")
	}
	if share {
		err = s.db.Share(ctx, &im, t.ID, pre)
	} else {
		err = s.db.Unshare(ctx, &im, t.ID, pre)
	}
	if err != nil {
		return hangar.Image{}, err
	}
	return s.fullImage(ctx, actor, &im)
}

// PublishCommunity makes one of the actor's images public in the community repository
// as community/PUBLICNAME/IMAGE, or updates its publisher details.
func (s *Service) PublishCommunity(ctx context.Context, actor *hangar.Tenant, name string, c hangar.Community, pre hangar.Precondition) (hangar.Image, error) {
	im, err := s.ownImage(ctx, actor, name)
	if err != nil {
		return hangar.Image{}, err
	}
	if err := c.Validate(); err != nil {
		return hangar.Image{}, err
	}
	if err := s.db.PublishCommunity(ctx, &im, &c, pre); err != nil {
		return hangar.Image{}, err
	}
	s.log.Info("image published to the community", "tenant", actor.Name, "image", name, "publicName", c.PublicName)
	return s.fullImage(ctx, actor, &im)
}

// UnpublishCommunity withdraws one of the actor's images from the community repository.
func (s *Service) UnpublishCommunity(ctx context.Context, actor *hangar.Tenant, name string, pre hangar.Precondition) (hangar.Image, error) {
	im, err := s.ownImage(ctx, actor, name)
	if err != nil {
		return hangar.Image{}, err
	}
	if err := s.db.UnpublishCommunity(ctx, &im, pre); err != nil {
		return hangar.Image{}, err
	}
	return s.fullImage(ctx, actor, &im)
}

// ListImages lists the actor's own images or, with all, every image the actor may use
// (own, shared with it, community, marketplace latest per SKU) with the reference to
// use for each.
func (s *Service) ListImages(ctx context.Context, actor *hangar.Tenant, all bool) ([]hangar.ImageSummary, error) {
	out := []hangar.ImageSummary{}
	scopes := []string{"own"}
	if all {
		scopes = append(scopes, "shared", "community")
	}
	groups, err := s.db.ResourceGroups(ctx, actor.ID, store.ARMStandsForImage)
	if err != nil {
		return nil, err
	}
	for _, scope := range scopes {
		list, err := s.db.ListImages(ctx, scope, actor.ID)
		if err != nil {
			return nil, err
		}
		for _, im := range list {
			sum := hangar.ImageSummary{
				Source: scope, Name: im.Name, Owner: im.Owner, Type: im.Type, OSType: im.OSType, OSState: im.OSState,
				HyperVGeneration: im.HyperVGeneration, LatestVersion: im.Latest, Versions: im.Versions,
			}
			switch scope {
			case "own":
				sum.Reference = im.Name
				sum.Owner = ""
				sum.Tags = im.Tags
				sum.ResourceGroup = cmp.Or(groups[im.Name], hangar.DefaultResourceGroup)
			case "shared":
				sum.Reference = "shared/" + im.Owner + "/" + im.Name
			case "community":
				sum.Reference = "community/" + im.Community.PublicName + "/" + im.Name
				sum.Owner = im.Community.PublicName
			}
			out = append(out, sum)
		}
	}
	if !all {
		return out, nil
	}
	entries, err := s.Marketplace(ctx, actor, hangar.MarketplaceFilter{})
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		out = append(out, hangar.ImageSummary{
			Reference: e.Publisher + ":" + e.Offer + ":" + e.SKU + ":latest", Source: "marketplace",
			Name: e.Offer + ":" + e.SKU, Owner: e.Publisher, Type: e.Type, OSType: e.OSType, OSState: e.OSState,
			HyperVGeneration: e.HyperVGeneration, LatestVersion: e.Version, Versions: 1,
		})
	}
	return out, nil
}
