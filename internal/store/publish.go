package store

import (
	"context"
	"database/sql"
	"errors"
	"strings"

	"github.com/hangarvm/hangar/internal/hangar"
)

// claimName makes name belong to tenantID in table (community_names or
// marketplace_publishers) unless another tenant holds it. Admins (override) may use
// any name.
func (d *DB) claimName(ctx context.Context, tx *sql.Tx, table, keyCol, kind, name, tenantID string, override bool) error {
	if _, err := d.exec(ctx, tx, `INSERT INTO `+table+` (`+keyCol+`, tenant_id) VALUES (?, ?) ON CONFLICT DO NOTHING`, name, tenantID); err != nil {
		return err
	}
	var owner string
	if err := d.queryRow(ctx, tx, `SELECT tenant_id FROM `+table+` WHERE `+keyCol+` = ?`, name).Scan(&owner); err != nil {
		return err
	}
	if owner != tenantID && !override {
		return hangar.Errorf(hangar.CodeConflict, "%s name %q belongs to another tenant; choose another", kind, name)
	}
	return nil
}

// PublishCommunity publishes (or updates the publication of) an image in the community
// repository under c.PublicName. The public name belongs to the first tenant to use it.
func (d *DB) PublishCommunity(ctx context.Context, im *Image, c *hangar.Community, pre hangar.Precondition) error {
	return d.changeImage(ctx, im, pre, func(tx *sql.Tx) error {
		if err := d.claimName(ctx, tx, "community_names", "public_name", "community public", c.PublicName, im.TenantID, false); err != nil {
			return err
		}
		cur, err := d.community(ctx, tx, im.ID)
		if err != nil {
			return err
		}
		if cur != nil && *cur == *c {
			return errUnchanged
		}
		_, err = d.exec(ctx, tx, `INSERT INTO community_images (image_id, public_name, image_name, publisher_uri, publisher_email, eula) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (image_id) DO UPDATE SET public_name = excluded.public_name, image_name = excluded.image_name,
			publisher_uri = excluded.publisher_uri, publisher_email = excluded.publisher_email, eula = excluded.eula`,
			im.ID, c.PublicName, im.Name, c.PublisherURI, c.PublisherEmail, c.EULA)
		return err
	})
}

// UnpublishCommunity withdraws an image from the community repository.
func (d *DB) UnpublishCommunity(ctx context.Context, im *Image, pre hangar.Precondition) error {
	return d.changeImage(ctx, im, pre, func(tx *sql.Tx) error {
		return unchangedIfNone(d.exec(ctx, tx, `DELETE FROM community_images WHERE image_id = ?`, im.ID))
	})
}

// Community returns an image's community publication, or nil.
func (d *DB) Community(ctx context.Context, imageID string) (*hangar.Community, error) {
	return d.community(ctx, d.db, imageID)
}

func (d *DB) community(ctx context.Context, q querier, imageID string) (*hangar.Community, error) {
	var c hangar.Community
	err := d.queryRow(ctx, q, `SELECT public_name, publisher_uri, publisher_email, eula FROM community_images WHERE image_id = ?`, imageID).
		Scan(&c.PublicName, &c.PublisherURI, &c.PublisherEmail, &c.EULA)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return &c, err
}

// MarketplaceEntry is one published marketplace version and the image version behind it.
type MarketplaceEntry struct {
	hangar.MarketplaceImage
	VersionID    string
	ImageID      string
	ImageVersion hangar.Version
}

// PublishMarketplace publishes an image version under a URN with an exact version.
// The publisher name belongs to the first tenant to use it (admins may use any).
func (d *DB) PublishMarketplace(ctx context.Context, tenantID string, admin bool, urn hangar.URN, im *Image, v hangar.Version, req *hangar.MarketplacePublish) error {
	return d.tx(ctx, func(tx *sql.Tx) error {
		if err := d.claimName(ctx, tx, "marketplace_publishers", "name", "marketplace publisher", strings.ToLower(urn.Publisher), tenantID, admin); err != nil {
			return err
		}
		var versionID string
		if err := d.queryRow(ctx, tx, `SELECT id FROM image_versions WHERE image_id = ? AND major = ? AND minor = ? AND patch = ?`, im.ID, v.Major, v.Minor, v.Patch).Scan(&versionID); err != nil {
			return notFound(err)
		}
		_, err := d.exec(ctx, tx, `INSERT INTO marketplace_entries (publisher_key, offer_key, sku_key, publisher, offer, sku, major, minor, patch, version_id, plan, entitlement, exclude_from_latest, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			strings.ToLower(urn.Publisher), strings.ToLower(urn.Offer), strings.ToLower(urn.SKU), urn.Publisher, urn.Offer, urn.SKU, urn.Version.Major, urn.Version.Minor, urn.Version.Patch, versionID, req.Plan, req.Entitlement, req.ExcludeFromLatest, now())
		if isUniqueViolation(err) {
			return hangar.Errorf(hangar.CodeConflict, "%s is already published; marketplace versions are immutable, publish a higher version", urn)
		}
		return err
	})
}

// WithdrawMarketplace removes one published version; only its publisher (or an admin)
// may.
func (d *DB) WithdrawMarketplace(ctx context.Context, tenantID string, admin bool, urn hangar.URN) error {
	res, err := d.exec(ctx, d.db, `DELETE FROM marketplace_entries WHERE publisher_key = ? AND offer_key = ? AND sku_key = ? AND major = ? AND minor = ? AND patch = ?
		AND (? OR publisher_key IN (SELECT name FROM marketplace_publishers WHERE tenant_id = ?))`,
		strings.ToLower(urn.Publisher), strings.ToLower(urn.Offer), strings.ToLower(urn.SKU), urn.Version.Major, urn.Version.Minor, urn.Version.Patch, admin, tenantID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return hangar.Errorf(hangar.CodeImageNotFound, "marketplace image %s not found among your publications", urn)
	}
	return nil
}

const entryCols = `m.publisher, m.offer, m.sku, m.major, m.minor, m.patch, m.plan, m.entitlement, m.exclude_from_latest, m.version_id,
	i.id, i.image_type, i.os_type, i.os_state, i.hyperv_generation, i.architecture, i.provisioning_agent, i.description, i.eula, v.major, v.minor, v.patch,
	v.end_of_life, m.upstream, m.upstream_key, m.pulled_at, m.withdrawn_at, i.requirements, v.properties`
const entryFrom = ` FROM marketplace_entries m JOIN image_versions v ON v.id = m.version_id JOIN images i ON i.id = v.image_id `

func scanEntry(row interface{ Scan(...any) error }) (MarketplaceEntry, error) {
	var e MarketplaceEntry
	var ver hangar.Version
	var plan, upstream, upstreamKey, reqs, props string
	var pulled, withdrawn int64
	err := row.Scan(&e.Publisher, &e.Offer, &e.SKU, &ver.Major, &ver.Minor, &ver.Patch, &plan, &e.Entitlement, &e.ExcludeFromLatest, &e.VersionID,
		&e.ImageID, &e.Type, &e.OSType, &e.OSState, &e.HyperVGeneration, &e.Architecture, &e.ProvisioningAgent, &e.Description, &e.EULA,
		&e.ImageVersion.Major, &e.ImageVersion.Minor, &e.ImageVersion.Patch, &e.EndOfLife, &upstream, &upstreamKey, &pulled, &withdrawn, &reqs, &props)
	e.ImageRequirements, e.Properties = parseRequirements(reqs), hangar.Properties(parseTags(props))
	if upstream != "" {
		e.Provenance = &hangar.Provenance{Upstream: upstream, KeyFingerprint: upstreamKey, PulledAt: fromMicros(pulled)}
		if withdrawn != 0 {
			at := fromMicros(withdrawn)
			e.Provenance.WithdrawnAt = &at
		}
	}
	e.Version = ver.String()
	e.URN = e.Publisher + ":" + e.Offer + ":" + e.SKU + ":" + e.Version
	if plan != "" {
		e.Plan = &hangar.Plan{Name: plan, Publisher: e.Publisher, Product: e.Offer}
	}
	return e, err
}

// entitled is the SQL condition limiting entries to those a tenant's entitlements allow.
func entitled(ents []string) (string, []any) {
	args := []any{""}
	for _, e := range ents {
		args = append(args, e)
	}
	return `m.entitlement IN (` + placeholders(len(args)) + `)`, args
}

// MarketplaceEntries lists the entries a tenant with the given entitlements may see,
// filtered, ordered by publisher, offer, SKU and version. Unless f.All, only the
// latest version of each SKU (the highest not excluded from latest) is listed.
func (d *DB) MarketplaceEntries(ctx context.Context, ents []string, f hangar.MarketplaceFilter) ([]MarketplaceEntry, error) {
	cond, args := entitled(ents)
	conds := []string{cond}
	for _, c := range []struct{ col, val string }{{"m.publisher_key", f.Publisher}, {"m.offer_key", f.Offer}, {"m.sku_key", f.SKU}} {
		if c.val != "" {
			conds = append(conds, c.col+" = ?")
			args = append(args, strings.ToLower(c.val))
		}
	}
	from := entryFrom
	if !f.All {
		// Number each SKU's versions from the highest; keep the first. Window
		// functions work alike in SQLite (3.25+) and PostgreSQL.
		conds = append(conds, "m.exclude_from_latest = ?")
		args = append(args, false)
		from = ` FROM (SELECT m.*, ROW_NUMBER() OVER (PARTITION BY m.publisher_key, m.offer_key, m.sku_key
			ORDER BY m.major DESC, m.minor DESC, m.patch DESC) AS rank FROM marketplace_entries m WHERE ` + strings.Join(conds, " AND ") + `) m
			JOIN image_versions v ON v.id = m.version_id JOIN images i ON i.id = v.image_id `
		conds = []string{"m.rank = 1"}
	}
	rows, err := d.query(ctx, d.db, `SELECT `+entryCols+from+`WHERE `+strings.Join(conds, " AND ")+
		` ORDER BY m.publisher_key, m.offer_key, m.sku_key, m.major, m.minor, m.patch`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []MarketplaceEntry{}
	for rows.Next() {
		e, err := scanEntry(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// MarketplaceEntryFor resolves a URN (nil version: latest not excluded) among the
// entries a tenant may see.
func (d *DB) MarketplaceEntryFor(ctx context.Context, ents []string, urn hangar.URN) (MarketplaceEntry, error) {
	cond, args := entitled(ents)
	args = append(args, strings.ToLower(urn.Publisher), strings.ToLower(urn.Offer), strings.ToLower(urn.SKU))
	q := `SELECT ` + entryCols + entryFrom + `WHERE ` + cond + ` AND m.publisher_key = ? AND m.offer_key = ? AND m.sku_key = ?`
	if urn.Version == nil {
		q += ` AND m.exclude_from_latest = ? ORDER BY m.major DESC, m.minor DESC, m.patch DESC LIMIT 1`
		args = append(args, false)
	} else {
		q += ` AND m.major = ? AND m.minor = ? AND m.patch = ?`
		args = append(args, urn.Version.Major, urn.Version.Minor, urn.Version.Patch)
	}
	e, err := scanEntry(d.queryRow(ctx, d.db, q, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return e, hangar.Errorf(hangar.CodeImageNotFound, "marketplace image %s not found; `hangar vm image list --all` shows what you can use", urn)
	}
	return e, err
}

// AcceptTerms records that the tenant accepted a plan's terms.
func (d *DB) AcceptTerms(ctx context.Context, tenantID, publisher, offer, plan string) error {
	_, err := d.exec(ctx, d.db, `INSERT INTO terms_acceptances (tenant_id, publisher, offer, plan, accepted_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		tenantID, strings.ToLower(publisher), strings.ToLower(offer), plan, now())
	return err
}

// TermsAccepted returns when the tenant accepted a plan's terms, or 0.
func (d *DB) TermsAccepted(ctx context.Context, tenantID, publisher, offer, plan string) (int64, error) {
	var at int64
	err := d.queryRow(ctx, d.db, `SELECT accepted_at FROM terms_acceptances WHERE tenant_id = ? AND publisher = ? AND offer = ? AND plan = ?`,
		tenantID, strings.ToLower(publisher), strings.ToLower(offer), plan).Scan(&at)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return at, err
}

// AcceptedTerms returns every plan whose terms the tenant accepted, keyed by
// TermsKey, with the time of acceptance (Unix microseconds).
func (d *DB) AcceptedTerms(ctx context.Context, tenantID string) (map[string]int64, error) {
	rows, err := d.query(ctx, d.db, `SELECT publisher, offer, plan, accepted_at FROM terms_acceptances WHERE tenant_id = ?`, tenantID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var p, o, plan string
		var at int64
		if err := rows.Scan(&p, &o, &plan, &at); err != nil {
			return nil, err
		}
		out[TermsKey(p, o, plan)] = at
	}
	return out, rows.Err()
}

// TermsKey names a plan's terms: publisher and offer match case-insensitively.
func TermsKey(publisher, offer, plan string) string {
	return strings.ToLower(publisher) + ":" + strings.ToLower(offer) + ":" + plan
}
