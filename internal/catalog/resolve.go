package catalog

import (
	"context"

	"github.com/hangarvm/hangar/internal/hangar"
)

// Resolve turns an image reference into one exact version and its disks, applying the
// visibility rules: what the actor may not see resolves exactly like what does not
// exist. For marketplace versions with a plan it reports whether the actor accepted the
// terms; VM creation refuses the image until it has.
func (s *Service) Resolve(ctx context.Context, actor *hangar.Tenant, refText string) (hangar.ResolvedImage, error) {
	ref, err := hangar.ParseRef(refText)
	if err != nil {
		return hangar.ResolvedImage{}, err
	}
	if ref.Kind == hangar.RefMarketplace {
		return s.resolveMarketplace(ctx, actor, ref)
	}
	im, err := s.lookup(ctx, actor, ref)
	if err != nil {
		return hangar.ResolvedImage{}, err
	}
	v, err := s.db.Version(ctx, &im, ref.Version)
	if err != nil {
		return hangar.ResolvedImage{}, err
	}
	exact := ref
	exact.Version = &v.Version
	r := hangar.ResolvedImage{
		Reference: exact.String(), Source: ref.Kind.String(), Image: im.Name, Version: v.Version,
		Type: im.Type, OSType: im.OSType, OSState: im.OSState, HyperVGeneration: im.HyperVGeneration,
		Architecture: im.Architecture, ProvisioningAgent: im.ProvisioningAgent, OSDisk: v.OSDisk, DataDisks: v.DataDisks, EULA: im.EULA,
		ImageRequirements: im.ImageRequirements,
	}
	if ref.Kind == hangar.RefCommunity {
		if r.Community, err = s.db.Community(ctx, im.ID); err != nil {
			return r, err
		}
		r.EULA = r.Community.EULA
	}
	if im.TenantID != actor.ID {
		hideDiskNames(&r.OSDisk, r.DataDisks)
	}
	return r, nil
}

func (s *Service) resolveMarketplace(ctx context.Context, actor *hangar.Tenant, ref hangar.Ref) (hangar.ResolvedImage, error) {
	urn := hangar.URN{Publisher: ref.Publisher, Offer: ref.Offer, SKU: ref.SKU, Version: ref.Version}
	e, err := s.db.MarketplaceEntryFor(ctx, actor.Entitlements, urn)
	if err != nil {
		return hangar.ResolvedImage{}, err
	}
	im, err := s.db.ImageByID(ctx, e.ImageID)
	if err != nil {
		return hangar.ResolvedImage{}, err
	}
	v, err := s.db.Version(ctx, &im, &e.ImageVersion)
	if err != nil {
		return hangar.ResolvedImage{}, err
	}
	list, err := s.withTerms(ctx, actor, []hangar.MarketplaceImage{e.MarketplaceImage})
	if err != nil {
		return hangar.ResolvedImage{}, err
	}
	mv, _ := hangar.ParseVersion(e.Version)
	r := hangar.ResolvedImage{
		Reference: e.URN, Source: ref.Kind.String(), Image: e.Offer + ":" + e.SKU, Version: mv,
		Type: e.Type, OSType: e.OSType, OSState: e.OSState, HyperVGeneration: e.HyperVGeneration,
		Architecture: e.Architecture, ProvisioningAgent: e.ProvisioningAgent, OSDisk: v.OSDisk, DataDisks: v.DataDisks, Plan: list[0].Plan, EULA: e.EULA,
		ImageRequirements: im.ImageRequirements,
	}
	if im.TenantID != actor.ID {
		hideDiskNames(&r.OSDisk, r.DataDisks)
	}
	return r, nil
}
