package catalog

import (
	"context"
	"crypto/ed25519"
	"time"

	"github.com/hangarvm/hangar/internal/chunks"
	"github.com/hangarvm/hangar/internal/hangar"
	"github.com/hangarvm/hangar/internal/syndicate"
)

// The upstream side of syndication: what this installation serves another that
// pulls its marketplace, through any tenant's API key, under that tenant's
// visibility rules (an offer reserved to an entitlement the tenant lacks is not
// there, and neither are its manifests nor its chunks).

// SigningKey shows this installation's public signing key (admins).
func (s *Service) SigningKey(actor *hangar.Tenant) (hangar.SigningKey, error) {
	if err := requireAdmin(actor, "show the signing key"); err != nil {
		return hangar.SigningKey{}, err
	}
	pub, err := s.publicKey()
	if err != nil {
		return hangar.SigningKey{}, err
	}
	return hangar.SigningKey{PublicKey: syndicate.FormatPublicKey(pub), Fingerprint: syndicate.Fingerprint(pub)}, nil
}

func (s *Service) publicKey() (ed25519.PublicKey, error) {
	if s.cfg.SigningKey == nil {
		return nil, hangar.Errorf(hangar.CodeUnavailable, "this server has no signing key")
	}
	return s.cfg.SigningKey.Public().(ed25519.PublicKey), nil
}

// SyndicationCatalog returns every marketplace version the actor may see, each
// entry signed, in one signed catalog; with patterns (PUBLISHER:OFFER[:SKU[:VERSION]]),
// only the versions matching one of them. An admin sees every version (to export
// bundles); any other tenant what its entitlements allow.
func (s *Service) SyndicationCatalog(ctx context.Context, actor *hangar.Tenant, f hangar.MarketplaceFilter, patterns []string) (syndicate.Catalog, error) {
	if _, err := s.publicKey(); err != nil {
		return syndicate.Catalog{}, err
	}
	var ps []syndicate.Pattern
	for _, text := range patterns {
		p, err := syndicate.ParsePattern(text)
		if err != nil {
			return syndicate.Catalog{}, err
		}
		ps = append(ps, p)
	}
	ents, err := s.syndicationEntitlements(ctx, actor)
	if err != nil {
		return syndicate.Catalog{}, err
	}
	f.All = true
	entries, err := s.db.MarketplaceEntries(ctx, ents, f)
	if err != nil {
		return syndicate.Catalog{}, err
	}
	now := time.Now().UTC()
	signed := make([]syndicate.Signed, 0, len(entries))
	for _, e := range entries {
		if e.Provenance != nil && e.Provenance.WithdrawnAt != nil {
			continue // what our own upstream withdrew is not passed on
		}
		if len(ps) > 0 && !matchesAny(ps, e.URN) {
			continue
		}
		disks, err := s.entryDisks(ctx, e.VersionID)
		if err != nil {
			return syndicate.Catalog{}, err
		}
		plan := ""
		if e.Plan != nil {
			plan = e.Plan.Name
		}
		se, err := syndicate.SignEntry(s.cfg.SigningKey, syndicate.Entry{
			URN: e.URN, Plan: plan, Entitlement: e.Entitlement, ExcludeFromLatest: e.ExcludeFromLatest, EndOfLife: e.EndOfLife,
			Image: syndicate.Image{Type: e.Type, OSType: e.OSType, OSState: e.OSState, HyperVGeneration: e.HyperVGeneration,
				Architecture: e.Architecture, ProvisioningAgent: e.ProvisioningAgent, Description: e.Description, EULA: e.EULA},
			Disks: disks, SignedAt: now,
		})
		if err != nil {
			return syndicate.Catalog{}, err
		}
		signed = append(signed, se)
	}
	return syndicate.SignCatalog(s.cfg.SigningKey, signed, now)
}

func matchesAny(ps []syndicate.Pattern, urnText string) bool {
	urn, err := hangar.ParseURN(urnText)
	if err != nil {
		return false
	}
	for _, p := range ps {
		if p.Matches(urn) {
			return true
		}
	}
	return false
}

// syndicationEntitlements are the entitlements whose offers the actor may pull:
// its own, or every one for an admin.
func (s *Service) syndicationEntitlements(ctx context.Context, actor *hangar.Tenant) ([]string, error) {
	if actor.Role != hangar.RoleAdmin {
		return actor.Entitlements, nil
	}
	return s.db.MarketplaceEntitlements(ctx)
}

// entryDisks describes a version's disks for its catalog entry. Versions and their
// manifests never change, so the descriptions are kept.
func (s *Service) entryDisks(ctx context.Context, versionID string) ([]syndicate.Disk, error) {
	if v, ok := s.entryDiskCache.Load(versionID); ok {
		return v.([]syndicate.Disk), nil
	}
	disks, err := s.db.VersionDisks(ctx, versionID)
	if err != nil {
		return nil, err
	}
	out := make([]syndicate.Disk, 0, len(disks))
	for _, dk := range disks {
		m, err := s.db.Manifest(ctx, dk.DiskID)
		if err != nil {
			return nil, err
		}
		d, err := syndicate.DiskOf(dk.LUN, m)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	s.entryDiskCache.Store(versionID, out)
	return out, nil
}

// SyndicationManifest returns the manifest of the disk at lun of a marketplace
// version the actor may see, encoded as its entry's digest covers it.
func (s *Service) SyndicationManifest(ctx context.Context, actor *hangar.Tenant, urnText string, lun int) ([]byte, error) {
	urn, err := hangar.ParseURN(urnText)
	if err != nil {
		return nil, err
	}
	if urn.Version == nil {
		return nil, hangar.Errorf(hangar.CodeInvalid, "name an exact version, not latest")
	}
	ents, err := s.syndicationEntitlements(ctx, actor)
	if err != nil {
		return nil, err
	}
	e, err := s.db.MarketplaceEntryFor(ctx, ents, urn)
	if err != nil {
		return nil, err
	}
	disks, err := s.db.VersionDisks(ctx, e.VersionID)
	if err != nil {
		return nil, err
	}
	for _, dk := range disks {
		if dk.LUN == lun {
			m, err := s.db.Manifest(ctx, dk.DiskID)
			if err != nil {
				return nil, err
			}
			return syndicate.EncodeManifest(m)
		}
	}
	return nil, hangar.Errorf(hangar.CodeNotFound, "%s has no disk at LUN %d", e.URN, lun)
}

// SyndicationChunk returns a chunk of a marketplace version the actor may see. Any
// other digest answers as if no such chunk existed, so that the store is no oracle.
func (s *Service) SyndicationChunk(ctx context.Context, actor *hangar.Tenant, d chunks.Digest) ([]byte, error) {
	ents, err := s.syndicationEntitlements(ctx, actor)
	if err != nil {
		return nil, err
	}
	ok, err := s.db.VisibleChunk(ctx, ents, d)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, hangar.Errorf(hangar.CodeNotFound, "no marketplace chunk %s", d.Short())
	}
	return s.chunks.Load(ctx, d)
}
