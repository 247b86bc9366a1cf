package catalog

import (
	"context"

	"github.com/hangarvm/hangar/internal/hangar"
)

// Quotas: the limits live in the store (the server's defaults, and each tenant's own
// where an admin set them), and the store enforces them inside the transaction that
// creates a disk, image, VM or upload, so that two requests racing for a tenant's
// last unit of quota cannot both pass, on any number of nodes. What follows shows
// them, changes them, and refuses early what the store would refuse late, before
// work that would be thrown away.

// Tenant shows a tenant with its limits and use. A tenant may see only itself; any
// other name answers as a tenant that does not exist.
func (s *Service) Tenant(ctx context.Context, actor *hangar.Tenant, name string) (hangar.TenantDetails, error) {
	if err := hangar.ValidateName("tenant", name); err != nil {
		return hangar.TenantDetails{}, err
	}
	if actor.Role != hangar.RoleAdmin && name != actor.Name {
		return hangar.TenantDetails{}, hangar.Errorf(hangar.CodeTenantNotFound, "tenant %q does not exist", name)
	}
	t, err := s.db.TenantByName(ctx, name)
	if err != nil {
		return hangar.TenantDetails{}, err
	}
	limits, use, custom, err := s.db.TenantQuota(ctx, t.ID)
	return hangar.TenantDetails{Tenant: t, Limits: limits, Usage: use, Custom: custom}, err
}

// UpdateTenant changes a tenant's limits (admin only). A limit lowered below the
// use refuses what would add to it, and takes nothing away.
func (s *Service) UpdateTenant(ctx context.Context, actor *hangar.Tenant, name string, req hangar.TenantUpdate) (hangar.TenantDetails, error) {
	if err := requireAdmin(actor, "change a tenant's limits"); err != nil {
		return hangar.TenantDetails{}, err
	}
	if err := hangar.ValidateName("tenant", name); err != nil {
		return hangar.TenantDetails{}, err
	}
	if err := req.Normalize(); err != nil {
		return hangar.TenantDetails{}, err
	}
	t, err := s.db.TenantByName(ctx, name)
	if err != nil {
		return hangar.TenantDetails{}, err
	}
	if err := s.db.UpdateTenantLimits(ctx, t.ID, req); err != nil {
		return hangar.TenantDetails{}, err
	}
	s.log.Info("tenant limits changed", "tenant", name, "set", req.Set, "reset", req.Reset, "by", actor.Name)
	return s.Tenant(ctx, actor, name)
}

// CheckQuota refuses early a request that would take the actor past a limit as
// things stand: for work that comes before the store's own check (staging a
// stream, writing out a disk), so that it is not done for nothing. It is advisory;
// the store's check at creation is the one that holds under races.
func (s *Service) CheckQuota(ctx context.Context, actor *hangar.Tenant, add hangar.Resources) error {
	limits, use, _, err := s.db.TenantQuota(ctx, actor.ID)
	if err != nil {
		return err
	}
	return hangar.CheckQuota(actor.Name, limits, use, add)
}
