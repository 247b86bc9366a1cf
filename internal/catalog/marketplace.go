package catalog

import (
	"context"
	"slices"
	"time"

	"github.com/hangarvm/hangar/internal/hangar"
	"github.com/hangarvm/hangar/internal/store"
)

// PublishMarketplace publishes a version of one of the actor's images to the
// marketplace under an exact URN. Only publishers and admins may; a publisher name
// belongs to the first tenant that publishes under it.
func (s *Service) PublishMarketplace(ctx context.Context, actor *hangar.Tenant, req hangar.MarketplacePublish) (hangar.MarketplaceImage, error) {
	if !actor.CanPublish() {
		return hangar.MarketplaceImage{}, hangar.Errorf(hangar.CodeForbidden, "only tenants with the publisher role may publish to the marketplace; share the image or publish it to the community instead")
	}
	urn, err := hangar.ParseURN(req.URN)
	if err != nil {
		return hangar.MarketplaceImage{}, err
	}
	if urn.Version == nil {
		return hangar.MarketplaceImage{}, hangar.Errorf(hangar.CodeInvalid, "publish under an exact version (PUBLISHER:OFFER:SKU:1.0.0), not latest")
	}
	for _, f := range []struct{ kind, v string }{{"plan", req.Plan}, {"entitlement", req.Entitlement}} {
		if f.v != "" {
			if err := hangar.ValidateName(f.kind, f.v); err != nil {
				return hangar.MarketplaceImage{}, err
			}
		}
	}
	ref, err := hangar.ParseRef(req.Image)
	if err != nil {
		return hangar.MarketplaceImage{}, err
	}
	if ref.Kind != hangar.RefOwn {
		return hangar.MarketplaceImage{}, hangar.Errorf(hangar.CodeInvalid, "publish one of your own images (NAME or NAME@VERSION), not %q", req.Image)
	}
	im, err := s.db.ImageByName(ctx, actor.ID, ref.Name)
	if err != nil {
		return hangar.MarketplaceImage{}, err
	}
	v, err := s.db.Version(ctx, &im, ref.Version)
	if err != nil {
		return hangar.MarketplaceImage{}, err
	}
	if err := s.db.PublishMarketplace(ctx, actor.ID, actor.Role == hangar.RoleAdmin, urn, &im, v.Version, &req); err != nil {
		return hangar.MarketplaceImage{}, err
	}
	s.log.Info("marketplace version published", "tenant", actor.Name, "urn", urn.String(), "image", im.Name, "version", v.Version.String())
	e, err := s.db.MarketplaceEntryFor(ctx, []string{req.Entitlement}, urn)
	if err != nil {
		return hangar.MarketplaceImage{}, err
	}
	return e.MarketplaceImage, nil
}

// WithdrawMarketplace removes one published version.
func (s *Service) WithdrawMarketplace(ctx context.Context, actor *hangar.Tenant, urnText string) error {
	urn, err := hangar.ParseURN(urnText)
	if err != nil {
		return err
	}
	if urn.Version == nil {
		return hangar.Errorf(hangar.CodeInvalid, "withdraw an exact version, not latest")
	}
	return s.db.WithdrawMarketplace(ctx, actor.ID, actor.Role == hangar.RoleAdmin, urn)
}

// Marketplace lists the marketplace images the actor may see: every version with
// f.All, else the latest version of each SKU. Offers reserved to an entitlement the
// actor lacks leave no trace.
func (s *Service) Marketplace(ctx context.Context, actor *hangar.Tenant, f hangar.MarketplaceFilter) ([]hangar.MarketplaceImage, error) {
	entries, err := s.db.MarketplaceEntries(ctx, actor.Entitlements, f)
	if err != nil {
		return nil, err
	}
	out := make([]hangar.MarketplaceImage, len(entries))
	for i, e := range entries {
		out[i] = e.MarketplaceImage
	}
	return s.withTerms(ctx, actor, out)
}

func (s *Service) withTerms(ctx context.Context, actor *hangar.Tenant, list []hangar.MarketplaceImage) ([]hangar.MarketplaceImage, error) {
	accepted, err := s.db.AcceptedTerms(ctx, actor.ID)
	if err != nil {
		return nil, err
	}
	for i := range list {
		if p := list[i].Plan; p != nil {
			p.TermsAccepted = accepted[store.TermsKey(p.Publisher, p.Product, p.Name)] != 0
		}
	}
	return list, nil
}

// MarketplaceNames lists distinct publishers, the offers of a publisher, or the SKUs
// of an offer, among what the actor may see.
func (s *Service) MarketplaceNames(ctx context.Context, actor *hangar.Tenant, f hangar.MarketplaceFilter) ([]string, error) {
	f.All = true
	entries, err := s.db.MarketplaceEntries(ctx, actor.Entitlements, f)
	if err != nil {
		return nil, err
	}
	out := []string{}
	for _, e := range entries {
		name := e.Publisher
		switch {
		case f.Offer != "":
			name = e.SKU
		case f.Publisher != "":
			name = e.Offer
		}
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out, nil
}

// MarketplaceImage shows one marketplace version, with latest resolved to the exact
// version.
func (s *Service) MarketplaceImage(ctx context.Context, actor *hangar.Tenant, urnText string) (hangar.MarketplaceImage, error) {
	e, err := s.entry(ctx, actor, urnText)
	if err != nil {
		return hangar.MarketplaceImage{}, err
	}
	list, err := s.withTerms(ctx, actor, []hangar.MarketplaceImage{e.MarketplaceImage})
	if err != nil {
		return hangar.MarketplaceImage{}, err
	}
	return list[0], nil
}

func (s *Service) entry(ctx context.Context, actor *hangar.Tenant, urnText string) (store.MarketplaceEntry, error) {
	urn, err := hangar.ParseURN(urnText)
	if err != nil {
		return store.MarketplaceEntry{}, err
	}
	return s.db.MarketplaceEntryFor(ctx, actor.Entitlements, urn)
}

// Terms shows the terms of the plan of a marketplace image and whether the actor
// accepted them; accept records the acceptance first.
func (s *Service) Terms(ctx context.Context, actor *hangar.Tenant, urnText string, accept bool) (hangar.Terms, error) {
	e, err := s.entry(ctx, actor, urnText)
	if err != nil {
		return hangar.Terms{}, err
	}
	if e.Plan == nil {
		return hangar.Terms{}, hangar.Errorf(hangar.CodeInvalid, "%s has no plan: there are no terms to accept, it can be used as is", e.URN)
	}
	p := e.Plan
	if accept {
		if err := s.db.AcceptTerms(ctx, actor.ID, p.Publisher, p.Product, p.Name); err != nil {
			return hangar.Terms{}, err
		}
		s.log.Info("marketplace terms accepted", "tenant", actor.Name, "publisher", p.Publisher, "offer", p.Product, "plan", p.Name)
	}
	at, err := s.db.TermsAccepted(ctx, actor.ID, p.Publisher, p.Product, p.Name)
	if err != nil {
		return hangar.Terms{}, err
	}
	t := hangar.Terms{Publisher: p.Publisher, Offer: p.Product, Plan: p.Name, EULA: e.EULA, Accepted: at != 0}
	if at != 0 {
		when := time.UnixMicro(at).UTC()
		t.AcceptedAt = &when
	}
	return t, nil
}
