package store

import (
	"context"
	"database/sql"
	"errors"

	"github.com/hangarvm/hangar/internal/hangar"
)

// Image is an image definition as stored: the domain view plus its owner's ID.
type Image struct {
	hangar.Image
	TenantID string
}

const imageCols = `i.id, i.tenant_id, t.name, i.name, i.image_type, i.os_type, i.os_state, i.hyperv_generation, i.architecture, i.provisioning_agent, i.description, i.eula, i.created_at, i.revision, i.tags, i.requirements`
const imageFrom = ` FROM images i JOIN tenants t ON t.id = i.tenant_id `

func scanImage(row interface{ Scan(...any) error }) (Image, error) {
	var (
		im         Image
		micro, rev int64
		tags, reqs string
	)
	err := row.Scan(&im.ID, &im.TenantID, &im.Owner, &im.Name, &im.Type, &im.OSType, &im.OSState,
		&im.HyperVGeneration, &im.Architecture, &im.ProvisioningAgent, &im.Description, &im.EULA, &micro, &rev, &tags, &reqs)
	im.CreatedAt, im.Tags, im.ImageRequirements = fromMicros(micro), parseTags(tags), parseRequirements(reqs)
	im.ETag = hangar.ETag(im.ID, rev)
	return im, err
}

func imageNotFound(ref string) error {
	return hangar.Errorf(hangar.CodeImageNotFound, "image %q not found; `hangar image list --all` shows every image you can use", ref)
}

func (d *DB) image(ctx context.Context, q querier, notFoundRef, where string, args ...any) (Image, error) {
	im, err := scanImage(d.queryRow(ctx, q, `SELECT `+imageCols+imageFrom+where, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return im, imageNotFound(notFoundRef)
	}
	return im, err
}

// ImageByName returns the tenant's own image.
func (d *DB) ImageByName(ctx context.Context, tenantID, name string) (Image, error) {
	return d.image(ctx, d.db, name, `WHERE i.tenant_id = ? AND i.name = ?`, tenantID, name)
}

// SharedImage returns the image NAME of tenant OWNER if it is shared with viewerID.
func (d *DB) SharedImage(ctx context.Context, owner, name, viewerID string) (Image, error) {
	return d.image(ctx, d.db, "shared/"+owner+"/"+name,
		`JOIN image_shares s ON s.image_id = i.id WHERE t.name = ? AND i.name = ? AND s.tenant_id = ?`, owner, name, viewerID)
}

// CommunityImage returns the image published as community/PUBLICNAME/NAME.
func (d *DB) CommunityImage(ctx context.Context, publicName, name string) (Image, error) {
	return d.image(ctx, d.db, "community/"+publicName+"/"+name,
		`JOIN community_images c ON c.image_id = i.id WHERE c.public_name = ? AND c.image_name = ?`, publicName, name)
}

// ImageByID returns an image by ID, for callers that already checked access.
func (d *DB) ImageByID(ctx context.Context, id string) (Image, error) {
	return d.image(ctx, d.db, id, `WHERE i.id = ?`, id)
}

// CreateImageVersion creates the image if it does not exist (or checks that the
// existing definition matches, and moves it to its next revision) and adds the
// requested version with its disks, in one transaction. req must be normalized.
func (d *DB) CreateImageVersion(ctx context.Context, tenantID string, req *hangar.ImageCreate) (Image, error) {
	var im Image
	err := d.tx(ctx, func(tx *sql.Tx) error {
		osDisk, err := d.diskByName(ctx, tx, tenantID, req.OSDisk)
		if err != nil {
			return err
		}
		data := make([]hangar.Disk, len(req.DataDisks))
		for i, dd := range req.DataDisks {
			if data[i], err = d.diskByName(ctx, tx, tenantID, dd.Disk); err != nil {
				return err
			}
		}
		im, err = d.image(ctx, tx, req.Name, `WHERE i.tenant_id = ? AND i.name = ?`, tenantID, req.Name)
		switch {
		case hangar.ErrorCode(err) == hangar.CodeImageNotFound:
			if err = d.checkQuota(ctx, tx, tenantID, hangar.Resources{Images: 1}); err == nil {
				im, err = d.insertImage(ctx, tx, tenantID, req)
			}
			if err == nil {
				err = d.recordGroup(ctx, tx, tenantID, ARMStandsForImage, req.Name, req.ResourceGroup)
			}
		case err == nil:
			if err = sameDefinition(&im, req); err == nil {
				err = d.sameGroup(ctx, tx, tenantID, ARMStandsForImage, req.Name, req.ResourceGroup)
			}
			if err == nil {
				var rev int64
				rev, err = d.bump(ctx, tx, imageTarget(&im), hangar.Precondition{}, "")
				im.ETag = hangar.ETag(im.ID, rev)
			}
		}
		if err != nil {
			return err
		}
		v, _ := hangar.ParseVersion(req.Version)
		versionID := NewID()
		_, err = d.exec(ctx, tx, `INSERT INTO image_versions (id, image_id, major, minor, patch, exclude_from_latest, end_of_life, created_at, properties) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			versionID, im.ID, v.Major, v.Minor, v.Patch, req.ExcludeFromLatest, req.EndOfLife, now(), tagsJSON(hangar.Tags(req.Properties)))
		if isUniqueViolation(err) {
			return hangar.Errorf(hangar.CodeConflict, "image %q already has version %s; versions are immutable, choose a higher version", req.Name, v)
		}
		if err != nil {
			return err
		}
		if _, err := d.exec(ctx, tx, `INSERT INTO image_version_disks (version_id, lun, disk_id) VALUES (?, -1, ?)`, versionID, osDisk.ID); err != nil {
			return err
		}
		for i, dd := range req.DataDisks {
			if _, err := d.exec(ctx, tx, `INSERT INTO image_version_disks (version_id, lun, disk_id) VALUES (?, ?, ?)`, versionID, dd.LUN, data[i].ID); err != nil {
				return err
			}
		}
		d.event(tx, tenantID, hangar.EventImageVersionCreated, versionSubject(req.Name, v.String()),
			hangar.EventImageVersion{Image: req.Name, Version: v.String(), EndOfLife: req.EndOfLife})
		return nil
	})
	return im, err
}

// versionSubject names an image version in events.
func versionSubject(image, version string) string { return "images/" + image + "/versions/" + version }

func (d *DB) insertImage(ctx context.Context, tx *sql.Tx, tenantID string, req *hangar.ImageCreate) (Image, error) {
	id := NewID()
	_, err := d.exec(ctx, tx, `INSERT INTO images (id, tenant_id, name, image_type, os_type, os_state, hyperv_generation, architecture, provisioning_agent, description, eula, created_at, requirements) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		id, tenantID, req.Name, req.Type, req.OSType, req.OSState, req.HyperVGeneration, req.Architecture, req.ProvisioningAgent, req.Description, req.EULA, now(), requirementsJSON(req.ImageRequirements))
	if err != nil {
		return Image{}, err
	}
	return d.image(ctx, tx, req.Name, `WHERE i.id = ?`, id)
}

func sameDefinition(im *Image, req *hangar.ImageCreate) error {
	type field struct{ name, have, want string }
	for _, f := range []field{
		{"type", string(im.Type), string(req.Type)},
		{"OS type", string(im.OSType), string(req.OSType)},
		{"OS state", string(im.OSState), string(req.OSState)},
		{"Hyper-V generation", im.HyperVGeneration, req.HyperVGeneration},
		{"architecture", im.Architecture, req.Architecture},
		{"provisioning agent", string(im.ProvisioningAgent), string(req.ProvisioningAgent)},
	} {
		if f.have != f.want {
			return hangar.Errorf(hangar.CodeConflict, "image %q exists with %s %s; a new version must have the same %s (asked for %s), or use another image name", im.Name, f.name, f.have, f.name, f.want)
		}
	}
	if !im.ImageRequirements.Same(req.ImageRequirements) {
		return hangar.Errorf(hangar.CodeConflict, "image %q exists with recommended, features and disallowed %s; a new version must have the same (asked for %s) or leave them out, or use another image name",
			im.Name, requirementsJSON(im.ImageRequirements), requirementsJSON(req.ImageRequirements))
	}
	return nil
}

const versionCols = `v.id, v.major, v.minor, v.patch, v.exclude_from_latest, v.end_of_life, v.created_at, v.tags, v.properties`

type versionRow struct {
	id string
	hangar.ImageVersion
}

func scanVersion(row interface{ Scan(...any) error }) (versionRow, error) {
	var (
		v     versionRow
		micro int64
	)
	var tags, props string
	err := row.Scan(&v.id, &v.Version.Major, &v.Version.Minor, &v.Version.Patch, &v.ExcludeFromLatest, &v.EndOfLife, &micro, &tags, &props)
	v.CreatedAt, v.Tags, v.Properties = fromMicros(micro), parseTags(tags), hangar.Properties(parseTags(props))
	return v, err
}

// Versions returns all versions of an image, oldest first, with their disks.
func (d *DB) Versions(ctx context.Context, imageID string) ([]hangar.ImageVersion, error) {
	rows, err := d.query(ctx, d.db, `SELECT `+versionCols+` FROM image_versions v WHERE v.image_id = ? ORDER BY v.major, v.minor, v.patch`, imageID)
	if err != nil {
		return nil, err
	}
	var vs []versionRow
	for rows.Next() {
		v, err := scanVersion(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		vs = append(vs, v)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	disks, err := d.versionDisks(ctx, `vd.version_id IN (SELECT id FROM image_versions WHERE image_id = ?)`, imageID)
	if err != nil {
		return nil, err
	}
	out := make([]hangar.ImageVersion, len(vs))
	for i, v := range vs {
		v.attach(disks[v.id])
		out[i] = v.ImageVersion
	}
	return out, nil
}

func (v *versionRow) attach(disks []hangar.ImageDisk) {
	for _, dk := range disks {
		if dk.LUN < 0 {
			v.OSDisk = dk
		} else {
			v.DataDisks = append(v.DataDisks, dk)
		}
	}
}

func (d *DB) versionDisks(ctx context.Context, where string, args ...any) (map[string][]hangar.ImageDisk, error) {
	rows, err := d.query(ctx, d.db, `SELECT vd.version_id, vd.lun, k.id, k.name, k.virtual_size FROM image_version_disks vd
		JOIN disks k ON k.id = vd.disk_id WHERE `+where+` ORDER BY vd.version_id, vd.lun`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string][]hangar.ImageDisk{}
	for rows.Next() {
		var vid string
		var dk hangar.ImageDisk
		if err := rows.Scan(&vid, &dk.LUN, &dk.DiskID, &dk.Disk, &dk.VirtualSize); err != nil {
			return nil, err
		}
		out[vid] = append(out[vid], dk)
	}
	return out, rows.Err()
}

// Version returns one version of an image; nil v means latest: the highest version
// not excluded from latest.
func (d *DB) Version(ctx context.Context, im *Image, v *hangar.Version) (hangar.ImageVersion, error) {
	var row *sql.Row
	if v == nil {
		row = d.queryRow(ctx, d.db, `SELECT `+versionCols+` FROM image_versions v WHERE v.image_id = ? AND v.exclude_from_latest = ?
			ORDER BY v.major DESC, v.minor DESC, v.patch DESC LIMIT 1`, im.ID, false)
	} else {
		row = d.queryRow(ctx, d.db, `SELECT `+versionCols+` FROM image_versions v WHERE v.image_id = ? AND v.major = ? AND v.minor = ? AND v.patch = ?`,
			im.ID, v.Major, v.Minor, v.Patch)
	}
	vr, err := scanVersion(row)
	if errors.Is(err, sql.ErrNoRows) {
		if v == nil {
			return vr.ImageVersion, hangar.Errorf(hangar.CodeImageNotFound, "image %q has no version to use as latest (every version is excluded from latest); name a version explicitly", im.Name)
		}
		return vr.ImageVersion, hangar.Errorf(hangar.CodeImageNotFound, "image %q has no version %s", im.Name, v)
	}
	if err != nil {
		return vr.ImageVersion, err
	}
	disks, err := d.versionDisks(ctx, `vd.version_id = ?`, vr.id)
	vr.attach(disks[vr.id])
	return vr.ImageVersion, err
}

// UpdateVersion changes a version's exclude-from-latest flag and end-of-life date.
func (d *DB) UpdateVersion(ctx context.Context, im *Image, v hangar.Version, u hangar.ImageVersionUpdate, pre hangar.Precondition) error {
	return d.changeImage(ctx, im, pre, func(tx *sql.Tx) error {
		var exclude bool
		var eol string
		err := d.queryRow(ctx, tx, `SELECT exclude_from_latest, end_of_life FROM image_versions WHERE image_id = ? AND major = ? AND minor = ? AND patch = ?`,
			im.ID, v.Major, v.Minor, v.Patch).Scan(&exclude, &eol)
		if errors.Is(err, sql.ErrNoRows) {
			return hangar.Errorf(hangar.CodeImageNotFound, "image %q has no version %s", im.Name, v)
		}
		if err != nil {
			return err
		}
		newExclude, newEOL := exclude, eol
		if u.ExcludeFromLatest != nil {
			newExclude = *u.ExcludeFromLatest
		}
		if u.EndOfLife != nil {
			newEOL = *u.EndOfLife
		}
		if newExclude == exclude && newEOL == eol {
			return errUnchanged
		}
		_, err = d.exec(ctx, tx, `UPDATE image_versions SET exclude_from_latest = ?, end_of_life = ? WHERE image_id = ? AND major = ? AND minor = ? AND patch = ?`,
			newExclude, newEOL, im.ID, v.Major, v.Minor, v.Patch)
		if newEOL != eol {
			d.event(tx, im.TenantID, hangar.EventImageVersionEndOfLife, versionSubject(im.Name, v.String()),
				hangar.EventImageVersion{Image: im.Name, Version: v.String(), EndOfLife: newEOL})
		}
		return err
	})
}

// DeleteImage deletes an image with its versions, shares and community publication.
// An image with a version in the marketplace cannot be deleted.
func (d *DB) DeleteImage(ctx context.Context, im *Image, pre hangar.Precondition) error {
	return d.changeImage(ctx, im, pre, func(tx *sql.Tx) error {
		var urn struct{ p, o, s string }
		err := d.queryRow(ctx, tx, `SELECT m.publisher, m.offer, m.sku FROM marketplace_entries m JOIN image_versions v ON v.id = m.version_id WHERE v.image_id = ? LIMIT 1`, im.ID).
			Scan(&urn.p, &urn.o, &urn.s)
		if err == nil {
			return hangar.Errorf(hangar.CodeInUse, "image %q is published in the marketplace as %s:%s:%s; withdraw it first (hangar marketplace withdraw)", im.Name, urn.p, urn.o, urn.s)
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		rows, err := d.query(ctx, tx, `SELECT major, minor, patch FROM image_versions WHERE image_id = ? ORDER BY major, minor, patch`, im.ID)
		if err != nil {
			return err
		}
		var versions []hangar.Version
		for rows.Next() {
			var v hangar.Version
			if err := rows.Scan(&v.Major, &v.Minor, &v.Patch); err != nil {
				rows.Close()
				return err
			}
			versions = append(versions, v)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, v := range versions {
			d.event(tx, im.TenantID, hangar.EventImageVersionDeleted, versionSubject(im.Name, v.String()), hangar.EventImageVersion{Image: im.Name, Version: v.String()})
		}
		_, err = d.exec(ctx, tx, `DELETE FROM images WHERE id = ?`, im.ID)
		return err
	})
}

// Share lets tenantID use the image.
func (d *DB) Share(ctx context.Context, im *Image, tenantID string, pre hangar.Precondition) error {
	return d.changeImage(ctx, im, pre, func(tx *sql.Tx) error {
		return unchangedIfNone(d.exec(ctx, tx, `INSERT INTO image_shares (image_id, tenant_id) VALUES (?, ?) ON CONFLICT DO NOTHING`, im.ID, tenantID))
	})
}

// Unshare withdraws a share.
func (d *DB) Unshare(ctx context.Context, im *Image, tenantID string, pre hangar.Precondition) error {
	return d.changeImage(ctx, im, pre, func(tx *sql.Tx) error {
		return unchangedIfNone(d.exec(ctx, tx, `DELETE FROM image_shares WHERE image_id = ? AND tenant_id = ?`, im.ID, tenantID))
	})
}

// Shares names the tenants an image is shared with.
func (d *DB) Shares(ctx context.Context, imageID string) ([]string, error) {
	return d.strings(ctx, `SELECT t.name FROM image_shares s JOIN tenants t ON t.id = s.tenant_id WHERE s.image_id = ? ORDER BY t.name`, imageID)
}

func (d *DB) strings(ctx context.Context, query string, args ...any) ([]string, error) {
	rows, err := d.query(ctx, d.db, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// ImageSummary is an image with its version count and latest version.
type ImageSummary struct {
	Image
	Versions int
	Latest   string
	// Community is set for community listings.
	Community *hangar.Community
}

// ListImages lists images matching a scope: the tenant's own ("own"), those shared
// with it ("shared") or the community repository ("community").
func (d *DB) ListImages(ctx context.Context, scope, tenantID string) ([]ImageSummary, error) {
	var where string
	var args []any
	switch scope {
	case "own":
		where, args = `WHERE i.tenant_id = ?`, []any{tenantID}
	case "shared":
		where, args = `JOIN image_shares s ON s.image_id = i.id WHERE s.tenant_id = ?`, []any{tenantID}
	case "community":
		where = `JOIN community_images c ON c.image_id = i.id WHERE 1 = 1`
	}
	// The latest version (as Version finds it) comes with each image in the same
	// query: a query per image made a list of 1,000 images take 100 ms.
	rows, err := d.query(ctx, d.db, `SELECT `+imageCols+`, (SELECT COUNT(*) FROM image_versions v WHERE v.image_id = i.id), lv.major, lv.minor, lv.patch`+imageFrom+
		`LEFT JOIN image_versions lv ON lv.id = (SELECT v.id FROM image_versions v WHERE v.image_id = i.id AND v.exclude_from_latest = ?
			ORDER BY v.major DESC, v.minor DESC, v.patch DESC LIMIT 1) `+where+` ORDER BY t.name, i.name`, append([]any{false}, args...)...)
	if err != nil {
		return nil, err
	}
	var out []ImageSummary
	for rows.Next() {
		var s ImageSummary
		var micro, rev int64
		var tags, reqs string
		var major, minor, patch sql.NullInt64
		err := rows.Scan(&s.ID, &s.TenantID, &s.Owner, &s.Name, &s.Type, &s.OSType, &s.OSState,
			&s.HyperVGeneration, &s.Architecture, &s.ProvisioningAgent, &s.Description, &s.EULA, &micro, &rev, &tags, &reqs, &s.Versions, &major, &minor, &patch)
		if err != nil {
			rows.Close()
			return nil, err
		}
		s.CreatedAt, s.Tags, s.ImageRequirements = fromMicros(micro), parseTags(tags), parseRequirements(reqs)
		s.ETag = hangar.ETag(s.ID, rev)
		if major.Valid {
			s.Latest = hangar.Version{Major: uint32(major.Int64), Minor: uint32(minor.Int64), Patch: uint32(patch.Int64)}.String()
		}
		out = append(out, s)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i := range out {
		if scope == "community" {
			if out[i].Community, err = d.Community(ctx, out[i].ID); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}
